/**
 * The LMDB store's log layout: each write() stores its entries as one or a few segments (LMDB
 * values keyed by their first index), a segment's effective range ends where the next one
 * begins, and compaction drops only the segments entirely at or below the snapshot. These tests
 * check what the log reads back as (load, entries, after a reopen) against a plain model, and
 * which segments are on disk (rawSegments), through truncations, pipelined writes and
 * compactions.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open as openLmdb } from 'lmdb';
import type { Entry } from '../../src/core/types.js';
import { LmdbLogStore, SEGMENT_MAX_BYTES } from '../../src/storage/lmdb-store.js';
import { ENTRY_OVERHEAD_BYTES, StorageError } from '../../src/storage/log-store.js';
import { DEFAULT_IDENTITY, entries, entry } from './conformance.js';
import { encodeSegment, rawSegments, tamper } from './segment-format.js';

const root = mkdtempSync(join(tmpdir(), 'raftwork-segments-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
function freshDir(): string {
  return join(root, `s${n++}`);
}

const NONE = { hardState: null, snapshot: null } as const;
/** Bytes of a segment value: a 5-byte header, then 13 bytes of header and the data per entry. */
const SEGMENT_HEADER = 5;
const ENTRY_HEADER = 13;

function open(path: string, sync = false): Promise<LmdbLogStore> {
  return LmdbLogStore.open({ path, identity: DEFAULT_IDENTITY, sync });
}

/** [index, term, data as text]: entry() data names its index and term, so a wrong entry shows. */
function shape(es: readonly Entry[]): Array<[number, number, string]> {
  return es.map((e) => [e.index, e.term, Buffer.from(e.data).toString().replace(/\0+$/, '')]);
}

function bytesOf(es: readonly Entry[]): number {
  return es.reduce((s, e) => s + e.data.length + ENTRY_OVERHEAD_BYTES, 0);
}

function snapshot(index: number, term: number): { index: number; term: number; data: Uint8Array } {
  return { index, term, data: Buffer.from(`snapshot ${index}`) };
}

/**
 * What a store must hold, by the LogStore contract alone (no segments): the snapshot index and
 * the entries after it. Mirrors write() and compact().
 */
class Model {
  snapIndex = 0;
  log: Entry[] = [];

  write(es: readonly Entry[]): void {
    const first = es[0]!.index;
    this.log = [...this.log.filter((e) => e.index < first), ...es];
  }

  compact(index: number): void {
    if (index <= this.snapIndex) return;
    this.snapIndex = index;
    this.log = this.log.filter((e) => e.index > index);
  }

  slice(lo: number, hi: number): Entry[] {
    return this.log.filter((e) => e.index >= lo && e.index < hi);
  }
}

/** Writes `es` to the store (awaited) and to the model. */
async function both(s: LmdbLogStore, m: Model, es: readonly Entry[]): Promise<void> {
  await s.write({ ...NONE, entries: es });
  m.write(es);
}

/** Three writes of term 1, so three segments: 1..10, 11..20, 21..30 (`size`-byte commands). */
async function threeSegments(s: LmdbLogStore, m: Model, size = 0): Promise<void> {
  for (const [a, b] of [
    [1, 10],
    [11, 20],
    [21, 30],
  ] as const) {
    await both(s, m, entries(a, b, 1, size));
  }
}

/** Checks load(), logBytes() and every entries(lo, hi) with lo, hi in 0..max against the model. */
async function expectLog(s: LmdbLogStore, m: Model, max: number): Promise<void> {
  const st = await s.load();
  assert.deepEqual(shape(st.entries), shape(m.log), 'load()');
  assert.equal(s.logBytes(), bytesOf(m.log), 'logBytes()');
  for (let lo = 0; lo <= max; lo++) {
    for (let hi = lo; hi <= max; hi++) {
      assert.deepEqual(shape(await s.entries(lo, hi)), shape(m.slice(lo, hi)), `entries(${lo}, ${hi})`);
    }
  }
}

/** The keys of the segments on disk (the store must be closed). */
async function segmentKeys(path: string): Promise<number[]> {
  return (await rawSegments(path)).map(([k]) => k);
}

describe('LmdbLogStore: log segments', () => {
  it('splits a write larger than SEGMENT_MAX_BYTES into capped segments that read back exactly', async () => {
    const path = freshDir();
    let s = await open(path);
    // 5000 entries of 100 bytes (113 stored) and, in the middle, one entry larger than the cap.
    const es = entries(1, 5000, 3, 100);
    const big = new Uint8Array(SEGMENT_MAX_BYTES + 1000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 13) & 0xff;
    es[2499] = { index: 2500, term: 3, kind: 1, data: big };
    await s.write({ ...NONE, entries: es });
    // The split the cap implies: greedy, at least one entry per segment.
    const want: Array<[number, number]> = [];
    for (let k = 0; k < es.length; ) {
      let size = SEGMENT_HEADER + ENTRY_HEADER + es[k]!.data.length;
      let j = k + 1;
      while (j < es.length && size + ENTRY_HEADER + es[j]!.data.length <= SEGMENT_MAX_BYTES) size += ENTRY_HEADER + es[j++]!.data.length;
      want.push([es[k]!.index, size]);
      k = j;
    }
    assert.ok(want.length >= 6, `expected several segments, got ${want.length}`);
    const check = async (t: LmdbLogStore): Promise<void> => {
      const got = (await t.load()).entries;
      assert.equal(got.length, 5000);
      for (let i = 0; i < es.length; i++) {
        assert.equal(got[i]!.index, es[i]!.index);
        assert.equal(got[i]!.term, 3);
        assert.equal(got[i]!.kind, es[i]!.kind);
        assert.deepEqual(Buffer.from(got[i]!.data), Buffer.from(es[i]!.data), `entry ${i + 1}`);
      }
      assert.equal(t.logBytes(), bytesOf(es));
      // Ranges that start, end or cross at segment boundaries, and the big entry alone.
      for (const [from] of want) {
        for (const [lo, hi] of [
          [from - 1, from + 1],
          [from, from + 1],
          [from - 3, from + 700],
        ] as const) {
          const r = await t.entries(lo, hi);
          assert.deepEqual(
            r.map((e) => e.index),
            es.filter((e) => e.index >= lo && e.index < hi).map((e) => e.index),
          );
        }
      }
      assert.deepEqual(Buffer.from((await t.entries(2500, 2501))[0]!.data), Buffer.from(big));
    };
    await check(s);
    await s.close();
    assert.deepEqual(await rawSegments(path), want);
    for (const [k, size] of want) if (k !== 2500) assert.ok(size <= SEGMENT_MAX_BYTES, `segment ${k} is ${size} bytes`);
    s = await open(path);
    await check(s);
    await s.close();
  });

  it('a shorter conflicting write shadows the stale tail: [1..100] then [50..60] is the log 1..60', async () => {
    const path = freshDir();
    const m = new Model();
    let s = await open(path);
    await both(s, m, entries(1, 100, 1));
    await both(s, m, entries(50, 60, 2));
    await expectLog(s, m, 102);
    await s.close();
    assert.deepEqual(await segmentKeys(path), [1, 50]);
    s = await open(path);
    await expectLog(s, m, 102);
    // Appending after the shadowing segment, and shadowing once more inside the stale range.
    await both(s, m, entries(61, 65, 2));
    await both(s, m, entries(30, 31, 3));
    await expectLog(s, m, 102);
    await s.close();
    assert.deepEqual(await segmentKeys(path), [1, 30]);
    s = await open(path);
    await expectLog(s, m, 102);
    await s.close();
  });

  it('a conflicting write before a segment\'s first entry removes that segment and every later one', async () => {
    const path = freshDir();
    const m = new Model();
    let s = await open(path);
    await threeSegments(s, m);
    await both(s, m, entries(5, 7, 2));
    await expectLog(s, m, 32);
    // Exactly at a segment's first entry: the new segment replaces it under the same key.
    await s.write({ ...NONE, entries: entries(8, 12, 3) });
    await both(s, m, entries(8, 8, 4));
    await expectLog(s, m, 32);
    await s.close();
    assert.deepEqual(await segmentKeys(path), [1, 5, 8]);
    s = await open(path);
    await expectLog(s, m, 32);
    await s.close();
  });

  it('conflicting writes among pipelined writes issued without awaiting read back exactly', async () => {
    const path = freshDir();
    const m = new Model();
    let s = await open(path, true);
    const pending: Array<Promise<void>> = [];
    const order: number[] = [];
    // [first, last, term]; the store is told nothing is durable until the end. Some writes
    // share an event-loop turn (one LMDB transaction), some do not.
    const plan: Array<[number, number, number]> = [
      [1, 100, 1],
      [101, 200, 1],
      [50, 60, 2], // shadows part of the first segment, removes the second (in flight)
      [61, 70, 2],
      [55, 55, 3], // inside the segment of the write just before
      [56, 90, 3],
      [91, 91, 3],
      [20, 25, 4], // before every key but the first
      [26, 40, 4],
      [26, 26, 5], // at the key of a segment in flight
      [27, 30, 5],
    ];
    for (let b = 0; b < plan.length; b++) {
      if (b % 3 === 2) await new Promise((r) => setImmediate(r));
      const [a, z, t] = plan[b]!;
      pending.push(s.write({ ...NONE, entries: entries(a, z, t) }).then(() => void order.push(b)));
      m.write(entries(a, z, t));
      // While writes are in flight a read sees committed ones: what it returns is contiguous,
      // and each entry is one that was written (its data names its index and term).
      const r = await s.entries(1, 300);
      for (let i = 0; i < r.length; i++) {
        assert.equal(r[i]!.index, i + 1);
        assert.equal(Buffer.from(r[i]!.data).toString(), `${r[i]!.index}@${r[i]!.term}`);
      }
    }
    assert.equal(s.logBytes(), bytesOf(m.log));
    await Promise.all(pending);
    assert.deepEqual(order, [...plan.keys()]);
    await expectLog(s, m, 40);
    assert.deepEqual(shape(await s.entries(0, 300)), shape(m.log));
    await s.close();
    assert.deepEqual(await segmentKeys(path), [1, 20, 26, 27]);
    s = await open(path);
    await expectLog(s, m, 40);
    await s.close();
  });

  it('entries() during an in-flight conflicting write or compaction reads the committed log', async () => {
    const path = freshDir();
    const s = await open(path);
    await s.write({ ...NONE, entries: entries(1, 100, 1) });
    // Not awaited: in memory the segment at 50 exists and the one at 1 ends at 49; on disk the
    // segment at 1 still holds 1..100. The store must look back past the key it knows of.
    const w = s.write({ ...NONE, entries: entries(50, 60, 2) });
    assert.deepEqual(shape(await s.entries(55, 58)), shape(entries(55, 57, 1)));
    await w;
    assert.deepEqual(shape(await s.entries(55, 58)), shape(entries(55, 57, 2)));
    assert.deepEqual(await s.entries(61, 70), []);
    // A compaction in flight: its index already bounds what entries() returns.
    const c = s.compact(snapshot(52, 2));
    assert.deepEqual(shape(await s.entries(1, 55)), shape(entries(53, 54, 2)));
    await c;
    assert.deepEqual(shape(await s.entries(1, 55)), shape(entries(53, 54, 2)));
    await s.close();
  });

  it('compaction keeps the segment straddling the snapshot, reads skip its compacted entries, and a reopen agrees', async () => {
    const path = freshDir();
    const m = new Model();
    let s = await open(path);
    await threeSegments(s, m, 8);
    await s.compact(snapshot(15, 1));
    m.compact(15);
    await expectLog(s, m, 32);
    await s.close();
    assert.deepEqual(await segmentKeys(path), [11, 21]);
    s = await open(path);
    assert.deepEqual((await s.load()).snapshot, { index: 15, term: 1 });
    await expectLog(s, m, 32);
    // A snapshot at a segment's last entry removes it; a shadowed segment is judged by its
    // effective range, not by what it holds.
    await both(s, m, entries(25, 26, 2, 8));
    await s.compact(snapshot(20, 1));
    m.compact(20);
    await expectLog(s, m, 32);
    await s.compact(snapshot(24, 1)); // segment 21 (21..30 stored) ends at 24 now: it goes
    m.compact(24);
    await expectLog(s, m, 32);
    await s.close();
    assert.deepEqual(await segmentKeys(path), [25]);
    s = await open(path);
    await expectLog(s, m, 32);
    // A write right after the snapshot leaves the straddling segment with nothing above it.
    await s.write({ hardState: null, snapshot: snapshot(25, 2), entries: entries(26, 27, 3, 8) });
    m.compact(25);
    m.write(entries(26, 27, 3, 8));
    await expectLog(s, m, 32);
    // A snapshot past the end removes every segment; the log restarts right after it.
    await s.compact(snapshot(40, 3));
    m.compact(40);
    await expectLog(s, m, 45);
    await both(s, m, entries(41, 42, 3, 8));
    await s.close();
    assert.deepEqual(await segmentKeys(path), [41]);
    s = await open(path);
    await expectLog(s, m, 45);
    await s.close();
  });

  it('entries(lo, hi) matches the log across segment boundaries, shadowed tails and compactions', async () => {
    const path = freshDir();
    const m = new Model();
    let s = await open(path);
    const step = async (f: () => Promise<void>, g: () => void): Promise<void> => {
      await f();
      g();
      await expectLog(s, m, 36);
    };
    for (let b = 0; b < 6; b++) {
      const es = entries(b * 5 + 1, b * 5 + 5, 1);
      await step(() => s.write({ ...NONE, entries: es }), () => m.write(es));
    }
    const t2 = entries(13, 14, 2);
    await step(() => s.write({ ...NONE, entries: t2 }), () => m.write(t2));
    const t3 = entries(15, 33, 3);
    await step(() => s.write({ ...NONE, entries: t3 }), () => m.write(t3));
    await step(() => s.compact(snapshot(12, 1)), () => m.compact(12));
    s = await (async () => {
      await s.close();
      return open(path);
    })();
    await expectLog(s, m, 36);
    await step(() => s.compact(snapshot(14, 2)), () => m.compact(14));
    await s.close();
  });

  it('refuses at open a segment that compaction should have removed', async () => {
    const path = freshDir();
    const s = await open(path);
    await s.write({ ...NONE, entries: entries(1, 3, 1) });
    await s.compact(snapshot(5, 1));
    await s.close();
    await tamper(path, 'raftwork.segments', 1, encodeSegment(entries(1, 3, 1)));
    await assert.rejects(open(path), (err: unknown) => {
      assert.ok(err instanceof StorageError);
      assert.equal(err.reason, 'corrupted');
      assert.match(err.message, /log segment starting at entry 1 is corrupted \(it holds nothing after the snapshot index 5: its entries 1\.\.3 are at or below it/);
      return true;
    });
  });

  it('refuses a directory written by the old one-record-per-entry layout, and changes nothing', async () => {
    const path = freshDir();
    const env = openLmdb({ path, maxDbs: 64, overlappingSync: false });
    const meta = env.openDB<Buffer, string>('raftwork.meta', { encoding: 'binary' });
    await meta.put('identity', Buffer.from(JSON.stringify({ clusterId: 'conformance', peers: 3, peerIndex: 1, format: 1 })));
    const log = env.openDB<Buffer, number>('raftwork.log', { encoding: 'binary' });
    for (const e of entries(1, 3, 1)) {
      const v = Buffer.alloc(9 + e.data.length);
      v[0] = e.kind;
      v.writeDoubleBE(e.term, 1);
      v.set(e.data, 9);
      await log.put(e.index, v);
    }
    await env.close();
    const before = readFileSync(join(path, 'data.mdb'));
    await assert.rejects(open(path), (err: unknown) => {
      assert.ok(err instanceof StorageError);
      assert.equal(err.reason, 'unknown-format');
      assert.match(err.message, /was written by an older raftwork store format \(one record per log entry in 'raftwork\.log'\)/);
      assert.match(err.message, /does not convert old stores: open it with the raftwork version that wrote it, or move it aside and start this peer on a fresh dataDir/);
      return true;
    });
    assert.deepEqual(readFileSync(join(path, 'data.mdb')), before);
  });

  it('opens an old-layout directory whose log is empty: there is nothing to convert', async () => {
    const path = freshDir();
    const env = openLmdb({ path, maxDbs: 64, overlappingSync: false });
    const meta = env.openDB<Buffer, string>('raftwork.meta', { encoding: 'binary' });
    await meta.put('identity', Buffer.from(JSON.stringify({ clusterId: 'conformance', peers: 3, peerIndex: 1, format: 1 })));
    env.openDB('raftwork.log', { encoding: 'binary' });
    await env.close();
    const s = await open(path);
    await s.write({ ...NONE, entries: [entry(1, 1)] });
    await s.close();
    const t = await open(path);
    assert.deepEqual(shape((await t.load()).entries), shape([entry(1, 1)]));
    await t.close();
  });
});
