import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { parseTaskStat, USER_HZ } from '../../src/profile/thread-stats.js';

export interface ScriptResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a compiled script in a child Node process and collects its output; `onStart` may signal
 * it. A child still running after `timeoutMs` is killed (code null, and stderr says so), so a
 * stuck script never outlives its test and holds the test runner.
 */
export function runScript(
  script: string,
  args: readonly string[],
  onStart?: (kill: (s: NodeJS.Signals) => void) => void,
  timeoutMs = 120_000,
): Promise<ScriptResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      stderr += `\n[runScript: killed after ${timeoutMs / 1000} s]\n${child.pid === undefined ? '' : threadStates(child.pid)}`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    onStart?.((s) => child.kill(s));
  });
}

/**
 * What each thread of a stuck process was doing, from /proc (Linux; empty elsewhere): name,
 * scheduler state, CPU time and the kernel function it waits in. A hung run leaves this much
 * evidence in the failing test's output, where a kill alone would leave none.
 */
export function threadStates(pid: number): string {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return '';
  }
  const rows: string[] = [];
  for (const tid of tids) {
    try {
      const dir = `/proc/${pid}/task/${tid}`;
      const comm = readFileSync(`${dir}/comm`, 'utf8').trim();
      const stat = readFileSync(`${dir}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      const cpuS = parseTaskStat(stat) / USER_HZ;
      let wchan = '';
      try {
        wchan = readFileSync(`${dir}/wchan`, 'utf8').trim();
      } catch {
        /* not readable here */
      }
      rows.push(`  thread ${tid} ${comm}: state ${state}, ${cpuS.toFixed(2)} s CPU, waiting in ${wchan || '?'}`);
    } catch {
      /* the thread ended meanwhile */
    }
  }
  return rows.length === 0 ? '' : `[threads of process ${pid} when it was killed]\n${rows.join('\n')}\n`;
}
