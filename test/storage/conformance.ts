/**
 * The LogStore conformance suite: every implementation must pass it unchanged.
 * test/storage/memory-store.test.ts and lmdb-store.test.ts run it.
 *
 * A harness opens stores on one persistent location (a directory, a MemoryBacking), so "reopen
 * after close" and "restart" mean the same thing for every implementation.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Entry, HardState, Snapshot } from '../../src/core/types.js';
import {
  ENTRY_OVERHEAD_BYTES,
  StorageError,
  type IdentityRequest,
  type LogStore,
} from '../../src/storage/log-store.js';

export interface StoreHarness {
  /** Opens a store on the harness's location (the same one every time). */
  open(identity?: IdentityRequest): Promise<LogStore>;
  /** Removes the location. */
  cleanup(): Promise<void>;
}

export type StoreFactory = () => Promise<StoreHarness>;

export const DEFAULT_IDENTITY: IdentityRequest = { clusterId: 'conformance', peers: 3, peerIndex: 1 };

/** Entry `index` in `term`; its data names both, so a wrong entry is easy to spot. */
export function entry(index: number, term: number, size = 0): Entry {
  const text = `${index}@${term}`;
  const data = new Uint8Array(Math.max(size, text.length));
  data.set(Buffer.from(text));
  return { index, term, kind: 0, data };
}

export function entries(from: number, to: number, term: number, size = 0): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term, size));
  return out;
}

const NONE = { hardState: null, snapshot: null } as const;

function snapshot(index: number, term: number, size = 32): Snapshot {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (index * 31 + i * 7) & 0xff;
  return { index, term, data };
}

/** [index, term, data as text] triples: compact to compare and to read in a failure. */
function shape(es: readonly Entry[]): Array<[number, number, string]> {
  return es.map((e) => [e.index, e.term, Buffer.from(e.data).toString().replace(/\0+$/, '')]);
}

function expectedBytes(es: readonly Entry[]): number {
  return es.reduce((n, e) => n + e.data.length + ENTRY_OVERHEAD_BYTES, 0);
}

async function withStore(factory: StoreFactory, fn: (h: StoreHarness, s: LogStore) => Promise<void>): Promise<void> {
  const h = await factory();
  let s: LogStore | null = null;
  try {
    s = await h.open(DEFAULT_IDENTITY);
    await fn(h, s);
  } finally {
    await s?.close().catch(() => undefined);
    await h.cleanup();
  }
}

async function reopen(h: StoreHarness, s: LogStore): Promise<LogStore> {
  await s.close();
  return h.open(DEFAULT_IDENTITY);
}

function isStorageError(reason: string): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof StorageError, `expected a StorageError, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    return true;
  };
}

export function runLogStoreTests(name: string, factory: StoreFactory): void {
  describe(`LogStore conformance: ${name}`, () => {
    it('a new store loads an empty state and stamps the identity', async () => {
      await withStore(factory, async (_h, s) => {
        const st = await s.load();
        assert.deepEqual(st.hardState, { currentTerm: 0, votedFor: -1 });
        assert.equal(st.snapshot, null);
        assert.deepEqual(st.entries, []);
        assert.equal(await s.readSnapshot(), null);
        assert.equal(await s.readSnapshotChunk(0, 10), null);
        assert.equal(s.logBytes(), 0);
        assert.deepEqual(s.identity, { clusterId: 'conformance', peers: 3, peerIndex: 1, format: 1 });
      });
    });

    it('load after writes returns the hard state and the entries in order; so does a reopen', async () => {
      await withStore(factory, async (h, s) => {
        await s.write({ hardState: { currentTerm: 1, votedFor: 0 }, snapshot: null, entries: entries(1, 3, 1) });
        await s.write({ ...NONE, entries: entries(4, 6, 1) });
        const want = shape(entries(1, 6, 1));
        assert.deepEqual(shape((await s.load()).entries), want);
        s = await reopen(h, s);
        const st = await s.load();
        assert.deepEqual(st.hardState, { currentTerm: 1, votedFor: 0 });
        assert.deepEqual(shape(st.entries), want);
        assert.equal(st.entries[0]!.kind, 0);
        await s.close();
      });
    });

    it('hard state round trips, alone and with entries', async () => {
      await withStore(factory, async (h, s) => {
        const states: HardState[] = [
          { currentTerm: 1, votedFor: -1 },
          { currentTerm: 7, votedFor: 2 },
          { currentTerm: 2 ** 40 + 3, votedFor: 0 },
        ];
        for (const hs of states) {
          await s.write({ hardState: hs, snapshot: null, entries: [] });
          assert.deepEqual((await s.load()).hardState, hs);
        }
        await s.write({ hardState: { currentTerm: 2 ** 40 + 4, votedFor: 1 }, snapshot: null, entries: entries(1, 2, 5) });
        await s.write({ ...NONE, entries: entries(3, 3, 5) }); // no hard state: the stored one stays
        s = await reopen(h, s);
        const st = await s.load();
        assert.deepEqual(st.hardState, { currentTerm: 2 ** 40 + 4, votedFor: 1 });
        assert.equal(st.entries.length, 3);
        await s.close();
      });
    });

    it('entries replace the log only from entries[0].index on', async () => {
      await withStore(factory, async (h, s) => {
        await s.write({ ...NONE, entries: entries(1, 5, 1) });
        // A conflicting suffix from a new leader: 3.. replaced, 5 dropped although not rewritten.
        await s.write({ ...NONE, entries: entries(3, 4, 2) });
        assert.deepEqual(shape((await s.load()).entries), shape([...entries(1, 2, 1), ...entries(3, 4, 2)]));
        // Appending at lastIndex+1 removes nothing.
        await s.write({ ...NONE, entries: entries(5, 6, 2) });
        // Rewriting the middle with a longer run drops only what is at or after its start.
        await s.write({ ...NONE, entries: entries(2, 8, 3) });
        const want = shape([entry(1, 1), ...entries(2, 8, 3)]);
        assert.deepEqual(shape((await s.load()).entries), want);
        assert.deepEqual(shape(await s.entries(3, 5)), want.slice(2, 4));
        assert.deepEqual(shape(await s.entries(0, 100)), want);
        assert.deepEqual(await s.entries(20, 30), []);
        s = await reopen(h, s);
        assert.deepEqual(shape((await s.load()).entries), want);
        await s.close();
      });
    });

    it('a snapshot in a write drops entries up to its index and keeps later ones', async () => {
      await withStore(factory, async (h, s) => {
        await s.write({ hardState: { currentTerm: 2, votedFor: 1 }, snapshot: null, entries: entries(1, 10, 2) });
        const snap = snapshot(5, 2, 1000);
        await s.write({ hardState: null, snapshot: snap, entries: [] });
        let st = await s.load();
        assert.deepEqual(st.snapshot, { index: 5, term: 2 });
        assert.deepEqual(shape(st.entries), shape(entries(6, 10, 2)));
        assert.deepEqual(await s.readSnapshot(), snap);
        // Snapshot and entries in one batch: snapshot first, then the entries replace from 8 on.
        const snap2 = snapshot(7, 2, 10);
        await s.write({ hardState: { currentTerm: 3, votedFor: -1 }, snapshot: snap2, entries: entries(8, 9, 3) });
        s = await reopen(h, s);
        st = await s.load();
        assert.deepEqual(st.hardState, { currentTerm: 3, votedFor: -1 });
        assert.deepEqual(st.snapshot, { index: 7, term: 2 });
        assert.deepEqual(shape(st.entries), shape(entries(8, 9, 3)));
        assert.deepEqual(await s.readSnapshot(), snap2);
        assert.equal(s.logBytes(), expectedBytes(entries(8, 9, 3)));
        await s.close();
      });
    });

    it('a snapshot past the last entry empties the log; the next entries start right after it', async () => {
      await withStore(factory, async (h, s) => {
        await s.write({ ...NONE, entries: entries(1, 3, 1) });
        await s.write({ hardState: null, snapshot: snapshot(20, 4), entries: [] });
        let st = await s.load();
        assert.deepEqual(st.snapshot, { index: 20, term: 4 });
        assert.deepEqual(st.entries, []);
        assert.equal(s.logBytes(), 0);
        await assert.rejects(s.write({ ...NONE, entries: entries(4, 5, 4) }), isStorageError('invalid-write'));
        await assert.rejects(s.write({ ...NONE, entries: entries(22, 22, 4) }), isStorageError('invalid-write'));
        await s.write({ ...NONE, entries: entries(21, 22, 4) });
        s = await reopen(h, s);
        st = await s.load();
        assert.deepEqual(shape(st.entries), shape(entries(21, 22, 4)));
        await s.close();
      });
    });

    it('compact stores the snapshot, drops entries <= index and ignores stale snapshots', async () => {
      await withStore(factory, async (h, s) => {
        await s.write({ ...NONE, entries: entries(1, 10, 1) });
        const snap = snapshot(6, 1, 300);
        await s.compact(snap);
        let st = await s.load();
        assert.deepEqual(st.snapshot, { index: 6, term: 1 });
        assert.deepEqual(shape(st.entries), shape(entries(7, 10, 1)));
        assert.equal(s.logBytes(), expectedBytes(entries(7, 10, 1)));
        await s.compact(snapshot(4, 1)); // stale: ignored
        await s.compact(snapshot(6, 1, 5)); // same index: ignored
        assert.deepEqual(await s.readSnapshot(), snap);
        s = await reopen(h, s);
        st = await s.load();
        assert.deepEqual(st.snapshot, { index: 6, term: 1 });
        assert.deepEqual(shape(st.entries), shape(entries(7, 10, 1)));
        assert.deepEqual(await s.readSnapshot(), snap);
        // Appending after a compaction, then compacting past the end.
        await s.write({ ...NONE, entries: entries(11, 12, 2) });
        await s.compact(snapshot(15, 2));
        st = await s.load();
        assert.deepEqual(st.snapshot, { index: 15, term: 2 });
        assert.deepEqual(st.entries, []);
        await s.close();
      });
    });

    it('a snapshot can be read in chunks, across chunk boundaries', async () => {
      await withStore(factory, async (h, s) => {
        const snap = snapshot(3, 1, 200_000);
        await s.write({ hardState: null, snapshot: snap, entries: [] });
        s = await reopen(h, s);
        const parts: Uint8Array[] = [];
        for (let off = 0; off < snap.data.length; off += 50_000 - 1) {
          const c = await s.readSnapshotChunk(off, 50_000 - 1);
          assert.ok(c);
          assert.equal(c.index, 3);
          assert.equal(c.term, 1);
          assert.equal(c.size, 200_000);
          assert.equal(c.offset, off);
          parts.push(c.data);
        }
        assert.deepEqual(Buffer.concat(parts), Buffer.from(snap.data));
        const end = await s.readSnapshotChunk(200_000, 10);
        assert.equal(end?.data.length, 0);
        await assert.rejects(s.readSnapshotChunk(200_001, 10), /past its end/);
        // A smaller snapshot replaces the larger one completely.
        const small = snapshot(9, 2, 10);
        await s.compact(small);
        assert.deepEqual(await s.readSnapshot(), small);
        assert.deepEqual((await s.readSnapshotChunk(4, 100))?.data, small.data.slice(4));
        // An empty snapshot is a snapshot too.
        await s.compact({ index: 12, term: 2, data: new Uint8Array(0) });
        assert.deepEqual(await s.readSnapshot(), { index: 12, term: 2, data: new Uint8Array(0) });
        await s.close();
      });
    });

    it('pipelined writes resolve, and become visible, in issue order', async () => {
      await withStore(factory, async (h, s) => {
        const order: number[] = [];
        const pending: Array<Promise<void>> = [];
        let next = 1;
        for (let b = 0; b < 40; b++) {
          // Some writes share an event-loop turn, some do not.
          if (b % 3 === 0) await new Promise((r) => setImmediate(r));
          const es = entries(next, next + 9, 1 + Math.floor(b / 10));
          next += 10;
          const hs = { currentTerm: 1 + Math.floor(b / 10), votedFor: b % 3 };
          pending.push(s.write({ hardState: hs, snapshot: null, entries: es }).then(() => void order.push(b)));
          if (b === 25) pending.push(s.compact(snapshot(100, 1)).then(() => void order.push(1000)));
        }
        // A conflicting rewrite issued while the others are in flight lands after them.
        pending.push(s.write({ ...NONE, entries: entries(391, 391, 9) }).then(() => void order.push(2000)));
        await Promise.all(pending);
        const want = [...Array(26).keys(), 1000, ...Array.from({ length: 14 }, (_, k) => 26 + k), 2000];
        assert.deepEqual(order, want);
        s = await reopen(h, s);
        const st = await s.load();
        assert.deepEqual(st.snapshot, { index: 100, term: 1 });
        assert.deepEqual(st.hardState, { currentTerm: 4, votedFor: 39 % 3 });
        assert.equal(st.entries.length, 291);
        assert.equal(st.entries[0]!.index, 101);
        assert.deepEqual(shape(st.entries.slice(-2)), [[390, 4, '390@4'], [391, 9, '391@9']]);
        await s.close();
      });
    });

    it('rejects writes that would leave a gap or break the log, and writes nothing then', async () => {
      await withStore(factory, async (h, s) => {
        await s.write({ hardState: { currentTerm: 1, votedFor: -1 }, snapshot: null, entries: entries(1, 3, 1) });
        const bad = [
          { ...NONE, entries: entries(5, 6, 1) }, // gap after 3
          { ...NONE, entries: [entry(4, 1), entry(6, 1)] }, // not contiguous
          { ...NONE, entries: entries(0, 1, 1) }, // index 0
          { hardState: { currentTerm: -1, votedFor: -1 }, snapshot: null, entries: [] },
          { hardState: { currentTerm: 9, votedFor: -1 }, snapshot: null, entries: [{ ...entry(4, 1), term: 1.5 }] },
        ];
        for (const b of bad) await assert.rejects(s.write(b), isStorageError('invalid-write'));
        await s.compact(snapshot(2, 1));
        await assert.rejects(s.write({ ...NONE, entries: entries(2, 3, 1) }), isStorageError('invalid-write'));
        await assert.rejects(s.write({ hardState: null, snapshot: snapshot(1, 1), entries: [] }), isStorageError('invalid-write'));
        // The store still works, and none of the rejected batches left a trace.
        await s.write({ ...NONE, entries: entries(4, 4, 1) });
        s = await reopen(h, s);
        const st = await s.load();
        assert.deepEqual(st.hardState, { currentTerm: 1, votedFor: -1 });
        assert.deepEqual(shape(st.entries), shape(entries(3, 4, 1)));
        await s.close();
      });
    });

    it('logBytes counts data plus a fixed overhead per kept entry, before and after a reopen', async () => {
      await withStore(factory, async (h, s) => {
        await s.write({ ...NONE, entries: entries(1, 20, 1, 64) });
        assert.equal(s.logBytes(), expectedBytes(entries(1, 20, 1, 64)));
        await s.write({ ...NONE, entries: entries(15, 16, 2, 10) });
        const kept = [...entries(1, 14, 1, 64), ...entries(15, 16, 2, 10)];
        assert.equal(s.logBytes(), expectedBytes(kept));
        await s.compact(snapshot(10, 1));
        assert.equal(s.logBytes(), expectedBytes(kept.slice(10)));
        s = await reopen(h, s);
        assert.equal(s.logBytes(), expectedBytes(kept.slice(10)));
        await s.close();
      });
    });

    it('aux tables commit with a compaction, in one transaction, and survive a reopen', async () => {
      await withStore(factory, async (h, s) => {
        const kv = s.openTable('kv');
        const applied = s.openTable('applied');
        await s.write({ ...NONE, entries: entries(1, 5, 1) });
        await s.compact(snapshot(4, 1), (w) => {
          w.put(kv, 'a', Buffer.from('1'));
          w.put(kv, 'b', Buffer.from('2'));
          w.put(kv, new Uint8Array([0x62, 0xff]), Buffer.from('3'));
          w.put(applied, 'index', Buffer.from('4'));
        });
        assert.deepEqual(Buffer.from(kv.get('a')!).toString(), '1');
        // Ordered writes: remove + clear + put in one transaction apply in call order.
        await s.transaction((w) => {
          w.remove(kv, 'a');
          w.clear(applied);
          w.put(applied, 'index', Buffer.from('5'));
        });
        // A stale compaction runs no aux writes.
        await s.compact(snapshot(2, 1), (w) => w.put(kv, 'stale', Buffer.from('x')));
        // Aux writes ride on a write() too.
        await s.write({ ...NONE, entries: entries(6, 6, 1) }, (w) => w.put(kv, 'c', new Uint8Array(0)));
        s = await reopen(h, s);
        const kv2 = s.openTable('kv');
        assert.equal(kv2.get('a'), undefined);
        assert.equal(kv2.get('stale'), undefined);
        assert.deepEqual(Buffer.from(s.openTable('applied').get('index')!).toString(), '5');
        const all = kv2.range().map(([k, v]) => [Buffer.from(k).toString('hex'), Buffer.from(v).toString()]);
        assert.deepEqual(all, [
          ['62', '2'],
          ['62ff', '3'],
          ['63', ''],
        ]);
        assert.deepEqual(
          kv2.range({ start: 'b', end: 'c', limit: 1 }).map(([k]) => Buffer.from(k).toString('hex')),
          ['62'],
        );
        assert.equal(kv2.range({ limit: 0 }).length, 0);
        assert.equal(s.openTable('never-written').get('x'), undefined);
        assert.throws(() => s.openTable('bad name'));
        await s.close();
      });
    });

    it('an aux callback that throws writes nothing', async () => {
      await withStore(factory, async (_h, s) => {
        const kv = s.openTable('kv');
        await assert.rejects(
          s.write({ hardState: { currentTerm: 5, votedFor: 1 }, snapshot: null, entries: entries(1, 2, 5) }, (w) => {
            w.put(kv, 'k', Buffer.from('v'));
            throw new Error('boom');
          }),
          /boom/,
        );
        await assert.rejects(
          s.transaction((w) => w.put(kv, '', Buffer.from('v'))), // empty keys are not allowed
        );
        await s.write({ ...NONE, entries: entries(1, 1, 1) });
        const st = await s.load();
        assert.deepEqual(st.hardState, { currentTerm: 0, votedFor: -1 });
        assert.deepEqual(shape(st.entries), shape(entries(1, 1, 1)));
        assert.equal(kv.get('k'), undefined);
      });
    });

    it('refuses a reopen for another cluster size, peer or cluster id', async () => {
      await withStore(factory, async (h, s) => {
        await s.write({ ...NONE, entries: entries(1, 2, 1) });
        await s.close();
        await assert.rejects(h.open({ ...DEFAULT_IDENTITY, peers: 5 }), (err: unknown) => {
          isStorageError('identity-mismatch')(err);
          assert.match((err as Error).message, /created for a 3-peer cluster but opened for 5; use a fresh dataDir or the same peers/);
          return true;
        });
        await assert.rejects(h.open({ ...DEFAULT_IDENTITY, peerIndex: 2 }), isStorageError('identity-mismatch'));
        await assert.rejects(h.open({ ...DEFAULT_IDENTITY, clusterId: 'other' }), isStorageError('identity-mismatch'));
        // Without a clusterId the stored one is accepted and reported.
        s = await h.open({ peers: 3, peerIndex: 1 });
        assert.equal(s.identity?.clusterId, 'conformance');
        assert.equal((await s.load()).entries.length, 2);
        await s.close();
      });
    });

    it('a closed store refuses calls', async () => {
      await withStore(factory, async (_h, s) => {
        await s.write({ ...NONE, entries: entries(1, 1, 1) });
        await s.close();
        await s.close(); // twice is fine
        await assert.rejects(s.write({ ...NONE, entries: entries(2, 2, 1) }), isStorageError('closed'));
        await assert.rejects(s.load(), isStorageError('closed'));
        await assert.rejects(s.compact(snapshot(1, 1)), isStorageError('closed'));
      });
    });

    it('crash() stops acknowledging; a reopen sees a prefix of the issued writes, each whole', async () => {
      await withStore(factory, async (h, s) => {
        const acked: number[] = [];
        let crashed = false;
        const late: number[] = [];
        const ps: Array<Promise<void>> = [];
        for (let b = 1; b <= 12; b++) {
          if (b % 4 === 1) await new Promise((r) => setImmediate(r));
          const p = s.write({ hardState: { currentTerm: b, votedFor: -1 }, snapshot: null, entries: entries((b - 1) * 4 + 1, b * 4, b) });
          ps.push(p.then(() => void (crashed ? late : acked).push(b)));
          if (b === 6) await ps[0]; // at least one acknowledged before the crash
        }
        crashed = true;
        await s.crash();
        await new Promise((r) => setTimeout(r, 30));
        assert.deepEqual(late, [], 'no write may be acknowledged after crash()');
        assert.ok(acked.length >= 1);
        await assert.rejects(s.write({ ...NONE, entries: entries(49, 49, 12) }), isStorageError('closed'));
        s = await h.open(DEFAULT_IDENTITY);
        const st = await s.load();
        const k = st.hardState.currentTerm;
        assert.ok(k >= acked.length && k <= 12, `reopened at batch ${k}, ${acked.length} were acknowledged`);
        assert.deepEqual(shape(st.entries), shape(Array.from({ length: k }, (_, i) => entries(i * 4 + 1, i * 4 + 4, i + 1)).flat()));
        await s.close();
      });
    });

    it('close waits for writes already issued', async () => {
      await withStore(factory, async (h, s) => {
        const p = s.write({ ...NONE, entries: entries(1, 100, 1) });
        await s.close();
        await p;
        s = await h.open(DEFAULT_IDENTITY);
        assert.equal((await s.load()).entries.length, 100);
        await s.close();
      });
    });
  });
}
