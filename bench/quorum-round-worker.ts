/**
 * One peer of the quorum-round skeleton (bench/quorum-round.ts): what any Raft built as this one
 * is (a worker thread and an LMDB environment per peer) must do to commit a batch, and nothing
 * else. No log, no terms, no codec: a round is a buffer of commands that every peer writes
 * durably, and the leader answers once a majority, itself counted, has.
 *
 *   leader:   batch from main -> a copy to every follower, then its own durable put; answers main
 *             at the quorum-th durable put of the round.
 *   follower: batch from the leader -> durable put -> ack (the round number) to the leader.
 *
 * The round number rides in the batch's first 4 bytes, so a late ack of an earlier round is not
 * counted for the current one.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { join } from 'node:path';
import { open } from 'lmdb';
import { FileReserve } from '../src/storage/file-reserve.js';

export interface QuorumPeerData {
  readonly role: 'leader' | 'follower';
  readonly path: string;
  /** leader: one port per follower; follower: the port to the leader. */
  readonly peers: readonly MessagePort[];
  /** leader only: the port to the main thread. */
  readonly main: MessagePort | null;
  /** Durable puts a round needs, the leader's own counted (a majority of the peers). */
  readonly quorum: number;
}

const d = workerData as QuorumPeerData;
const db = open<Uint8Array, number>({ path: d.path, overlappingSync: false, noSync: false, encoding: 'binary' });
// The store keeps zeroed space ahead of LMDB's pages (src/storage/file-reserve.ts) so durable
// commits do not grow the file; the skeleton does too, or its rounds would be the slower ones.
const reserve = FileReserve.open(db, join(d.path, 'data.mdb'));
let key = 1;
let issued = 0;
const put = (batch: Uint8Array): Promise<boolean> => {
  const p = db.put(key++, batch);
  issued += batch.length;
  reserve?.onWrite(issued);
  return p;
};

const roundOf = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);

if (d.role === 'leader') {
  const main = d.main!;
  let current = 0;
  let durable = 0;
  const oneDurable = (round: number): void => {
    if (round !== current || ++durable !== d.quorum) return;
    const answer = new Uint8Array(4);
    new DataView(answer.buffer).setUint32(0, round, true);
    main.postMessage(answer, [answer.buffer]);
  };
  for (const p of d.peers) p.on('message', (ack: Uint8Array) => oneDurable(roundOf(ack)));
  main.on('message', (batch: Uint8Array<ArrayBuffer>) => {
    current = roundOf(batch);
    durable = 0;
    // As the real leader does: the followers' copies leave first, then its own write starts.
    for (const p of d.peers) {
      const copy = batch.slice();
      p.postMessage(copy, [copy.buffer]);
    }
    const round = current;
    put(batch).then(() => oneDurable(round), fail);
  });
} else {
  const leader = d.peers[0]!;
  leader.on('message', (batch: Uint8Array) => {
    put(batch).then(() => {
      const ack = batch.slice(0, 4);
      leader.postMessage(ack, [ack.buffer]);
    }, fail);
  });
}

function fail(err: unknown): void {
  // An unhandled rejection ends the worker; the driver sees its 'error' event and fails the limit.
  throw err instanceof Error ? err : new Error(String(err));
}

// 'close' from the driver: close the environment, then say so (the driver terminates us after).
parentPort!.once('message', () => {
  const closed = (): void => {
    reserve?.close();
    parentPort!.postMessage('closed');
  };
  void db.close().then(closed, closed);
});
parentPort!.postMessage('ready');
