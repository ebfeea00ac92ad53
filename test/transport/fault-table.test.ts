/**
 * The fault table: its three layers (peers, partitions, one-way links) combine
 * as documented and undo independently; setNetwork merges; a view over the same
 * SharedArrayBuffer sees every write at once; counters added by two worker
 * threads racing on the same slots lose nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { MsgType } from '../../src/core/types.js';
import {
  Counter,
  DEFAULT_LONG_DELAY_MAX_MS,
  DEFAULT_LONG_REORDERING_MS,
  DEFAULT_LONG_REORDERING_RATE,
  FaultTable,
  FaultTableView,
  faultTableBytes,
} from '../../src/transport/fault-table.js';

function upPairs(t: FaultTableView): string {
  const out: string[] = [];
  for (let i = 0; i < t.peers; i++) {
    for (let j = 0; j < t.peers; j++) if (i !== j && t.isLinkUp(i, j)) out.push(`${i}${j}`);
  }
  return out.join(' ');
}

const ALL3 = '01 02 10 12 20 21';

test('a new table is fully connected and reliable', () => {
  const t = new FaultTable(3);
  assert.equal(upPairs(t), ALL3);
  assert.deepEqual(t.network(), {
    dropRate: 0,
    duplicateRate: 0,
    delayMs: [0, 0],
    longReordering: false,
    longReorderingRate: DEFAULT_LONG_REORDERING_RATE,
    longReorderingMs: DEFAULT_LONG_REORDERING_MS,
    longDelays: false,
    longDelayMaxMs: DEFAULT_LONG_DELAY_MAX_MS,
  });
  assert.equal(t.buffer.byteLength, faultTableBytes(3));
});

test('partition splits, heal joins, unlisted peers are alone', () => {
  const t = new FaultTable(5);
  t.partition([[0, 1], [2, 3]]);
  assert.ok(t.isLinkUp(0, 1) && t.isLinkUp(1, 0) && t.isLinkUp(2, 3));
  assert.ok(!t.isLinkUp(1, 2) && !t.isLinkUp(3, 0));
  for (let p = 0; p < 4; p++) assert.ok(!t.isLinkUp(p, 4) && !t.isLinkUp(4, p), `4 is alone (${p})`);
  t.partition([[0, 4]]); // replaces the previous partition
  assert.ok(t.isLinkUp(0, 4) && !t.isLinkUp(0, 1) && !t.isLinkUp(2, 3));
  t.heal();
  for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) if (i !== j) assert.ok(t.isLinkUp(i, j));
  assert.throws(() => t.partition([[0, 1], [1, 2]]), RangeError);
  assert.throws(() => t.partition([[0, 5]]), RangeError);
});

test('disconnect and connect touch only the peer flag', () => {
  const t = new FaultTable(3);
  t.disconnect(0);
  assert.equal(upPairs(t), '12 21');
  t.disconnect(1);
  assert.equal(upPairs(t), '');
  t.connect(0);
  // 1 is still disconnected: 0 talks only to 2.
  assert.equal(upPairs(t), '02 20');
  assert.ok(!t.isConnected(1) && t.isConnected(0));
  // heal() is about partitions and cuts, not about disconnected peers.
  t.heal();
  assert.equal(upPairs(t), '02 20');
  t.connect(1);
  assert.equal(upPairs(t), ALL3);
});

test('connect does not undo a partition, heal does not undo a disconnect', () => {
  const t = new FaultTable(3);
  t.partition([[0], [1, 2]]);
  t.disconnect(0);
  t.connect(0);
  assert.equal(upPairs(t), '12 21');
  t.disconnect(2);
  t.heal();
  assert.equal(upPairs(t), '01 10');
  t.reset();
  assert.equal(upPairs(t), ALL3);
});

test('setLink cuts one direction only; heal restores it', () => {
  const t = new FaultTable(3);
  t.setLink(0, 1, false);
  assert.ok(!t.isLinkUp(0, 1) && t.isLinkUp(1, 0));
  assert.equal(upPairs(t), '02 10 12 20 21');
  t.setLink(0, 1, true);
  assert.equal(upPairs(t), ALL3);
  t.setLink(2, 0, false);
  t.heal();
  assert.equal(upPairs(t), ALL3);
  assert.throws(() => t.setLink(0, 3, false), RangeError);
  assert.throws(() => t.isLinkUp(-1, 0), RangeError);
});

test('setNetwork merges into the current settings', () => {
  const t = new FaultTable(3);
  t.setNetwork({ reliable: false });
  let n = t.network();
  assert.equal(n.dropRate, 0.1);
  assert.deepEqual(n.delayMs, [0, 27]);
  t.setNetwork({ longReordering: true });
  n = t.network();
  assert.equal(n.dropRate, 0.1, 'unreliable is kept');
  assert.equal(n.longReordering, true);
  t.setNetwork({ duplicateRate: 0.05, delayMs: [2, 9] });
  n = t.network();
  assert.deepEqual([n.dropRate, n.duplicateRate, n.delayMs, n.longReordering], [0.1, 0.05, [2, 9], true]);
  t.setNetwork({ reliable: false, dropRate: 0.3 }); // explicit fields win over the shorthand
  assert.equal(t.network().dropRate, 0.3);
  t.setNetwork({ reliable: true, longDelays: true });
  n = t.network();
  assert.deepEqual([n.dropRate, n.duplicateRate, n.delayMs], [0, 0, [0, 0]]);
  assert.equal(n.longReordering, true, 'reliable does not touch long reordering');
  assert.equal(n.longDelays, true);
  t.setNetwork({ longReorderingRate: 1, longReorderingMs: [10, 20], longDelayMaxMs: 50 });
  n = t.network();
  assert.deepEqual([n.longReorderingRate, n.longReorderingMs, n.longDelayMaxMs], [1, [10, 20], 50]);
});

test('setNetwork validates before writing anything', () => {
  const t = new FaultTable(2);
  t.setNetwork({ dropRate: 0.2 });
  for (const bad of [
    { dropRate: 1.5 },
    { dropRate: -0.1 },
    { duplicateRate: Number.NaN },
    { delayMs: [5, 1] as const },
    { delayMs: [-1, 1] as const },
    { longReorderingMs: [0, 1e9] as const },
    { longDelayMaxMs: -1 },
  ]) {
    assert.throws(() => t.setNetwork({ ...bad, duplicateRate: bad.duplicateRate ?? 0.5 }), RangeError);
  }
  assert.equal(t.network().dropRate, 0.2);
  assert.equal(t.network().duplicateRate, 0);
});

test('a view over the same buffer sees every write at once', () => {
  const t = new FaultTable(4);
  const v = new FaultTableView(t.buffer);
  assert.equal(v.peers, 4);
  t.disconnect(2);
  assert.ok(!v.isLinkUp(1, 2));
  t.setNetwork({ dropRate: 0.25 });
  assert.equal(v.network().dropRate, 0.25);
  v.countSend(3, MsgType.InstallSnapshot, 1000);
  assert.equal(t.stats().peers[3]!.installSnapshot, 1);
});

test('a view rejects a buffer that is not a fault table', () => {
  assert.throws(() => new FaultTableView(new SharedArrayBuffer(64)), TypeError);
  assert.throws(() => new FaultTableView(new SharedArrayBuffer(2)), TypeError);
  assert.throws(() => new FaultTable(0), RangeError);
});

test('countSend counts requests by type, messages and bytes of all', () => {
  const t = new FaultTable(3);
  t.countSend(1, MsgType.RequestVote, 26);
  t.countSend(1, MsgType.RequestVoteReply, 10);
  t.countSend(1, MsgType.AppendEntries, 500);
  t.countSend(1, MsgType.AppendEntries, 38);
  t.countSend(1, MsgType.AppendEntriesReply, 34);
  t.countSend(1, MsgType.InstallSnapshot, 4000);
  t.countSend(1, MsgType.InstallSnapshotReply, 18);
  t.countSend(2, MsgType.RequestVote, 26);
  t.add(0, Counter.Malformed, 2);
  const s = t.stats();
  assert.deepEqual(s.peers[1], {
    requestVote: 1,
    appendEntries: 2,
    installSnapshot: 1,
    rpcs: 4,
    messages: 7,
    bytes: 26 + 10 + 500 + 38 + 34 + 4000 + 18,
    dropped: 0,
    duplicated: 0,
    delayed: 0,
    held: 0,
    malformed: 0,
  });
  assert.equal(s.total.rpcs, 5);
  assert.equal(s.total.messages, 8);
  assert.equal(s.peers[0]!.malformed, 2);
  assert.equal(t.read(1, Counter.Bytes), 4626);
  t.resetCounters();
  assert.equal(t.stats().total.messages, 0);
});

test('two worker threads counting at once lose no increment', async () => {
  const t = new FaultTable(3);
  const rounds = 50_000;
  const run = (peer: number) =>
    new Promise<{ linkUp: boolean }>((resolve, reject) => {
      const w = new Worker(new URL('./helpers/count-worker.js', import.meta.url), {
        workerData: { buffer: t.buffer, peer, rounds },
      });
      w.once('message', (m: { linkUp: boolean }) => resolve(m));
      w.once('error', reject);
      w.once('exit', (code) => {
        if (code !== 0) reject(new Error(`worker exited with ${code}`));
      });
    });
  t.setLink(0, 1, false); // the workers report what they see
  const results = await Promise.all([run(1), run(1), run(2)]);
  assert.deepEqual(
    results.map((r) => r.linkUp),
    [false, false, false],
  );
  const s = t.stats();
  assert.equal(s.peers[1]!.messages, 2 * 3 * rounds);
  assert.equal(s.peers[1]!.appendEntries, 2 * rounds);
  assert.equal(s.peers[1]!.rpcs, 2 * 2 * rounds);
  assert.equal(s.peers[1]!.bytes, 2 * 160 * rounds);
  assert.equal(s.peers[2]!.messages, 3 * rounds);
  assert.equal(s.peers[0]!.dropped, 3 * rounds);
});
