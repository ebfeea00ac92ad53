/**
 * The wire codec: every message type survives a round trip bit for bit, decoded
 * data are views into the received buffer, sizes add up, and every malformed
 * input (truncated, wrong version, unknown type, peer out of range, oversized
 * integers, trailing bytes, random corruption) comes back as a typed error
 * instead of an exception.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { EntryKind, MsgType, type Message } from '../../src/core/types.js';
import {
  BATCH_HEADER_BYTES,
  CODEC_VERSION,
  EncodeError,
  batchSize,
  decodeBatch,
  encodeBatch,
  messageSize,
  type DecodeErrorCode,
} from '../../src/transport/codec.js';
import { seededRandom } from './helpers/random.js';
import {
  appendEntries,
  appendEntriesReply,
  bytesOf,
  entries,
  installSnapshot,
  installSnapshotReply,
  oneOfEach,
  plain,
  requestVote,
  requestVoteReply,
} from './helpers/messages.js';

const PEERS = 5;

function roundTrip(msgs: Message[], peers = PEERS): Message[] {
  const bytes = encodeBatch(msgs);
  const r = decodeBatch(bytes, peers);
  assert.ok(r.ok, r.ok ? '' : `${r.error.code}: ${r.error.detail}`);
  assert.equal(r.from, msgs[0]!.from);
  assert.equal(r.to, msgs[0]!.to);
  assert.deepEqual(r.messages.map(plain), msgs.map(plain));
  return r.messages;
}

function expectError(bytes: Uint8Array, code: DecodeErrorCode, peers = PEERS): void {
  const r = decodeBatch(bytes, peers);
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.error.code, code, r.error.detail);
}

test('every message type round-trips alone', () => {
  for (const m of oneOfEach(1, 3)) roundTrip([m]);
});

test('a mixed batch round-trips in order', () => {
  const msgs = oneOfEach(4, 0);
  const out = roundTrip(msgs);
  assert.deepEqual(
    out.map((m) => m.type),
    msgs.map((m) => m.type),
  );
});

test('booleans survive both ways', () => {
  const [a, b] = roundTrip([requestVoteReply(0, 1, true), requestVoteReply(0, 1, false)]);
  assert.ok(a!.type === MsgType.RequestVoteReply && a.voteGranted === true);
  assert.ok(b!.type === MsgType.RequestVoteReply && b.voteGranted === false);
  const [c, d] = roundTrip([appendEntriesReply(0, 1, true), appendEntriesReply(0, 1, false)]);
  assert.ok(c!.type === MsgType.AppendEntriesReply && c.success === true);
  assert.ok(d!.type === MsgType.AppendEntriesReply && d.success === false);
});

test('AppendEntries: heartbeat, empty entries, no-ops, large entries', () => {
  roundTrip([appendEntries(0, 1, [], 0)]);
  roundTrip([
    appendEntries(0, 1, [
      { index: 8, term: 2, kind: EntryKind.Noop, data: new Uint8Array(0) },
      { index: 9, term: 3, kind: EntryKind.Normal, data: new Uint8Array(0) },
      { index: 10, term: 3, kind: EntryKind.Normal, data: bytesOf(1) },
    ], 7),
  ]);
  const big = entries(100, 4, 1 << 20);
  const [m] = roundTrip([appendEntries(2, 0, big, 100)]);
  assert.ok(m!.type === MsgType.AppendEntries);
  assert.equal(m.entries.length, 4);
  assert.deepEqual(
    m.entries.map((e) => e.index),
    [101, 102, 103, 104],
  );
});

test('InstallSnapshot: empty and large data', () => {
  roundTrip([installSnapshot(0, 2, new Uint8Array(0))]);
  const [m] = roundTrip([installSnapshot(0, 2, bytesOf(3 << 20, 9))]);
  assert.ok(m!.type === MsgType.InstallSnapshot);
  assert.equal(m.data.byteLength, 3 << 20);
});

test('integers up to 2^53 - 1 survive', () => {
  const max = Number.MAX_SAFE_INTEGER;
  roundTrip([{ type: MsgType.RequestVote, term: max, from: 0, to: 1, lastLogIndex: max, lastLogTerm: 2 ** 32, preVote: false }]);
  roundTrip([
    {
      type: MsgType.AppendEntries,
      term: 2 ** 40 + 3,
      from: 0,
      to: 1,
      prevLogIndex: max - 2,
      prevLogTerm: 2 ** 32 - 1,
      leaderCommit: max,
      round: max,
      entries: [
        { index: max - 1, term: 2 ** 33, kind: EntryKind.Normal, data: bytesOf(5) },
        { index: max, term: 2 ** 40 + 3, kind: EntryKind.Normal, data: bytesOf(5) },
      ],
    },
  ]);
});

test('decoded data are views into the received buffer, not copies', () => {
  const bytes = encodeBatch([appendEntries(0, 1, entries(0, 3, 64), 0), installSnapshot(0, 1, bytesOf(50))]);
  const r = decodeBatch(bytes, PEERS);
  assert.ok(r.ok);
  const [ae, snap] = r.messages;
  assert.ok(ae!.type === MsgType.AppendEntries && snap!.type === MsgType.InstallSnapshot);
  for (const e of ae.entries) assert.equal(e.data.buffer, bytes.buffer);
  assert.equal(snap.data.buffer, bytes.buffer);
});

test('encodeBatch copies data: later writes to the source do not show', () => {
  const es = entries(0, 1, 8);
  const bytes = encodeBatch([appendEntries(0, 1, es, 0)]);
  es[0]!.data.fill(0xee);
  const r = decodeBatch(bytes, PEERS);
  assert.ok(r.ok && r.messages[0]!.type === MsgType.AppendEntries);
  assert.notEqual(r.messages[0].entries[0]!.data[0], 0xee);
});

test('the output owns its whole buffer, so it can be transferred', () => {
  const bytes = encodeBatch(oneOfEach(0, 1));
  assert.equal(bytes.byteOffset, 0);
  assert.equal(bytes.byteLength, bytes.buffer.byteLength);
  assert.equal(bytes[0], CODEC_VERSION);
});

test('encoding is deterministic: every byte of the (uninitialized) buffer is written', () => {
  const msgs = [...oneOfEach(0, 1), appendEntries(0, 1, entries(3, 20, 33), 3)];
  for (let i = 0; i < 20; i++) {
    // Churn the allocator so a skipped byte would likely show old contents.
    encodeBatch([installSnapshot(0, 1, new Uint8Array(5000).fill(0xa5 + i))]);
    assert.deepEqual(encodeBatch(msgs), encodeBatch(msgs));
  }
});

test('messageSize adds up to the batch size', () => {
  const msgs = oneOfEach(2, 1);
  const bytes = encodeBatch(msgs);
  const sum = msgs.reduce((n, m) => n + messageSize(m), 0);
  assert.equal(bytes.byteLength, BATCH_HEADER_BYTES + sum);
  assert.equal(batchSize(msgs), bytes.byteLength);
  // 64 entries of 64 B: 46 bytes of AppendEntries, 13 + 64 per entry.
  assert.equal(messageSize(appendEntries(0, 1, entries(0, 64, 64), 0)), 46 + 64 * 77);
});

test('encodeBatch throws EncodeError for what the format cannot carry', () => {
  const bad: [string, Message[]][] = [
    ['empty batch', []],
    ['mixed destinations', [requestVote(0, 1), requestVote(0, 2)]],
    ['mixed sources', [requestVote(0, 1), requestVote(2, 1)]],
    ['to itself', [requestVote(1, 1)]],
    ['negative term', [requestVote(0, 1, -1)]],
    ['fractional term', [requestVote(0, 1, 1.5)]],
    ['NaN term', [requestVote(0, 1, Number.NaN)]],
    ['term past 2^53', [requestVote(0, 1, 2 ** 53)]],
    ['peer past u16', [requestVote(0, 70000)]],
    ['entries out of sequence', [appendEntries(0, 1, entries(5, 2, 4), 4)]],
    [
      'unknown entry kind',
      [appendEntries(0, 1, [{ index: 1, term: 1, kind: 7 as EntryKind, data: bytesOf(1) }], 0)],
    ],
  ];
  for (const [what, msgs] of bad) {
    assert.throws(() => encodeBatch(msgs), EncodeError, what);
  }
});

test('every truncation of a valid batch is a typed error, never a throw', () => {
  const bytes = encodeBatch(oneOfEach(0, 1));
  for (let n = 0; n < bytes.byteLength; n++) {
    const r = decodeBatch(bytes.subarray(0, n), PEERS);
    assert.equal(r.ok, false, `prefix of ${n} bytes decoded`);
    if (!r.ok) assert.ok(r.error.code === 'truncated' || r.error.code === 'bad-count', `${n}: ${r.error.code}`);
  }
  expectError(new Uint8Array(0), 'truncated');
  expectError(bytes.subarray(0, BATCH_HEADER_BYTES - 1), 'truncated');
});

test('header errors: version, flags, peers, count', () => {
  const good = () => encodeBatch([requestVote(1, 2)]);
  let b = good();
  b[0] = CODEC_VERSION + 1;
  expectError(b, 'bad-version');
  b = good();
  b[1] = 1;
  expectError(b, 'bad-flags');
  // from = 1, to = 2 is fine with 3 peers, not with 2.
  expectError(good(), 'bad-peer', 2);
  b = good();
  new DataView(b.buffer).setUint16(2, 2, true); // from = to = 2
  expectError(b, 'bad-peer');
  b = good();
  new DataView(b.buffer).setUint16(4, 0xffff, true);
  expectError(b, 'bad-peer');
  b = good();
  new DataView(b.buffer).setUint32(6, 0, true);
  expectError(b, 'bad-count');
  b = good();
  new DataView(b.buffer).setUint32(6, 0xffffffff, true);
  expectError(b, 'bad-count');
  b = good();
  new DataView(b.buffer).setUint32(6, 2, true);
  expectError(b, 'truncated');
});

test('message errors: type, flags, integers, kinds, lengths, trailing bytes', () => {
  const at = BATCH_HEADER_BYTES;
  for (const t of [0, 8, 255]) {
    const b = encodeBatch([requestVote(0, 1)]);
    b[at] = t;
    expectError(b, 'bad-type');
  }
  let b = encodeBatch([requestVote(0, 1)]);
  b[at + 1] = 1; // RequestVote has no flags
  expectError(b, 'bad-flags');
  b = encodeBatch([requestVoteReply(0, 1)]);
  b[at + 1] = 5; // only bits 0 and 1 are defined
  expectError(b, 'bad-flags');

  b = encodeBatch([requestVote(0, 1)]);
  new DataView(b.buffer).setUint32(at + 2 + 4, 0x200000, true); // term's high word: 2^53
  expectError(b, 'bad-integer');

  // AppendEntries whose entries would pass 2^53 - 1.
  b = encodeBatch([appendEntries(0, 1, entries(0, 2, 1), 0)]);
  const dv = new DataView(b.buffer);
  dv.setUint32(at + 10, 0xffffffff, true);
  dv.setUint32(at + 14, 0x1fffff, true); // prevLogIndex = 2^53 - 1
  expectError(b, 'bad-integer');

  b = encodeBatch([appendEntries(0, 1, entries(0, 2, 4), 0)]);
  b[at + 46 + 8] = 9; // first entry's kind
  expectError(b, 'bad-kind');

  b = encodeBatch([appendEntries(0, 1, entries(0, 2, 4), 0)]);
  new DataView(b.buffer).setUint32(at + 46 + 9, 1000, true); // first entry's length
  expectError(b, 'truncated');

  b = encodeBatch([appendEntries(0, 1, entries(0, 2, 4), 0)]);
  new DataView(b.buffer).setUint32(at + 42, 1_000_000, true); // entry count
  expectError(b, 'bad-count');

  b = encodeBatch([installSnapshot(0, 1, bytesOf(10))]);
  new DataView(b.buffer).setUint32(at + 42, 11, true); // chunk length
  expectError(b, 'truncated');

  b = encodeBatch([installSnapshot(0, 1, bytesOf(10))]);
  new DataView(b.buffer).setUint32(at + 34, 5, true); // total below the chunk's end
  expectError(b, 'bad-count');

  const ok = encodeBatch([installSnapshotReply(0, 1)]);
  const longer = new Uint8Array(ok.byteLength + 3);
  longer.set(ok);
  expectError(longer, 'trailing-bytes');
});

test('a detached buffer is an error, not a throw', () => {
  const b = encodeBatch([requestVote(0, 1)]);
  structuredClone(b.buffer, { transfer: [b.buffer] });
  const r = decodeBatch(b, PEERS);
  assert.equal(r.ok, false);
});

test('random corruption never throws and never yields out-of-range peers', () => {
  const rand = seededRandom(42);
  const source = encodeBatch([
    ...oneOfEach(3, 1),
    appendEntries(3, 1, entries(9, 5, 7), 9),
  ]);
  let rejected = 0;
  for (let round = 0; round < 3000; round++) {
    const b = source.slice();
    const flips = 1 + Math.floor(rand() * 4);
    for (let f = 0; f < flips; f++) b[Math.floor(rand() * b.byteLength)] = Math.floor(rand() * 256);
    const r = decodeBatch(b, PEERS);
    if (!r.ok) {
      rejected++;
      continue;
    }
    for (const m of r.messages) {
      assert.ok(m.from < PEERS && m.to < PEERS && m.from !== m.to);
      assert.ok(Number.isSafeInteger(m.term) && m.term >= 0);
    }
  }
  assert.ok(rejected > 0);
});

test('the same entries sent to several followers encode once and decode alike for each', () => {
  const es = entries(40, 64, 48);
  const toA = encodeBatch([appendEntries(0, 1, es, 40)]);
  const toB = encodeBatch([appendEntries(0, 2, es, 40)]);
  const toC = encodeBatch([appendEntries(0, 3, es, 40)]);
  // Only the destination in the header differs.
  assert.deepEqual(Buffer.from(toB).subarray(6), Buffer.from(toA).subarray(6));
  assert.deepEqual(Buffer.from(toC).subarray(6), Buffer.from(toA).subarray(6));
  for (const [bytes, to] of [[toA, 1], [toB, 2], [toC, 3]] as const) {
    const r = decodeBatch(bytes, PEERS);
    assert.ok(r.ok);
    assert.deepEqual(plain(r.messages[0]!), plain(appendEntries(0, to, es, 40)));
  }
});

test('reused entry bytes stay intact after the first batch is transferred', () => {
  const es = entries(0, 32, 16);
  const first = encodeBatch([appendEntries(0, 1, es, 0)]);
  const { port1, port2 } = new MessageChannel();
  port1.postMessage(first, [first.buffer]);
  port1.close();
  port2.close();
  assert.equal(first.byteLength, 0, 'the first batch was transferred away');
  const second = encodeBatch([appendEntries(0, 2, es, 0)]);
  const r = decodeBatch(second, PEERS);
  assert.ok(r.ok);
  assert.deepEqual(plain(r.messages[0]!), plain(appendEntries(0, 2, es, 0)));
});

test('a different run of entries is encoded afresh, never served from the last one', () => {
  const es = entries(10, 40, 8);
  encodeBatch([appendEntries(0, 1, es, 10)]);
  // A shorter run with the same first entry (a follower further behind its window).
  const shorter = es.slice(0, 20);
  const r1 = decodeBatch(encodeBatch([appendEntries(0, 2, shorter, 10)]), PEERS);
  assert.ok(r1.ok);
  assert.deepEqual(plain(r1.messages[0]!), plain(appendEntries(0, 2, shorter, 10)));
  // Equal content in other objects (the log was replaced): still correct.
  const copies = es.map((e) => ({ ...e, data: e.data.slice() }));
  const r2 = decodeBatch(encodeBatch([appendEntries(0, 3, copies, 10)]), PEERS);
  assert.ok(r2.ok);
  assert.deepEqual(plain(r2.messages[0]!), plain(appendEntries(0, 3, es, 10)));
  // The same run announced at the wrong position is still refused.
  encodeBatch([appendEntries(0, 1, es, 10)]);
  assert.throws(() => encodeBatch([appendEntries(0, 2, es, 11)]), EncodeError);
});

test('a quiet heartbeat keeps its flag across the wire, and the bit is refused on other types', () => {
  const quiet = { ...appendEntries(0, 1, [], 5), quiet: true };
  const r = decodeBatch(encodeBatch([quiet]), PEERS);
  assert.ok(r.ok);
  assert.equal((r.messages[0] as { quiet?: boolean }).quiet, true);
  const loud = decodeBatch(encodeBatch([appendEntries(0, 1, [], 5)]), PEERS);
  assert.ok(loud.ok);
  assert.equal((loud.messages[0] as { quiet?: boolean }).quiet, undefined, 'absent when not set');
  const bytes = encodeBatch([appendEntriesReply(0, 1, true)]);
  bytes[BATCH_HEADER_BYTES + 1]! |= 4;
  const bad = decodeBatch(bytes, PEERS);
  assert.ok(!bad.ok && bad.error.code === 'bad-flags');
});
