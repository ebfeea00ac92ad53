/**
 * The libuv threadpool and LMDB peers.
 *
 * lmdb-js runs each environment's writer as N-API async work, on the process's libuv threadpool,
 * and holds that pool thread while it writes, syncs and waits for the next batch. Every peer of
 * every cluster in the process is one environment, and all worker threads share one pool (4
 * threads unless UV_THREADPOOL_SIZE says otherwise). With more writing environments than pool
 * threads, writes queue for a thread: a 5-peer durable cluster committed 120 k/s with 4 threads
 * and 150-179 k/s with 8, on the 2-core bench VM.
 *
 * The size is read once, when the pool first runs work, and Node's own ES module loader does
 * that before any module of the program is evaluated: setting process.env here would be too
 * late. So raftwork can only say so: start node with UV_THREADPOOL_SIZE set.
 */

/** libuv's pool size when UV_THREADPOOL_SIZE is unset or unusable. */
export const LIBUV_DEFAULT_POOL = 4;
/** libuv's upper bound on the pool size. */
export const LIBUV_MAX_POOL = 1024;

/** The pool size libuv takes from this value of UV_THREADPOOL_SIZE (libuv's own parsing rules). */
export function poolSizeFrom(env: string | undefined): number {
  if (env === undefined || env.trim() === '') return LIBUV_DEFAULT_POOL;
  const n = Number.parseInt(env, 10);
  if (!Number.isFinite(n)) return LIBUV_DEFAULT_POOL;
  return Math.min(LIBUV_MAX_POOL, Math.max(1, n));
}

/** Pool threads wanted for this many LMDB peers: one each, and one left for everything else (fs, dns). */
export function poolWanted(lmdbPeers: number): number {
  return lmdbPeers + 1;
}

/** The warning for too small a pool, or null when the pool is big enough. */
export function threadpoolAdvice(lmdbPeers: number, poolSize: number): string | null {
  const wanted = poolWanted(lmdbPeers);
  if (poolSize >= wanted) return null;
  return (
    `${lmdbPeers} LMDB peers are open in this process, and lmdb-js holds one libuv threadpool thread per ` +
    `writing environment, but the pool has ${poolSize} threads: their writes will wait for each other. ` +
    `Start node with UV_THREADPOOL_SIZE=${Math.max(wanted, 8)} (or more) in its environment; setting it from JavaScript is too late.`
  );
}

let openLmdbPeers = 0;
let warned = false;

/**
 * Counts `peers` LMDB peers as open in this process and warns once (process.emitWarning, code
 * RAFTWORK_THREADPOOL) if the threadpool is smaller than they want. Returns the release function.
 */
export function holdLmdbPeers(peers: number, env: string | undefined = process.env['UV_THREADPOOL_SIZE']): () => void {
  openLmdbPeers += peers;
  const advice = threadpoolAdvice(openLmdbPeers, poolSizeFrom(env));
  if (advice !== null && !warned) {
    warned = true;
    process.emitWarning(advice, { code: 'RAFTWORK_THREADPOOL' });
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    openLmdbPeers -= peers;
  };
}

/** For tests: forget the peers counted and the warning given. */
export function resetThreadpoolWatch(): void {
  openLmdbPeers = 0;
  warned = false;
}
