import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open as openLmdb } from 'lmdb';
import { LmdbLogStore, SNAPSHOT_CHUNK_BYTES } from '../../src/storage/lmdb-store.js';
import { StorageError, type IdentityRequest } from '../../src/storage/log-store.js';
import { DEFAULT_IDENTITY, entries, entry, runLogStoreTests, type StoreHarness } from './conformance.js';
import { DB_SEGMENTS, encodeSegment, tamper } from './segment-format.js';

const root = mkdtempSync(join(tmpdir(), 'raftwork-lmdb-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
function freshDir(): string {
  return join(root, `s${n++}`);
}

runLogStoreTests('lmdb', async (): Promise<StoreHarness> => {
  const path = freshDir();
  return {
    open: (identity) => LmdbLogStore.open({ path, identity: identity ?? DEFAULT_IDENTITY, sync: true }),
    cleanup: async () => rmSync(path, { recursive: true, force: true }),
  };
});

const NONE = { hardState: null, snapshot: null } as const;

function rejectsWith(reason: string, pattern?: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof StorageError, `expected a StorageError, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}

/** A store at `path` holding entries 1..3 (one segment), a hard state and no snapshot, closed. */
async function makeStore(path: string, identity: IdentityRequest = DEFAULT_IDENTITY): Promise<void> {
  const s = await LmdbLogStore.open({ path, identity });
  await s.write({ hardState: { currentTerm: 2, votedFor: 1 }, snapshot: null, entries: entries(1, 3, 1) });
  await s.close();
}

function fileBytes(dir: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const f of readdirSync(dir)) m.set(f, readFileSync(join(dir, f)).toString('base64'));
  return m;
}

describe('LmdbLogStore: durability settings', () => {
  it('opens with overlappingSync off and syncing on (noSync only with sync: false)', async () => {
    const path = freshDir();
    const s = await LmdbLogStore.open({ path, identity: DEFAULT_IDENTITY });
    assert.deepEqual(s.durability(), { overlappingSync: false, noSync: false, eventTurnBatching: true });
    await s.close();
    const t = await LmdbLogStore.open({ path, identity: DEFAULT_IDENTITY, sync: false });
    assert.deepEqual(t.durability(), { overlappingSync: false, noSync: true, eventTurnBatching: true });
    await t.close();
  });

  it('coalesces writes issued in one event-loop turn into one LMDB transaction', async () => {
    const path = freshDir();
    const s = await LmdbLogStore.open({ path, identity: DEFAULT_IDENTITY, sync: false });
    const txnBefore = s.env.getStats() as { lastTxnId: number };
    const ps = [];
    for (let b = 0; b < 20; b++) ps.push(s.write({ hardState: { currentTerm: b + 1, votedFor: -1 }, snapshot: null, entries: entries(b * 5 + 1, b * 5 + 5, b + 1) }));
    await Promise.all(ps);
    const txnAfter = s.env.getStats() as { lastTxnId: number };
    assert.equal(txnAfter.lastTxnId - txnBefore.lastTxnId, 1);
    assert.equal((await s.load()).entries.length, 100);
    await s.close();
  });
});

describe('LmdbLogStore: opening what is not a raftwork store', () => {
  it('refuses a directory that holds other files, and leaves them alone', async () => {
    const path = freshDir();
    mkdirSync(path);
    writeFileSync(join(path, 'notes.txt'), 'mine');
    const before = fileBytes(path);
    await assert.rejects(LmdbLogStore.open({ path, identity: DEFAULT_IDENTITY }), rejectsWith('not-a-store', /notes\.txt/));
    assert.deepEqual(fileBytes(path), before);
  });

  it('refuses a path that is a file', async () => {
    const path = freshDir();
    writeFileSync(path, 'x');
    await assert.rejects(LmdbLogStore.open({ path, identity: DEFAULT_IDENTITY }), rejectsWith('not-a-store', /is a file/));
    assert.equal(readFileSync(path, 'utf8'), 'x');
  });

  it('refuses a data.mdb that is not LMDB, and leaves it alone', async () => {
    const path = freshDir();
    mkdirSync(path);
    writeFileSync(join(path, 'data.mdb'), Buffer.alloc(8192, 7));
    const before = fileBytes(path);
    await assert.rejects(LmdbLogStore.open({ path, identity: DEFAULT_IDENTITY }), rejectsWith('not-a-store', /not an LMDB file/));
    assert.deepEqual(fileBytes(path), before);
  });

  it('refuses an LMDB environment of another program, and leaves its data alone', async () => {
    const path = freshDir();
    const env = openLmdb({ path, overlappingSync: false });
    await env.put('user-key', 'user-value');
    await env.close();
    await assert.rejects(LmdbLogStore.open({ path, identity: DEFAULT_IDENTITY }), rejectsWith('not-a-store', /user-key/));
    const again = openLmdb({ path, overlappingSync: false });
    assert.equal(again.get('user-key'), 'user-value');
    assert.deepEqual([...again.getKeys()], ['user-key']);
    await again.close();
  });

  it('opening a missing directory creates a store; an empty directory is fine too', async () => {
    const a = join(freshDir(), 'nested', 'peer-0');
    const s = await LmdbLogStore.open({ path: a, identity: DEFAULT_IDENTITY });
    await s.close();
    assert.ok(existsSync(join(a, 'data.mdb')));
    const b = freshDir();
    mkdirSync(b);
    const t = await LmdbLogStore.open({ path: b, identity: DEFAULT_IDENTITY });
    await t.close();
  });

  it('refuses a second open of the same directory in one thread', async () => {
    const path = freshDir();
    const s = await LmdbLogStore.open({ path, identity: DEFAULT_IDENTITY });
    await assert.rejects(LmdbLogStore.open({ path, identity: DEFAULT_IDENTITY }), rejectsWith('in-use'));
    await s.close();
    const t = await LmdbLogStore.open({ path, identity: DEFAULT_IDENTITY });
    await t.close();
  });
});

describe('LmdbLogStore: identity', () => {
  it('says what was wrong and what to do', async () => {
    const path = freshDir();
    await makeStore(path);
    await assert.rejects(
      LmdbLogStore.open({ path, identity: { peers: 5, peerIndex: 1 } }),
      rejectsWith('identity-mismatch', /created for a 3-peer cluster but opened for 5; use a fresh dataDir or the same peers/),
    );
    await assert.rejects(LmdbLogStore.open({ path, identity: { peers: 3, peerIndex: 0 } }), rejectsWith('identity-mismatch', /holds peer 1 .* opened as peer 0/));
    await assert.rejects(
      LmdbLogStore.open({ path, identity: { clusterId: 'b', peers: 3, peerIndex: 1 } }),
      rejectsWith('identity-mismatch', /belongs to cluster conformance but was opened for cluster b/),
    );
    // Nothing was lost by the refusals.
    const s = await LmdbLogStore.open({ path, identity: DEFAULT_IDENTITY });
    assert.equal((await s.load()).entries.length, 3);
    await s.close();
  });

  it('rejects an impossible identity request before touching the disk', async () => {
    const path = freshDir();
    await assert.rejects(LmdbLogStore.open({ path, identity: { peers: 3, peerIndex: 3 } }), /peerIndex/);
    await assert.rejects(LmdbLogStore.open({ path, identity: { peers: 0, peerIndex: 0 } }), /peers/);
    assert.equal(existsSync(path), false);
  });

  it('accepts the format field the peer driver passes', async () => {
    const path = freshDir();
    const s = await LmdbLogStore.open({ path, identity: { clusterId: 'c', peers: 1, peerIndex: 0, format: 1 } });
    assert.deepEqual(s.identity, { clusterId: 'c', peers: 1, peerIndex: 0, format: 1 });
    await s.close();
  });
});

describe('LmdbLogStore: corrupted records', () => {
  type Edit = [db: string, key: string | number, value: Buffer | null];
  const seg = (key: number, value: Buffer | null): Edit => [DB_SEGMENTS, key, value];
  const cases: Array<[string, Edit[], string, RegExp]> = [
    ['an identity that is not JSON', [['raftwork.meta', 'identity', Buffer.from('{oops')]], 'corrupted', /identity record is corrupted/],
    ['an identity with fields out of range', [['raftwork.meta', 'identity', Buffer.from('{"clusterId":"x","peers":3,"peerIndex":7,"format":1}')]], 'corrupted', /identity/],
    ['an identity of a newer format', [['raftwork.meta', 'identity', Buffer.from('{"clusterId":"x","peers":3,"peerIndex":1,"format":2}')]], 'unknown-format', /format 2/],
    ['a missing identity next to data', [['raftwork.meta', 'identity', null]], 'corrupted', /identity record is corrupted \(it is missing/],
    ['a truncated hard state', [['raftwork.meta', 'hardState', Buffer.from([1, 2, 3])]], 'corrupted', /hard state record/],
    ['a snapshot record of the wrong size', [['raftwork.meta', 'snapshot', Buffer.alloc(5, 1)]], 'corrupted', /snapshot record/],
    // The store holds one segment at 1: entries 1..3 of term 1 with 3 bytes of data each
    // (16 bytes per entry after the 5-byte header: 53 bytes).
    ['a log segment shorter than its header', [seg(1, Buffer.from([1, 0]))], 'corrupted', /log segment starting at entry 1 is corrupted \(it is 2 bytes, shorter than its 5-byte header/],
    ['a log segment of an unknown format version', [seg(1, encodeSegment(entries(1, 3, 1), { version: 7 }))], 'corrupted', /log segment starting at entry 1 .*format version is 7; this raftwork reads segment version 1/],
    ['a truncated log segment', [seg(1, encodeSegment(entries(1, 3, 1)).subarray(0, -2))], 'corrupted', /log segment starting at entry 1 .*truncated: entry 3 \(3 of 3\) has 3 bytes of data, ending at byte 53, past the value's 51 bytes/],
    ['a log segment cut inside an entry header', [seg(1, encodeSegment(entries(1, 3, 1)).subarray(0, 24))], 'corrupted', /log segment starting at entry 1 .*truncated: entry 2 \(2 of 3\) starts at byte 21/],
    ['a log segment that counts more entries than it holds', [seg(1, encodeSegment(entries(1, 3, 1), { count: 4 }))], 'corrupted', /truncated: entry 4 \(4 of 4\)/],
    ['a log segment with bytes after its last entry', [seg(1, Buffer.concat([encodeSegment(entries(1, 3, 1)), Buffer.from([0])]))], 'corrupted', /it has 1 bytes after its last entry 3/],
    ['a log segment that holds no entries', [seg(1, encodeSegment([]))], 'corrupted', /log segment starting at entry 1 .*holds no entries/],
    ['a log entry of an unknown kind', [seg(1, encodeSegment([entry(1, 1), { ...entry(2, 1), kind: 9 as 0 }, entry(3, 1)]))], 'corrupted', /log segment starting at entry 1 .*entry 2 has kind 9 and term 1/],
    ['a log entry whose term goes down', [seg(1, encodeSegment([entry(1, 2), entry(2, 1), entry(3, 2)]))], 'corrupted', /log segment starting at entry 1 .*entry 2 has term 1, below the term 2 before it/],
    ['a log that does not start at entry 1', [seg(4, encodeSegment(entries(4, 5, 1))), seg(1, null)], 'corrupted', /log segment starting at entry 4 .*entry 1 is missing before it \(the log starts at entry 1\)/],
    ['a log with a gap between segments', [seg(5, encodeSegment(entries(5, 6, 1)))], 'corrupted', /log segment starting at entry 5 .*entry 4 is missing before it \(the segment before it, at 1, ends at 3\)/],
    ['a log segment key that is not an index', [seg(0, encodeSegment([entry(0, 1)]))], 'corrupted', /log segment key 0 record is corrupted \(it is not a log index\)/],
  ];
  for (const [what, edits, reason, pattern] of cases) {
    it(`refuses ${what}, with advice, and changes nothing`, async () => {
      const path = freshDir();
      await makeStore(path);
      for (const [db, key, value] of edits) await tamper(path, db, key, value);
      const before = readFileSync(join(path, 'data.mdb'));
      await assert.rejects(LmdbLogStore.open({ path, identity: DEFAULT_IDENTITY }), (err: unknown) => {
        rejectsWith(reason, pattern)(err);
        if (reason === 'corrupted') assert.match((err as Error).message, /restore the directory from a backup|fresh dataDir/);
        return true;
      });
      assert.deepEqual(readFileSync(join(path, 'data.mdb')), before);
    });
  }

  it('reports a missing snapshot chunk when the snapshot is read', async () => {
    const path = freshDir();
    const s = await LmdbLogStore.open({ path, identity: DEFAULT_IDENTITY });
    await s.compact({ index: 1, term: 1, data: new Uint8Array(SNAPSHOT_CHUNK_BYTES * 2 + 5) });
    await s.close();
    await tamper(path, 'raftwork.snapshot', 1, null);
    const t = await LmdbLogStore.open({ path, identity: DEFAULT_IDENTITY });
    await assert.rejects(t.readSnapshot(), rejectsWith('corrupted', /snapshot chunk 1/));
    assert.equal((await t.readSnapshotChunk(0, 10))?.data.length, 10);
    await t.close();
  });
});

describe('LmdbLogStore: scale', () => {
  it('stores a long log, truncates and compacts it, and loads it back', async () => {
    const path = freshDir();
    const s = await LmdbLogStore.open({ path, identity: DEFAULT_IDENTITY, sync: false });
    const ps = [];
    for (let b = 0; b < 200; b++) ps.push(s.write({ ...NONE, entries: entries(b * 256 + 1, b * 256 + 256, 1, 64) }));
    await Promise.all(ps);
    await s.write({ ...NONE, entries: entries(40_001, 40_010, 2, 64) });
    await s.compact({ index: 30_000, term: 1, data: new Uint8Array(100) });
    await s.close();
    const t = await LmdbLogStore.open({ path, identity: DEFAULT_IDENTITY, sync: false });
    const st = await t.load();
    assert.equal(st.entries.length, 10_010);
    assert.equal(st.entries[0]!.index, 30_001);
    assert.equal(st.entries.at(-1)!.index, 40_010);
    assert.equal(st.entries.at(-1)!.term, 2);
    assert.equal(t.logBytes(), 10_010 * (64 + 17));
    await t.close();
  });
});
