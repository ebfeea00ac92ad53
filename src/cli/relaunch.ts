/**
 * The CLIs (bench, profile) run many LMDB peers in one process; lmdb-js holds a libuv
 * threadpool thread per writing environment (src/cluster/threadpool.ts), and the pool's size
 * can only be set in the environment the process starts with. So a CLI whose pool is too small
 * runs itself again, once, in a child with UV_THREADPOOL_SIZE set, passes it the signals it
 * gets (Ctrl-C must still let the child remove its scratch directory) and exits as it does.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { poolSizeFrom, poolWanted } from '../cluster/threadpool.js';

const MARK = 'RAFTWORK_RELAUNCHED';
const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Threads a CLI running `lmdbPeers` peers at once asks for. */
export function cliPoolSize(lmdbPeers: number): number {
  return Math.max(8, poolWanted(lmdbPeers));
}

/**
 * Resolves at once if this process's pool fits `lmdbPeers` peers. Otherwise runs this command
 * again in a child whose pool does, and never resolves: this process exits as the child did.
 */
export async function relaunchForThreadpool(lmdbPeers: number): Promise<void> {
  const want = cliPoolSize(lmdbPeers);
  if (threadpoolSize() >= want || process.env[MARK] === '1') return;
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, UV_THREADPOOL_SIZE: String(want), [MARK]: '1' },
  });
  const forward = (sig: NodeJS.Signals): void => {
    child.kill(sig);
  };
  for (const sig of FORWARDED) process.on(sig, forward);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  for (const sig of FORWARDED) process.off(sig, forward);
  if (signal !== null) process.kill(process.pid, signal);
  process.exit(code ?? 1);
}

/** This process's libuv threadpool size, as its environment set it. */
export function threadpoolSize(): number {
  return poolSizeFrom(process.env['UV_THREADPOOL_SIZE']);
}
