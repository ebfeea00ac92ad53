/**
 * The machine's own limits, measured in the same run as the Raft figures so that every ratio
 * compares numbers taken under the same conditions.
 */
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { MessageChannel, Worker } from 'node:worker_threads';
import { open as openLmdb } from 'lmdb';
import { Bench } from 'tinybench';
import { summarize } from '../src/profile/stats.js';
import type { LimitsWorkerData, LimitsWorkerResult } from './limits-worker.js';
import type { WriterData, WriterResult } from './lmdb-writer.js';
import { measureQuorumRound } from './quorum-round.js';
import type { Limits, QuorumRound } from './types.js';

export const LMDB_BATCH = 1024;

/** The rounds of the quorum-round limit: commands per round and their bytes. */
export interface RoundShape {
  readonly entries: number;
  readonly entryBytes: number;
}

/**
 * `writers`: the cluster sizes to measure concurrent LMDB writers and the quorum round for (one
 * environment per peer); `round`: the quorum round's batch.
 */
export async function measureLimits(dir: (name: string) => string, timeMs: number, sizes: readonly number[], writers: readonly number[], round: RoundShape): Promise<Limits> {
  const ports = await portLimits(timeMs, sizes);
  const disk = await diskLimits(dir, timeMs, sizes);
  const lmdbConcurrent: Record<number, Record<number, number>> = {};
  const lmdbConcurrentTxn: Record<number, number> = {};
  const quorumRound: Record<number, QuorumRound> = {};
  // Concurrent writers vary more from run to run: a full run gives them a second each.
  const writersMs = timeMs >= 500 ? 1000 : timeMs;
  for (const n of writers) {
    lmdbConcurrent[n] = {};
    for (const s of sizes) lmdbConcurrent[n][s] = (LMDB_BATCH * 1000) / (await concurrentWriters(dir, n, s, LMDB_BATCH, writersMs));
    lmdbConcurrentTxn[n] = await concurrentWriters(dir, n, 64, 1, writersMs);
    quorumRound[n] = await measureQuorumRound(dir, n, round.entries, round.entryBytes, writersMs);
  }
  return { portRtt: summarize(ports.rtt), portPacked: ports.packed, ...disk, lmdbConcurrent, lmdbConcurrentTxn, quorumRound };
}

let writerRuns = 0;

/**
 * `n` worker threads, each committing durable LMDB transactions of `batch` puts of `size` bytes
 * to its own environment, all at once: the mean transaction time (ms, mean over writers). This
 * is what n peers on this machine's one disk see, each, at that batch size.
 */
async function concurrentWriters(dir: (name: string) => string, n: number, size: number, batch: number, timeMs: number): Promise<number> {
  const url = new URL('./lmdb-writer.js', import.meta.url);
  const run = ++writerRuns;
  const workers = Array.from({ length: n }, (_, i) => new Worker(url, { workerData: { path: dir(`writers-${run}-${i}`), size, batch, timeMs } satisfies WriterData }));
  try {
    const ready = workers.map((w) => new Promise<void>((resolve, reject) => {
      w.once('message', () => resolve());
      w.once('error', reject);
    }));
    await Promise.all(ready);
    const results = workers.map((w) => new Promise<WriterResult>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
      w.once('exit', (code) => reject(new Error(`an LMDB writer exited (${code}) before reporting`)));
    }));
    for (const w of workers) w.postMessage('go');
    const rs = await Promise.all(results);
    return rs.reduce((a, r) => a + r.meanMs, 0) / n;
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

function portLimits(timeMs: number, sizes: readonly number[]): Promise<LimitsWorkerResult> {
  const ch = new MessageChannel();
  const url = new URL('./limits-worker.js', import.meta.url);
  const b = new Worker(url, { workerData: { role: 'b', port: ch.port2, timeMs, sizes } satisfies LimitsWorkerData, transferList: [ch.port2] });
  const a = new Worker(url, { workerData: { role: 'a', port: ch.port1, timeMs, sizes } satisfies LimitsWorkerData, transferList: [ch.port1] });
  return new Promise<LimitsWorkerResult>((resolve, reject) => {
    a.once('message', resolve);
    a.once('error', reject);
    b.once('error', reject);
    a.once('exit', (code) => reject(new Error(`the port-limits worker exited (${code}) before reporting`)));
  }).finally(() => {
    void a.terminate();
    void b.terminate();
  });
}

async function diskLimits(dir: (name: string) => string, timeMs: number, sizes: readonly number[]): Promise<Omit<Limits, 'portRtt' | 'portPacked' | 'lmdbConcurrent' | 'lmdbConcurrentTxn' | 'quorumRound'>> {
  const fd = openSync(dir('fsync.bin'), 'w+');
  const small = Buffer.alloc(64, 7);
  writeSync(fd, small, 0, 64, 0);
  fdatasyncSync(fd);
  const db = openLmdb<Buffer, number>({ path: dir('lmdb-limits'), overlappingSync: false, noSync: false, encoding: 'binary' });
  const values = new Map<number, Buffer>(sizes.map((s) => [s, Buffer.alloc(s, 3)]));
  let key = 1;
  try {
    const bench = new Bench({ time: timeMs, iterations: 20, warmupTime: 100, retainSamples: true, throws: true });
    bench.add('fsync', () => {
      writeSync(fd, small, 0, 64, 0);
      fdatasyncSync(fd);
    });
    bench.add('lmdb-txn', async () => void (await db.put(key++, small)), { async: true });
    for (const s of sizes) {
      const v = values.get(s)!;
      bench.add(
        `lmdb-batch-${s}`,
        async () => {
          let p: Promise<boolean> | undefined;
          for (let k = 0; k < LMDB_BATCH; k++) p = db.put(key++, v);
          await p;
        },
        { async: true },
      );
    }
    await bench.run();
    const byName = new Map(bench.tasks.map((t) => [t.name, t.result]));
    const samples = (name: string): number[] => {
      const r = byName.get(name);
      if (!r || r.state !== 'completed') throw new Error(`limits task ${name}: ${r?.state === 'errored' ? r.error.message : r?.state}`);
      return Array.from(r.latency.samples ?? []);
    };
    const lmdbBatch: Record<number, number> = {};
    for (const s of sizes) {
      const l = summarize(samples(`lmdb-batch-${s}`));
      lmdbBatch[s] = (LMDB_BATCH * 1000) / l.mean;
    }
    return { fsync: summarize(samples('fsync')), lmdbTxn: summarize(samples('lmdb-txn')), lmdbBatch };
  } finally {
    closeSync(fd);
    await db.close();
  }
}
