/**
 * The quorum round: the least time one round of commands can take from the main thread back to
 * it on this machine, when peers are built as raftwork's are (each its own worker thread and its
 * own durable LMDB environment on the one disk). The main thread sends a batch to the leader; the
 * leader sends it on to every follower and writes it; each follower writes it and acks; the
 * leader answers at the majority-th durable write. No Raft logic (bench/quorum-round-worker.ts).
 *
 * Why it is a limit: with N clients, each one put at a time, no more than N puts are in flight,
 * and none is answered before its round is durable on a majority; by Little's law the store
 * answers at most N / (mean round) puts per second, whatever else it does well.
 */
import { Worker, MessageChannel, type MessagePort } from 'node:worker_threads';
import { Bench } from 'tinybench';
import { summarize } from '../src/profile/stats.js';
import type { QuorumPeerData } from './quorum-round-worker.js';
import type { QuorumRound } from './types.js';

/**
 * Rounds of `entries` commands of `entryBytes` each (packed in one buffer, as the log packs a
 * write), one round at a time, for `timeMs`, on `peers` skeleton peers with their environments
 * under `dir`.
 */
export async function measureQuorumRound(dir: (name: string) => string, peers: number, entries: number, entryBytes: number, timeMs: number): Promise<QuorumRound> {
  const url = new URL('./quorum-round-worker.js', import.meta.url);
  const quorum = Math.floor(peers / 2) + 1;
  const toMain = new MessageChannel();
  const links = Array.from({ length: peers - 1 }, () => new MessageChannel());
  const workers: Worker[] = [];
  const exited = new Set<Worker>();
  const errors: Error[] = [];
  // A peer that fails mid-run would leave the round in flight unanswered: fail it instead.
  let failRound: ((e: Error) => void) | null = null;
  let closing = false;
  const start = (data: QuorumPeerData, transfer: MessagePort[]): Worker => {
    const w = new Worker(url, { workerData: data, transferList: transfer });
    w.on('error', (e) => {
      errors.push(e);
      failRound?.(e);
    });
    w.on('exit', (code) => {
      exited.add(w);
      if (!closing) failRound?.(new Error(`a quorum-round peer exited (${code}) during the run`));
    });
    workers.push(w);
    return w;
  };
  const leaderPorts = links.map((l) => l.port1);
  start({ role: 'leader', path: dir(`quorum-${peers}-0`), peers: leaderPorts, main: toMain.port2, quorum }, [...leaderPorts, toMain.port2]);
  links.forEach((l, i) => start({ role: 'follower', path: dir(`quorum-${peers}-${i + 1}`), peers: [l.port2], main: null, quorum }, [l.port2]));
  const main = toMain.port1;
  try {
    await Promise.all(workers.map((w) => once(w, 'ready', errors))).catch((err: Error) => {
      throw new Error(`the quorum-round limit (${peers} peers) could not start its peers: ${err.message}`);
    });
    let round = 0;
    let answered: (() => void) | null = null;
    main.on('message', (a: Uint8Array) => {
      if (new DataView(a.buffer, a.byteOffset, 4).getUint32(0, true) === round) answered?.();
    });
    const size = 4 + entries * entryBytes;
    const bench = new Bench({ time: timeMs, iterations: 20, warmupTime: 100, retainSamples: true, throws: true });
    bench.add(
      'round',
      () =>
        new Promise<void>((resolve, reject) => {
          if (errors.length > 0) return reject(errors[0]);
          answered = resolve;
          failRound = reject;
          const batch = new Uint8Array(size).fill(7);
          new DataView(batch.buffer).setUint32(0, ++round, true);
          main.postMessage(batch, [batch.buffer]);
        }),
      { async: true },
    );
    await bench.run();
    const r = bench.tasks[0]!.result;
    if (r.state !== 'completed') throw new Error(`quorum round, ${peers} peers: ${r.state === 'errored' ? r.error.message : r.state}`);
    return { peers, entries, entryBytes, dist: summarize(Array.from(r.latency.samples ?? [])) };
  } finally {
    closing = true;
    main.close();
    await Promise.all(
      workers.map(async (w) => {
        if (!exited.has(w)) {
          w.postMessage('close');
          let timer: ReturnType<typeof setTimeout> | undefined;
          await Promise.race([once(w, 'closed', []), new Promise((r) => (timer = setTimeout(r, 2000)))]).catch(() => undefined);
          clearTimeout(timer);
        }
        await w.terminate();
      }),
    );
  }
}

function once(w: Worker, what: string, errors: Error[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (errors.length > 0) return reject(errors[0]);
    const onMsg = (m: unknown): void => {
      if (m === what) {
        w.off('message', onMsg);
        resolve();
      }
    };
    w.on('message', onMsg);
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`a quorum-round peer exited (${code}) before '${what}'`)));
  });
}
