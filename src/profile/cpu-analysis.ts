/**
 * Reading a .cpuprofile (the V8 CPU profiler's format): self time per function.
 */
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number; readonly columnNumber: number };
  }[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface SelfTimeRow {
  readonly name: string;
  /** file:line, relative to the working directory for project files. */
  readonly where: string;
  readonly selfMs: number;
  /** Share of the profile's busy time (all samples but "(idle)"). */
  readonly busyPct: number;
}

export interface SelfTimes {
  /** Wall time covered by the profile. */
  readonly totalMs: number;
  /** Samples in "(idle)": the thread was waiting in its event loop. */
  readonly idleMs: number;
  /** Samples in "(garbage collector)". */
  readonly gcMs: number;
  /** Samples in "(program)": native code outside JavaScript (libuv, the inspector, LMDB's bindings). */
  readonly programMs: number;
  readonly busyMs: number;
  readonly rows: readonly SelfTimeRow[];
}

/** Self time per function (summed over every node of the call tree with the same function). */
export function selfTimes(profile: CpuProfile, cwd = process.cwd()): SelfTimes {
  const byNode = new Map<number, number>();
  const { samples, timeDeltas } = profile;
  // Sample k stands for the time until the next sample (the last one for the mean interval).
  const mean = samples.length > 1 ? (profile.endTime - profile.startTime) / samples.length : 0;
  for (let k = 0; k < samples.length; k++) {
    const us = k + 1 < timeDeltas.length ? timeDeltas[k + 1]! : mean;
    byNode.set(samples[k]!, (byNode.get(samples[k]!) ?? 0) + Math.max(0, us));
  }
  const byFn = new Map<string, { name: string; where: string; us: number }>();
  let idle = 0;
  let gc = 0;
  let program = 0;
  let total = 0;
  for (const node of profile.nodes) {
    const us = byNode.get(node.id) ?? 0;
    total += us;
    if (us === 0) continue;
    const f = node.callFrame;
    if (f.functionName === '(idle)') {
      idle += us;
      continue;
    }
    if (f.functionName === '(garbage collector)') gc += us;
    if (f.functionName === '(program)') program += us;
    const where = f.url ? `${shortUrl(f.url, cwd)}:${f.lineNumber + 1}` : '';
    const name = f.functionName || '(anonymous)';
    const key = `${name}\u0000${where}`;
    const row = byFn.get(key);
    if (row) row.us += us;
    else byFn.set(key, { name, where, us });
  }
  const busy = total - idle;
  const rows = [...byFn.values()]
    .sort((a, b) => b.us - a.us)
    .map((r) => ({ name: r.name, where: r.where, selfMs: r.us / 1000, busyPct: busy > 0 ? (100 * r.us) / busy : 0 }));
  return { totalMs: total / 1000, idleMs: idle / 1000, gcMs: gc / 1000, programMs: program / 1000, busyMs: busy / 1000, rows };
}

function shortUrl(url: string, cwd: string): string {
  if (url.startsWith('file://')) {
    try {
      const rel = relative(cwd, fileURLToPath(url));
      const nm = rel.lastIndexOf('node_modules/');
      return nm >= 0 ? rel.slice(nm + 'node_modules/'.length) : rel;
    } catch {
      return url;
    }
  }
  return url;
}
