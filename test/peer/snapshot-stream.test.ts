import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MsgType, type InstallSnapshot, type Message, type Snapshot, type SnapshotChunkAck } from '../../src/core/types.js';
import { SnapshotReceiver, SnapshotSender, SNAPSHOT_STALL_MS } from '../../src/peer/snapshot-stream.js';

function snapshotOf(size: number, index = 50, term = 3): Snapshot {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (i * 31 + 7) & 0xff;
  return { index, term, data };
}

/** A leader (peer 0) streaming to a follower (peer 1) over a network the test controls. */
function pair(chunk = 1000, window = 3) {
  let now = 0;
  const toFollower: Message[] = [];
  const toLeader: Message[] = [];
  const sender = new SnapshotSender(0, (m) => toFollower.push(...m), () => now, chunk, window);
  const receiver = new SnapshotReceiver(1, (m) => toLeader.push(...m));
  return {
    sender,
    receiver,
    toFollower,
    toLeader,
    advance: (ms: number) => (now += ms),
  };
}

test('a large snapshot arrives whole through chunks, with at most a window in flight', () => {
  const p = pair(1000, 3);
  const snap = snapshotOf(10_500);
  p.sender.start(1, 7, snap);
  let whole: InstallSnapshot | null = null;
  let maxInFlight = 0;
  while (!whole) {
    maxInFlight = Math.max(maxInFlight, p.toFollower.length);
    assert.ok(p.toFollower.length > 0, 'the stream stalled');
    const chunk = p.toFollower.shift() as InstallSnapshot;
    assert.ok(chunk.data.length <= 1000);
    whole = p.receiver.onChunk(chunk);
    for (const ack of p.toLeader.splice(0)) p.sender.onAck(ack as SnapshotChunkAck);
  }
  assert.ok(maxInFlight <= 3, `at most the window in flight, saw ${maxInFlight}`);
  assert.equal(whole.offset, 0);
  assert.equal(whole.total, snap.data.length);
  assert.deepEqual(whole.data, snap.data);
  assert.equal(whole.lastIncludedIndex, 50);
  assert.equal(p.sender.active, 0, 'the stream ends once every byte is acknowledged');
});

test('lost and duplicated chunks are resent from the last acknowledged byte after a stall', () => {
  const p = pair(1000, 4);
  const snap = snapshotOf(8000);
  p.sender.start(1, 7, snap);
  let whole: InstallSnapshot | null = null;
  let k = 0;
  for (let round = 0; round < 200 && !whole; round++) {
    if (p.toFollower.length === 0) {
      p.advance(SNAPSHOT_STALL_MS + 1);
      p.sender.tick();
      continue;
    }
    const chunk = p.toFollower.shift() as InstallSnapshot;
    k++;
    if (k % 3 === 0) continue; // lost
    whole = p.receiver.onChunk(chunk);
    if (!whole && k % 4 === 0) whole = p.receiver.onChunk(chunk); // duplicated
    for (const ack of p.toLeader.splice(0)) p.sender.onAck(ack as SnapshotChunkAck);
  }
  assert.ok(whole, 'the snapshot must get through');
  assert.deepEqual(whole.data, snap.data);
});

test('a chunk of another snapshot or a newer leader starts the transfer over; a late duplicate is only acked', () => {
  const p = pair(1000, 2);
  const a = snapshotOf(3000, 50, 3);
  p.sender.start(1, 7, a);
  p.receiver.onChunk(p.toFollower.shift() as InstallSnapshot);
  assert.equal(p.receiver.pendingBytes, 3000);
  // A new leader (term 8) with a newer snapshot.
  const b = snapshotOf(2500, 60, 8);
  const other = new SnapshotSender(2, (m) => p.toFollower.push(...m), () => 0, 1000, 10);
  p.toFollower.length = 0;
  other.start(1, 8, b);
  let whole: InstallSnapshot | null = null;
  for (const c of p.toFollower.splice(0)) whole = p.receiver.onChunk(c as InstallSnapshot) ?? whole;
  assert.ok(whole);
  assert.equal(whole.lastIncludedIndex, 60);
  assert.deepEqual(whole.data, b.data);
  // A chunk from the middle of a stream never seen is answered with offset 0.
  p.toLeader.length = 0;
  const mid: InstallSnapshot = { type: MsgType.InstallSnapshot, term: 9, from: 0, to: 1, lastIncludedIndex: 70, lastIncludedTerm: 9, offset: 1000, total: 3000, data: new Uint8Array(1000) };
  assert.equal(p.receiver.onChunk(mid), null);
  assert.equal((p.toLeader.pop() as SnapshotChunkAck).offset, 0);
  // A late duplicate of the finished snapshot's first chunk does not allocate a new transfer.
  const late: InstallSnapshot = { ...mid, lastIncludedIndex: 60, lastIncludedTerm: 8, term: 8, offset: 0, total: 2500, data: b.data.subarray(0, 1000) };
  assert.equal(p.receiver.onChunk(late), null);
  assert.equal(p.receiver.pendingBytes, 0);
  assert.equal((p.toLeader.pop() as SnapshotChunkAck).offset, 2500);
});

test('a snapshot that fits one chunk is not streamed', () => {
  const p = pair(1000, 2);
  assert.equal(p.sender.fitsOneMessage(snapshotOf(1000)), true);
  assert.equal(p.sender.fitsOneMessage(snapshotOf(1001)), false);
});
