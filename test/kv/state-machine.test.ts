/**
 * The KV state machine and its codec, on the memory store, without workers: command round
 * trips, exactly-once sessions (retries, stale duplicates, expiry by the log's clock), the
 * applied index written with the state, and snapshot/restore.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Entry } from '../../src/core/types.js';
import { MemoryBacking, MemoryLogStore } from '../../src/storage/memory-store.js';
import {
  Op,
  Reader,
  Result,
  Writer,
  decodeCommand,
  decodeValue,
  encodeClock,
  encodeValue,
  encodeWrite,
  frame,
  prefixEnd,
  splitFrames,
  type WriteRequest,
} from '../../src/kv/codec.js';
import { FLUSH_DELAY_MS, KvStateMachine } from '../../src/kv/state-machine.js';
import { createRng } from '../../src/core/rng.js';

function cmd(clientId: number, seq: number, req: WriteRequest, ackedBelow = seq): Uint8Array {
  const w = new Writer();
  encodeWrite(w, clientId, seq, ackedBelow, req);
  return w.finish();
}

class Log {
  index = 0;
  entries(...datas: Uint8Array[]): Entry[] {
    return datas.map((data) => ({ index: ++this.index, term: 1, kind: 0, data }));
  }
  noop(): Entry[] {
    return [{ index: ++this.index, term: 1, kind: 1, data: new Uint8Array(0) }];
  }
}

function machine(backing = new MemoryBacking()): { sm: KvStateMachine; backing: MemoryBacking } {
  const store = new MemoryLogStore(backing);
  return { sm: new KvStateMachine(store, (err) => assert.fail(String(err))), backing };
}

function value(sm: KvStateMachine, key: string): unknown {
  const v = sm.read(key);
  return v === undefined ? undefined : decodeValue(v);
}

function results(sm: KvStateMachine, entries: Entry[]): Result[] {
  const out: Result[] = [];
  sm.apply(entries, (_i, _t, r) => out.push(r));
  return out;
}

test('codec: commands, values and frames round-trip', () => {
  const reqs: WriteRequest[] = [
    { op: Op.Put, key: 'k', value: 'v' },
    { op: Op.Put, key: 'ключ 🔑', value: new Uint8Array([0, 255]) },
    { op: Op.Append, key: 'k', value: 'x'.repeat(300) },
    { op: Op.Delete, key: 'k' },
    { op: Op.Cas, key: 'k', expected: undefined, value: 'n' },
    { op: Op.Cas, key: 'k', expected: 'é', value: new Uint8Array([1]) },
  ];
  for (const req of reqs) {
    const c = decodeCommand(cmd(2 ** 52 - 1, 123456789, req, 77));
    assert.equal(c.op, req.op);
    if (!('clientId' in c)) return assert.fail('not a write');
    assert.equal(c.clientId, 2 ** 52 - 1);
    assert.equal(c.seq, 123456789);
    assert.equal(c.ackedBelow, 77);
    assert.equal(c.key, req.key);
    if (req.value !== undefined) assert.deepEqual(decodeValue(c.value!), req.value);
    if (req.op === Op.Cas) assert.deepEqual(c.expected === null ? undefined : decodeValue(c.expected), req.expected);
  }
  assert.deepEqual(decodeCommand(encodeClock(1_700_000_000_000, 5000)), { op: Op.Clock, ms: 1_700_000_000_000, timeoutMs: 5000 });
  assert.throws(() => decodeCommand(new Uint8Array([1, 1])), /truncated/);
  assert.throws(() => decodeCommand(new Uint8Array([42])), /unknown command/);
  assert.deepEqual(decodeValue(encodeValue('hé')), 'hé');
  const w = new Writer(4);
  frame(w, (x) => x.str('one'));
  frame(w, (x) => x.raw(new Uint8Array(1000)));
  const frames = splitFrames(w.finish());
  assert.equal(frames.length, 2);
  assert.equal(frames[1]!.length, 1000);
  assert.deepEqual([...prefixEnd(Buffer.from('ab'))!], [...Buffer.from('ac')]);
  assert.deepEqual([...prefixEnd(new Uint8Array([1, 255, 255]))!], [2]);
  assert.equal(prefixEnd(new Uint8Array([255])), null);
});

test('codec: a command decodes the same from a view inside a larger buffer, and every malformed one is refused', () => {
  const one = cmd(5, 6, { op: Op.Cas, key: 'ключ', expected: 'a', value: new Uint8Array([9, 8]) }, 4);
  const slab = new Uint8Array(one.length + 20).fill(0xee);
  slab.set(one, 10);
  const view = slab.subarray(10, 10 + one.length);
  assert.deepEqual(decodeCommand(view), decodeCommand(one));
  const c = decodeCommand(view);
  if (c.op !== Op.Cas) return assert.fail('not a cas');
  assert.equal(c.value!.buffer, slab.buffer, 'values are views, not copies');
  // Trailing bytes, a value with no tag or an unknown one, a key running past the end.
  assert.throws(() => decodeCommand(slab.subarray(10, 11 + one.length)), /trailing bytes/);
  const put = cmd(1, 1, { op: Op.Put, key: 'k', value: 'v' });
  const badTag = put.slice();
  badTag[badTag.length - 2] = 7;
  assert.throws(() => decodeCommand(badTag), /malformed value/);
  const noValue = put.slice(0, put.length - 3);
  assert.throws(() => decodeCommand(Uint8Array.from([...noValue, 0])), /malformed value/);
  const longKey = put.slice(0, 5);
  longKey[4] = 100;
  assert.throws(() => decodeCommand(longKey), /truncated/);
  assert.throws(() => decodeCommand(new Uint8Array([1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])), /varint too long/);
  // A failed decode leaves nothing behind for the next one.
  assert.deepEqual(decodeCommand(put), decodeCommand(put.slice()));
  // Malformed UTF-8 in a key reads as Buffer.toString reads it.
  const w = new Writer();
  w.u8(Op.Delete).uint(1).uint(1).uint(1).uint(2).u8(0xc3).u8(0x28);
  const del = decodeCommand(w.finish());
  assert.equal(del.op === Op.Delete ? del.key : null, Buffer.from([0xc3, 0x28]).toString('utf8'));
});

test("codec: a reply's value reads back as decodeValue reads it, and a bad one is refused", () => {
  const w = new Writer(8);
  const values = ['', 'v', 'ключ 🔑', 'x'.repeat(300), new Uint8Array([]), new Uint8Array([0, 255, 7])];
  for (const v of values) w.bytes(encodeValue(v));
  const r = new Reader(w.finish());
  for (const v of values) {
    const got = r.value();
    assert.deepEqual(got, v);
    if (v instanceof Uint8Array) assert.ok(got instanceof Uint8Array && got.buffer !== r.buf.buffer, 'bytes are a copy, not a view of the reply');
  }
  assert.ok(r.done);
  assert.throws(() => new Reader(new Uint8Array([0])).value(), /empty stored value/);
  assert.throws(() => new Reader(new Uint8Array([2, 9, 0])).value(), /unknown value tag 9/);
  assert.throws(() => new Reader(new Uint8Array([5, 1, 65])).value(), /truncated/);
});

test('sessions: a retry gets the first result, a stale duplicate does nothing, results below ackedBelow are forgotten', () => {
  const { sm } = machine();
  const log = new Log();
  assert.deepEqual(results(sm, log.entries(cmd(7, 1, { op: Op.Put, key: 'c', value: '0' }))), [Result.Ok]);
  const cas = cmd(7, 2, { op: Op.Cas, key: 'c', expected: '0', value: '1' }, 1);
  // The same cas three times (a retry, a duplicate): applied once, the same answer each time.
  assert.deepEqual(results(sm, log.entries(cas, cas, cas)), [Result.True, Result.True, Result.True]);
  assert.equal(value(sm, 'c'), '1');
  // The client has its answers up to seq 2: it says so with ackedBelow 3; seq 1 and 2 are dropped.
  assert.deepEqual(results(sm, log.entries(cmd(7, 3, { op: Op.Append, key: 'c', value: '!' }, 3))), [Result.Ok]);
  assert.deepEqual([...sm.sessions.get(7)!.results.keys()], [3]);
  assert.deepEqual(results(sm, log.entries(cas)), [Result.Stale], 'a late duplicate of an answered write');
  assert.equal(value(sm, 'c'), '1!');
  // Many writes in flight at once, applied out of order: each once.
  const a = cmd(9, 2, { op: Op.Append, key: 'p', value: 'b' }, 1);
  const b = cmd(9, 1, { op: Op.Append, key: 'p', value: 'a' }, 1);
  assert.deepEqual(results(sm, log.entries(a, b, a, b)), [Result.Ok, Result.Ok, Result.Ok, Result.Ok]);
  assert.equal(value(sm, 'p'), 'ba');
  // An unknown client that has had answers before (ackedBelow > 1): its session expired.
  assert.deepEqual(results(sm, log.entries(cmd(11, 5, { op: Op.Put, key: 'x', value: 'y' }, 4))), [Result.SessionExpired]);
  assert.equal(value(sm, 'x'), undefined);
});

test('operations: delete and cas report what they found; append checks type and size', () => {
  const { sm } = machine();
  const log = new Log();
  let seq = 0;
  const run = (req: WriteRequest) => results(sm, log.entries(cmd(1, ++seq, req)))[0];
  assert.equal(run({ op: Op.Delete, key: 'k' }), Result.False);
  assert.equal(run({ op: Op.Cas, key: 'k', expected: undefined, value: 'a' }), Result.True);
  assert.equal(run({ op: Op.Cas, key: 'k', expected: undefined, value: 'b' }), Result.False);
  assert.equal(run({ op: Op.Cas, key: 'k', expected: new Uint8Array([97]), value: 'b' }), Result.False, 'bytes never equal a string');
  assert.equal(run({ op: Op.Append, key: 'k', value: new Uint8Array([1]) }), Result.TypeMismatch);
  assert.equal(run({ op: Op.Delete, key: 'k' }), Result.True);
  assert.equal(value(sm, 'k'), undefined);
  assert.equal(run({ op: Op.Put, key: 'x'.repeat(1025), value: 'v' }), Result.TooLarge, 'keys over 1024 bytes');
});

test("the leader's answers leave before the puts' data is applied, and a command that reads the data finds the puts before it in place", () => {
  const { sm } = machine();
  const log = new Log();
  const reported: number[] = [];
  const seen: string[] = [];
  const decided = (): void => {
    // What the clients are told at this moment, and what a read would see.
    seen.push(`${reported.join(',')}:${String(value(sm, 'a'))}/${String(value(sm, 'b'))}`);
  };
  const batch = log.entries(
    cmd(1, 1, { op: Op.Put, key: 'a', value: '1' }),
    cmd(2, 1, { op: Op.Put, key: 'b', value: '2' }),
    cmd(3, 1, { op: Op.Cas, key: 'a', expected: '1', value: '3' }),
    cmd(4, 1, { op: Op.Put, key: 'b', value: '4' }),
  );
  sm.apply(batch, (i) => reported.push(i), decided);
  // Called once, at the cas: both puts answered, neither set yet. The cas then saw a = 1 (the
  // puts were set before it ran); what follows it is applied as it comes.
  assert.deepEqual(seen, ['1,2:undefined/undefined']);
  assert.deepEqual(reported, [1, 2, 3, 4]);
  assert.equal(value(sm, 'a'), '3');
  assert.equal(value(sm, 'b'), '4');
  // Without `decided` (a follower) nothing is set aside.
  const follower = machine().sm;
  follower.apply(new Log().entries(cmd(1, 1, { op: Op.Put, key: 'a', value: '1' })), null);
  assert.equal(value(follower, 'a'), '1');
});

test('answering before applying changes no result and no state: random batches of every operation, both ways (seeded)', () => {
  const rng = createRng(20261207);
  const keys = ['k0', 'k1', 'k2', 'k3'];
  const pick = <T,>(xs: readonly T[]): T => xs[rng.int(0, xs.length)]!;
  const early = machine().sm;
  const plain = machine().sm;
  const log = new Log();
  const seqs = new Map<number, number>();
  for (let batch = 0; batch < 200; batch++) {
    const datas: Uint8Array[] = [];
    for (let n = 1 + rng.int(0, 12); n > 0; n--) {
      const client = 1 + rng.int(0, 5);
      // Mostly new writes, sometimes a retry of the client's last seq.
      const seq = rng.int(0, 6) === 0 ? Math.max(1, seqs.get(client) ?? 1) : (seqs.get(client) ?? 0) + 1;
      seqs.set(client, seq);
      const key = pick(keys);
      const v = pick(['x', 'y', 'xy']);
      const req: WriteRequest = pick<WriteRequest>([
        { op: Op.Put, key, value: v },
        { op: Op.Put, key, value: v },
        { op: Op.Append, key, value: v },
        { op: Op.Delete, key },
        { op: Op.Cas, key, expected: pick([undefined, 'x', 'y']), value: v },
      ]);
      datas.push(cmd(client, seq, req, Math.max(1, seq - 2)));
    }
    const entries = log.entries(...datas);
    const a: string[] = [];
    const b: string[] = [];
    let calls = 0;
    early.apply(entries, (i, _t, r) => a.push(`${i}=${r}`), () => calls++);
    plain.apply(entries, (i, _t, r) => b.push(`${i}=${r}`));
    assert.deepEqual(a, b, `batch ${batch}: results`);
    assert.equal(calls, 1, 'decided is called once per batch');
    for (const k of keys) assert.deepEqual(value(early, k), value(plain, k), `batch ${batch}: key ${k}`);
  }
  assert.deepEqual(early.snapshotData(), plain.snapshotData());
});

test('the applied index is stored with the state it covers; what was not flushed is replayed', async () => {
  const { sm, backing } = machine();
  const log = new Log();
  sm.apply(log.entries(cmd(1, 1, { op: Op.Put, key: 'a', value: '1' })), null);
  sm.apply(log.noop(), null);
  assert.equal(value(sm, 'a'), '1', 'applied writes are readable before they are stored');
  await sm.whenFlushed();
  sm.apply(log.entries(cmd(1, 2, { op: Op.Put, key: 'a', value: '2' }, 2)), null);
  // A "crash" now: the last apply was not flushed yet.
  sm.stop();
  const again = machine(backing).sm;
  assert.equal(again.applied, 2, 'restarts at the last stored applied index');
  assert.equal(value(again, 'a'), '1');
  assert.equal(again.sessions.get(1)!.results.get(1), Result.Ok);
  // Replaying the entry after it applies it once.
  again.apply([{ index: 3, term: 1, kind: 0, data: cmd(1, 2, { op: Op.Put, key: 'a', value: '2' }, 2) }], null);
  assert.equal(value(again, 'a'), '2');
});

test('snapshots: restore reproduces the state byte for byte; reads see it at once', async () => {
  const a = machine().sm;
  const log = new Log();
  const cmds: Uint8Array[] = [];
  for (let i = 0; i < 50; i++) cmds.push(cmd(1 + (i % 3), 1 + Math.floor(i / 3), { op: i % 5 === 0 ? Op.Delete : Op.Append, key: `k${i % 7}`, value: `${i};` }, 1));
  a.apply(log.entries(encodeClock(1000, 60_000), ...cmds), null);
  const data = a.snapshotData();
  const b = machine().sm;
  b.apply(new Log().entries(cmd(99, 1, { op: Op.Put, key: 'other', value: 'gone' })), null);
  await b.whenFlushed();
  b.restore({ index: log.index, term: 1, data });
  assert.equal(b.applied, log.index);
  assert.equal(value(b, 'other'), undefined, 'the old state is gone at once');
  for (let k = 0; k < 7; k++) assert.deepEqual(value(b, `k${k}`), value(a, `k${k}`));
  assert.deepEqual(Buffer.from(b.snapshotData()), Buffer.from(data));
  await b.whenFlushed();
  assert.deepEqual(Buffer.from(b.snapshotData()), Buffer.from(data), 'and the same once stored');
  assert.equal(b.scanTable('', null, 100, 1 << 20).pairs.length, [...Array(7).keys()].filter((k) => value(a, `k${k}`) !== undefined).length);
});

test('sessions expire by the clock in the log, the same way on every replica', () => {
  const feed = (sm: KvStateMachine) => {
    const log = new Log();
    sm.apply(log.entries(encodeClock(10_000, 1000), cmd(1, 1, { op: Op.Put, key: 'a', value: '1' })), null);
    sm.apply(log.entries(encodeClock(10_500, 1000), cmd(2, 1, { op: Op.Put, key: 'b', value: '1' })), null);
    // Client 2 stays busy; client 1 goes idle.
    for (let t = 11_000, s = 2; t <= 13_000; t += 250, s++) sm.apply(log.entries(encodeClock(t, 1000), cmd(2, s, { op: Op.Put, key: 'b', value: String(s) })), null);
    // A clock that goes back (a new leader with a slower clock) never moves time back.
    sm.apply(log.entries(encodeClock(5_000, 1000)), null);
    return sm;
  };
  const a = feed(machine().sm);
  const b = feed(machine().sm);
  assert.deepEqual([...a.sessions.keys()], [2]);
  assert.equal(a.clock, 13_000);
  assert.deepEqual(Buffer.from(a.snapshotData()), Buffer.from(b.snapshotData()));
});

test('the applied state rides in a log write once it has waited half the flush delay, not at every write', async () => {
  const backing = new MemoryBacking();
  const store = new MemoryLogStore(backing);
  const sm = new KvStateMachine(store, (err) => assert.fail(String(err)));
  assert.equal(sm.takeAux(), null, 'nothing applied, nothing to store');
  const log = new Log();
  sm.apply(log.entries(cmd(1, 1, { op: Op.Put, key: 'a', value: '1' })), null);
  assert.equal(sm.takeAux(), null, 'a change just applied waits, so that many applies share one write');
  await new Promise((r) => setTimeout(r, FLUSH_DELAY_MS / 2 + 10));
  const staged = sm.takeAux();
  assert.ok(staged !== null, 'after half the flush delay the change goes with the next log write');
  // The peer's log write carries it: one transaction for the entry and the applied state.
  const next: Entry = { index: 1, term: 1, kind: 0, data: cmd(1, 2, { op: Op.Put, key: 'b', value: '2' }, 2) };
  const write = store.write({ hardState: null, snapshot: null, entries: [next] }, staged.aux);
  staged.landed(write);
  assert.equal(sm.takeAux(), null, 'taken once');
  await write;
  await sm.whenFlushed();
  sm.stop();
  const again = new KvStateMachine(new MemoryLogStore(backing), (err) => assert.fail(String(err)));
  assert.equal(again.applied, 1, 'the applied index stored with the log write');
  assert.equal(value(again, 'a'), '1');
});

test('an idle peer stores its applied state on its own after the flush delay', async () => {
  const { sm, backing } = machine();
  const log = new Log();
  sm.apply(log.entries(cmd(1, 1, { op: Op.Put, key: 'a', value: '1' })), null);
  // The flush timer (1 s) stores it: wait for that commit on the backing (a loaded machine's
  // timers may run late), then reopen.
  const commits = backing.commits;
  for (const end = Date.now() + 5000; backing.commits === commits && Date.now() < end; ) {
    await new Promise((r) => setTimeout(r, 20));
  }
  sm.stop();
  const again = machine(backing).sm;
  assert.equal(again.applied, 1, 'no log write came, so the flush timer stored it');
  assert.equal(value(again, 'a'), '1');
});

test('reads served from the read cache follow every applied write and a restored snapshot', async () => {
  const { sm } = machine();
  const log = new Log();
  sm.apply(log.entries(cmd(1, 1, { op: Op.Put, key: 'a', value: '1' })), null);
  await sm.whenFlushed();
  assert.equal(value(sm, 'a'), '1', 'read from the table, now cached');
  assert.equal(value(sm, 'missing'), undefined, 'absent, now cached as absent');
  sm.apply(log.entries(cmd(1, 2, { op: Op.Put, key: 'a', value: '2' }, 2), cmd(1, 3, { op: Op.Put, key: 'missing', value: 'here' }, 3)), null);
  await sm.whenFlushed();
  assert.equal(value(sm, 'a'), '2', 'the cached key took the applied value');
  assert.equal(value(sm, 'missing'), 'here');
  sm.apply(log.entries(cmd(1, 4, { op: Op.Append, key: 'a', value: '+' }, 4), cmd(1, 5, { op: Op.Delete, key: 'missing' }, 5)), null);
  await sm.whenFlushed();
  assert.equal(value(sm, 'a'), '2+');
  assert.equal(value(sm, 'missing'), undefined);
  // A snapshot from elsewhere replaces everything, cache included.
  const other = machine().sm;
  const olog = new Log();
  other.apply(olog.entries(cmd(9, 1, { op: Op.Put, key: 'a', value: 'theirs' })), null);
  sm.restore({ index: olog.index, term: 1, data: other.snapshotData() });
  assert.equal(value(sm, 'a'), 'theirs');
  await sm.whenFlushed();
  assert.equal(value(sm, 'a'), 'theirs');
});
