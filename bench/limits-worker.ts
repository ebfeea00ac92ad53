/**
 * The MessagePort limits, measured between two worker threads as peers talk: worker 'a' runs the
 * tinybench tasks, worker 'b' answers. Started by bench/limits.ts.
 *
 *   port round trip: 8 bytes (transferred) from a to b and back, one at a time.
 *   packed batches:  16 messages of 1024 entries of S bytes (plus a 21-byte entry header, as the
 *                    codec has), each one freshly allocated and filled, transferred a -> b; b
 *                    acknowledges the 16th. entries/s = 16 * 1024 / time.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { Bench } from 'tinybench';

export interface LimitsWorkerData {
  readonly role: 'a' | 'b';
  readonly port: MessagePort;
  readonly timeMs: number;
  readonly sizes: readonly number[];
}

export interface LimitsWorkerResult {
  /** Round-trip samples, ms. */
  readonly rtt: number[];
  /** Entries per second by entry size. */
  readonly packed: Record<number, number>;
}

const ENTRY_HEADER = 21;
const ENTRIES = 1024;
const MESSAGES = 16;

const data = workerData as LimitsWorkerData;
const port = data.port;

if (data.role === 'b') {
  port.on('message', (m: Uint8Array<ArrayBuffer>) => {
    if (m.length <= 8) port.postMessage(m, [m.buffer]);
    else if (m[0] === 1) {
      const ack = new Uint8Array(1);
      port.postMessage(ack, [ack.buffer]);
    }
  });
} else {
  let pending: (() => void) | null = null;
  port.on('message', () => {
    const p = pending;
    pending = null;
    p?.();
  });
  const reply = (): Promise<void> => new Promise((resolve) => (pending = resolve));
  const bench = new Bench({ time: data.timeMs, iterations: 50, warmupTime: 100, retainSamples: true, throws: true });
  bench.add(
    'rtt',
    async () => {
      const m = new Uint8Array(8);
      const r = reply();
      port.postMessage(m, [m.buffer]);
      await r;
    },
    { async: true },
  );
  for (const size of data.sizes) {
    const template = new Uint8Array(ENTRIES * (size + ENTRY_HEADER));
    for (let i = 0; i < template.length; i++) template[i] = i & 0xff;
    bench.add(
      `packed-${size}`,
      async () => {
        const r = reply();
        for (let k = 0; k < MESSAGES; k++) {
          const m = new Uint8Array(template.length);
          m.set(template);
          m[0] = k === MESSAGES - 1 ? 1 : 0;
          port.postMessage(m, [m.buffer]);
        }
        await r;
      },
      { async: true },
    );
  }
  await bench.run();
  const out: { rtt: number[]; packed: Record<number, number> } = { rtt: [], packed: {} };
  for (const task of bench.tasks) {
    const res = task.result;
    if (res.state !== 'completed') throw new Error(`limits task ${task.name}: ${res.state === 'errored' ? res.error.message : res.state}`);
    if (task.name === 'rtt') out.rtt = Array.from(res.latency.samples ?? []);
    else out.packed[Number(task.name.slice('packed-'.length))] = (MESSAGES * ENTRIES * 1000) / res.latency.mean;
  }
  port.close();
  parentPort!.postMessage(out satisfies LimitsWorkerResult);
}
