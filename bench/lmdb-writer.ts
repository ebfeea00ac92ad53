/**
 * One of N LMDB writers committing at once (bench/limits.ts): the disk limit a cluster of N
 * peers on one machine shares, each peer writing its own environment from its own thread.
 * Opens its environment, says 'ready', and on 'go' commits durable transactions of `batch` puts
 * of `size` bytes for `timeMs` (tinybench), then reports the mean transaction time.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { open } from 'lmdb';
import { Bench } from 'tinybench';

export interface WriterData {
  readonly path: string;
  readonly size: number;
  readonly batch: number;
  readonly timeMs: number;
}

export interface WriterResult {
  /** Mean time of one transaction, ms. */
  readonly meanMs: number;
  readonly samples: number;
}

const d = workerData as WriterData;
const db = open<Buffer, number>({ path: d.path, overlappingSync: false, noSync: false, encoding: 'binary' });
const value = Buffer.alloc(d.size, 5);
let key = 1;
const port = parentPort!;
port.once('message', () => {
  void (async () => {
    const bench = new Bench({ time: d.timeMs, iterations: 5, warmupTime: 50, warmupIterations: 2, throws: true });
    bench.add(
      'txn',
      async () => {
        let p: Promise<boolean> | undefined;
        for (let k = 0; k < d.batch; k++) p = db.put(key++, value);
        await p;
      },
      { async: true },
    );
    await bench.run();
    const r = bench.tasks[0]!.result;
    if (r.state !== 'completed') throw new Error(`lmdb writer: ${r.state === 'errored' ? r.error.message : r.state}`);
    await db.close();
    port.postMessage({ meanMs: r.latency.mean, samples: r.latency.samplesCount } satisfies WriterResult);
  })();
});
port.postMessage('ready');
