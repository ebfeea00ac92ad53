import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBacking, MemoryLogStore } from '../../src/storage/memory-store.js';
import { StorageError } from '../../src/storage/log-store.js';
import { DEFAULT_IDENTITY, entries, runLogStoreTests, type StoreHarness } from './conformance.js';

runLogStoreTests('memory', async (): Promise<StoreHarness> => {
  const backing = new MemoryBacking();
  return {
    open: async (identity) => new MemoryLogStore(backing, identity ? { identity } : {}),
    cleanup: async () => undefined,
  };
});

const NONE = { hardState: null, snapshot: null } as const;

describe('MemoryLogStore', () => {
  it('resolves a write on a microtask, before the next event-loop turn', async () => {
    const s = new MemoryLogStore();
    let done = false;
    void s.write({ ...NONE, entries: entries(1, 1, 1) }).then(() => (done = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(done, true);
  });

  it('a restart on the same backing sees every resolved write', async () => {
    const backing = new MemoryBacking();
    const a = new MemoryLogStore(backing, { identity: DEFAULT_IDENTITY });
    await a.write({ hardState: { currentTerm: 3, votedFor: 1 }, snapshot: null, entries: entries(1, 4, 3) });
    await a.close();
    const b = new MemoryLogStore(backing, { identity: DEFAULT_IDENTITY });
    const st = await b.load();
    assert.deepEqual(st.hardState, { currentTerm: 3, votedFor: 1 });
    assert.equal(st.entries.length, 4);
    assert.equal(b.identity?.clusterId, 'conformance');
  });

  it('a crash loses exactly the writes still in flight, never half a batch', async () => {
    const backing = new MemoryBacking();
    const a = new MemoryLogStore(backing);
    await a.write({ hardState: { currentTerm: 1, votedFor: 0 }, snapshot: null, entries: entries(1, 3, 1) });
    let resolved = false;
    void a.write({ hardState: { currentTerm: 2, votedFor: 2 }, snapshot: null, entries: entries(2, 6, 2) }).then(() => (resolved = true));
    void a.crash(); // before the microtask that would make it durable
    await new Promise((r) => setImmediate(r));
    assert.equal(resolved, false);
    await assert.rejects(a.write({ ...NONE, entries: entries(4, 4, 1) }), StorageError);
    const b = new MemoryLogStore(backing);
    const st = await b.load();
    assert.deepEqual(st.hardState, { currentTerm: 1, votedFor: 0 });
    assert.deepEqual(
      st.entries.map((e) => [e.index, e.term]),
      [
        [1, 1],
        [2, 1],
        [3, 1],
      ],
    );
    // The lost write appended in place into the array the versions share; the new store must
    // not see it, and its own appends must not disturb the durable version.
    await b.write({ ...NONE, entries: entries(4, 5, 9) });
    assert.deepEqual(
      (await b.load()).entries.map((e) => e.term),
      [1, 1, 1, 9, 9],
    );
  });

  it('a newer store on the backing supersedes the old one (a restart without crash())', async () => {
    const backing = new MemoryBacking();
    const a = new MemoryLogStore(backing);
    void a.write({ ...NONE, entries: entries(1, 2, 1) });
    const b = new MemoryLogStore(backing); // opened before a's write became durable
    await b.write({ ...NONE, entries: entries(1, 1, 7) });
    assert.deepEqual(
      (await b.load()).entries.map((e) => [e.index, e.term]),
      [[1, 7]],
    );
    await a.close(); // its dropped write does not hold close() up
  });

  it('keeps a committed version intact while later versions append and truncate', async () => {
    const backing = new MemoryBacking();
    const s = new MemoryLogStore(backing);
    await s.write({ ...NONE, entries: entries(1, 3, 1) });
    const before = backing.state;
    const p1 = s.write({ ...NONE, entries: entries(4, 5, 1) });
    const p2 = s.write({ ...NONE, entries: entries(2, 2, 2) });
    // Nothing is durable yet: the durable state is the old version, unchanged.
    assert.equal(backing.state, before);
    assert.equal(before.log.lastIndex, 3);
    assert.deepEqual(
      before.log.arr.slice(0, 3).map((e) => e.term),
      [1, 1, 1],
    );
    await Promise.all([p1, p2]);
    assert.deepEqual(
      (await s.load()).entries.map((e) => [e.index, e.term]),
      [
        [1, 1],
        [2, 2],
      ],
    );
  });

  it('compacting a long log releases the dead prefix', async () => {
    const s = new MemoryLogStore();
    for (let b = 0; b < 10; b++) await s.write({ ...NONE, entries: entries(b * 1000 + 1, b * 1000 + 1000, 1) });
    await s.compact({ index: 9500, term: 1, data: new Uint8Array(0) });
    const log = s.backing.state.log;
    assert.equal(log.arr.length, 500);
    assert.equal(log.base, 9501);
    assert.equal((await s.entries(9999, 10_001)).length, 2);
  });

  it('opened without an identity, it reports none', () => {
    assert.equal(new MemoryLogStore().identity, null);
  });
});
