/**
 * The store's API on one store: each operation's semantics, value types, scans, the three read
 * consistencies, and every bad input: each must fail with a clear, typed error and change nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from '../../src/cluster/cluster.js';
import { DataDirError, InvalidArgumentError, RaftworkError } from '../../src/errors.js';
import {
  MAX_KEY_BYTES,
  NoQuorumError,
  SizeLimitError,
  StoreClosedError,
  TypeMismatchError,
  openStore,
  type Store,
} from '../../src/kv/index.js';

async function withStore(fn: (s: Store) => Promise<void>, opts: Parameters<typeof openStore>[0] = {}): Promise<void> {
  const store = await openStore({ peers: 3, sync: false, ...opts });
  try {
    await fn(store);
  } finally {
    await store.close();
  }
}

async function collect(it: AsyncIterable<[string, unknown]>): Promise<Array<[string, unknown]>> {
  const out: Array<[string, unknown]> = [];
  for await (const p of it) out.push(p);
  return out;
}

test('put, get, append, delete, cas: semantics and value types', async () => {
  await withStore(async (s) => {
    assert.equal(await s.get('missing'), undefined);
    await s.put('k', 'v');
    assert.equal(await s.get('k'), 'v');
    await s.append('k', 'more');
    assert.equal(await s.get('k'), 'vmore');
    await s.append('new', 'first');
    assert.equal(await s.get('new'), 'first', 'append to a missing key starts from empty');

    assert.equal(await s.cas('k', 'nope', 'x'), false);
    assert.equal(await s.get('k'), 'vmore');
    assert.equal(await s.cas('k', 'vmore', 'x'), true);
    assert.equal(await s.get('k'), 'x');
    assert.equal(await s.cas('absent', undefined, 'created'), true, 'undefined expects absence');
    assert.equal(await s.cas('absent', undefined, 'again'), false);
    assert.equal(await s.cas('other', 'x', 'y'), false, 'a string never matches an absent key');

    assert.equal(await s.delete('k'), true);
    assert.equal(await s.delete('k'), false);
    assert.equal(await s.get('k'), undefined);

    const bytes = new Uint8Array([0, 1, 2, 255]);
    await s.put('b', bytes);
    const got = await s.get('b');
    assert.ok(got instanceof Uint8Array && !Buffer.isBuffer(got), 'bytes come back as a plain Uint8Array');
    assert.deepEqual([...(got as Uint8Array)], [0, 1, 2, 255]);
    await s.append('b', new Uint8Array([7]));
    assert.deepEqual([...((await s.get('b')) as Uint8Array)], [0, 1, 2, 255, 7]);
    assert.equal(await s.cas('b', 'string', new Uint8Array([1])), false, 'a string never equals bytes');
    assert.equal(await s.cas('b', new Uint8Array([0, 1, 2, 255, 7]), 'now a string'), true);
    assert.equal(await s.get('b'), 'now a string');

    await s.put('unicode ключ 🔑', 'значение ✓');
    assert.equal(await s.get('unicode ключ 🔑'), 'значение ✓');
    await s.put('empty', '');
    assert.equal(await s.get('empty'), '', 'an empty string is a value, not absence');
  });
});

test('append of a different type fails with TypeMismatchError and changes nothing', async () => {
  await withStore(async (s) => {
    await s.put('t', 'text');
    await assert.rejects(s.append('t', new Uint8Array([1])), TypeMismatchError);
    assert.equal(await s.get('t'), 'text');
    await s.put('u', new Uint8Array([1]));
    await assert.rejects(s.append('u', 'x'), (e: unknown) => e instanceof TypeMismatchError && e.code === 'ETYPE');
  });
});

test('scan: ordered by key bytes, under a prefix, across pages, at every consistency', async () => {
  await withStore(async (s) => {
    const keys = ['user/10', 'user/2', 'user/1', 'users', 'user0', 'a', 'user/\u00e9', 'user/z'];
    await Promise.all(keys.map((k) => s.put(k, `v:${k}`)));
    const all = await collect(s.scan());
    const sorted = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    assert.deepEqual(all.map(([k]) => k), sorted);
    const users = await collect(s.scan({ prefix: 'user/', pageSize: 2 }));
    assert.deepEqual(users.map(([k]) => k), ['user/1', 'user/10', 'user/2', 'user/z', 'user/\u00e9']);
    assert.deepEqual(users.map(([, v]) => v), users.map(([k]) => `v:${k}`));
    for (const consistency of ['lease', 'stale'] as const) {
      // A stale scan may reach a follower a little behind: wait for it.
      let got: Array<[string, unknown]> = [];
      for (let i = 0; i < 50; i++) {
        got = await collect(s.scan({ prefix: 'user/', consistency }));
        if (got.length === 5) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(got.length, 5, consistency);
    }
    assert.deepEqual(await collect(s.scan({ prefix: 'nothing/' })), []);
    // Many pages.
    const c = s.client();
    await Promise.all(Array.from({ length: 1200 }, (_, i) => c.put(`many/${String(i).padStart(4, '0')}`, 'x')));
    const many = await collect(s.scan({ prefix: 'many/', pageSize: 1000 }));
    assert.equal(many.length, 1200);
    assert.equal(many[0]![0], 'many/0000');
    assert.equal(many[1199]![0], 'many/1199');
  });
});

test('lease and stale reads; independent clients', async () => {
  await withStore(async (s) => {
    const a = s.client();
    const b = s.client();
    assert.notEqual(a.id, b.id);
    await a.put('x', '1');
    assert.equal(await b.get('x'), '1', 'a linearizable read sees a write acknowledged before it began');
    assert.equal(await b.get('x', { consistency: 'lease' }), '1');
    let stale: unknown;
    for (let i = 0; i < 50 && stale !== '1'; i++) {
      stale = await b.get('x', { consistency: 'stale' });
      if (stale !== '1') await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(stale, '1', 'stale reads catch up');
  });
});

test('bad input: wrong types, empty and oversized keys and values, bad options; nothing is written', async () => {
  await withStore(
    async (s) => {
      const bad = (p: Promise<unknown>, re: RegExp) =>
        assert.rejects(p, (e: unknown) => e instanceof InvalidArgumentError && re.test((e as Error).message));
      await bad(s.put(42 as unknown as string, 'v'), /key must be a string, got number 42/);
      await bad(s.put('k', 42 as unknown as string), /value must be a string or a Uint8Array, got number 42/);
      await bad(s.put('k', { a: 1 } as unknown as string), /got an object/);
      await bad(s.put('k', null as unknown as string), /got null/);
      await bad(s.put('', 'v'), /key must not be empty/);
      await bad(s.put('\ud800', 'v'), /lone surrogate/);
      await bad(s.get(undefined as unknown as string), /key must be a string, got undefined/);
      await bad(s.get('k', { consistency: 'strong' as 'lease' }), /^get\("k"\): consistency must be 'linearizable', 'lease' or 'stale', got "strong"/);
      await bad(s.get('k', 'lease' as unknown as { consistency: 'lease' }), /^get\("k"\): options must be an object/);
      await assert.rejects(collect(s.scan({ consistency: 'strong' as 'lease' })), /^InvalidArgumentError: scan\(\): consistency must be/);
      await bad(s.cas('k', 5 as unknown as string, 'v'), /expected must be a string or a Uint8Array/);
      await bad(s.delete([] as unknown as string), /got an array/);
      await assert.rejects(collect(s.scan({ prefix: 7 as unknown as string })), /prefix must be a string/);
      await assert.rejects(collect(s.scan({ pageSize: 0 })), /pageSize must be an integer from 1 to 1000/);

      const bigKey = 'k'.repeat(MAX_KEY_BYTES + 1);
      await assert.rejects(s.put(bigKey, 'v'), (e: unknown) => e instanceof SizeLimitError && e.what === 'key' && e.code === 'ETOOLARGE' && /limit is 1024/.test(e.message));
      await assert.rejects(s.put('k', 'v'.repeat(1025)), (e: unknown) => e instanceof SizeLimitError && e.what === 'value' && /maxValueBytes = 1024/.test(e.message));
      await assert.rejects(s.put('k', new Uint8Array(1025)), SizeLimitError);
      await s.put('k', 'v'.repeat(1024));
      await assert.rejects(s.append('k', 'x'.repeat(2000)), SizeLimitError);
      assert.equal(((await s.get('k')) as string).length, 1024);
      assert.equal(await s.get('\u00e9'.repeat(10)), undefined);
      assert.deepEqual(await collect(s.scan()), [['k', 'v'.repeat(1024)]], 'nothing else was written');
    },
    { maxValueBytes: 1024 },
  );
  await assert.rejects(openStore({ peers: 0 }), /peers must be an integer from 1 to 15, got 0/);
  await assert.rejects(openStore({ bogus: 1 } as never), /unknown option 'bogus'/);
  await assert.rejects(openStore({ timeoutMs: -1 }), /timeoutMs must be an integer/);
  await assert.rejects(openStore({ maxValueBytes: 1e9 }), /maxValueBytes must be an integer from 0 to 16777216/);
  await assert.rejects(openStore({ dir: '' }), /dir must be a non-empty path string/);
  await assert.rejects(openStore({ sessionTimeoutMs: 2000, timeoutMs: 5000 }), /sessionTimeoutMs \(2000\) must be longer than timeoutMs \(5000\)/);
  await assert.rejects(openStore(null as never), /needs an options object/);
});

test('calls after close fail with StoreClosedError; operations in flight too; close is idempotent', async () => {
  const s = await openStore({ peers: 3, sync: false });
  const c = s.client();
  await s.put('k', 'v');
  const inflight = s.put('k2', 'v2').then(
    () => 'done',
    (e: unknown) => e,
  );
  await s.close();
  await s.close();
  const r = await inflight;
  assert.ok(r === 'done' || r instanceof StoreClosedError, String(r));
  await assert.rejects(s.put('k', 'v'), (e: unknown) => e instanceof StoreClosedError && e.code === 'ECLOSED' && /store is closed/.test((e as Error).message));
  await assert.rejects(s.get('k'), StoreClosedError);
  await assert.rejects(c.append('k', 'v'), StoreClosedError);
  await assert.rejects(collect(s.scan()), StoreClosedError);
  assert.throws(() => s.client(), StoreClosedError);
});

test('no quorum for longer than timeoutMs: NoQuorumError says how many peers are reachable, and the store recovers', async () => {
  await withStore(
    async (s) => {
      await s.put('k', 'before');
      await s.cluster.crash(1);
      await s.cluster.crash(2);
      const t0 = performance.now();
      await assert.rejects(s.put('k', 'lost?'), (e: unknown) => {
        assert.ok(e instanceof NoQuorumError, String(e));
        assert.equal(e.code, 'ENOQUORUM');
        assert.deepEqual(e.running, [0]);
        assert.equal(e.outcome, 'unknown');
        assert.match(e.message, /no quorum for 800 ms: 1 of 3 peers running \(0\), [01] of them answering( \(0\))?; a leader needs 2 peers that run and reach each other/);
        assert.ok(e.reachable.every((p) => p === 0));
        assert.match(e.message, /may or may not have been applied/);
        return true;
      });
      const took = performance.now() - t0;
      assert.ok(took >= 750 && took < 3000, `gave up after ${took} ms`);
      await assert.rejects(s.get('k'), (e: unknown) => e instanceof NoQuorumError && e.outcome === 'not-applied' && /Nothing was read/.test(e.message));
      await s.cluster.restart(1);
      const v = await s.get('k');
      assert.ok(v === 'before' || v === 'lost?', `got ${String(v)}`);
      await s.put('k', 'after');
      assert.equal(await s.get('k'), 'after');
    },
    { timeoutMs: 800 },
  );
});

test('a dir holding something else: a plain cluster, a file, foreign files; a store reopens', async () => {
  const root = await mkdtemp(join(tmpdir(), 'raftwork-kv-dirs-'));
  try {
    const plain = join(root, 'plain');
    const c = await Cluster.start({ peers: 3, dataDir: plain, sync: false });
    await c.close();
    await assert.rejects(openStore({ dir: plain, peers: 3 }), (e: unknown) => e instanceof DataDirError && /holds a raftwork cluster that is not a KV store/.test((e as Error).message));

    const file = join(root, 'file');
    await writeFile(file, 'hello');
    await assert.rejects(openStore({ dir: file }), (e: unknown) => e instanceof RaftworkError && /is a file, not a directory/.test((e as Error).message));

    const foreign = join(root, 'foreign');
    await mkdir(foreign);
    await writeFile(join(foreign, 'notes.txt'), 'mine');
    await assert.rejects(openStore({ dir: foreign }), (e: unknown) => e instanceof DataDirError && /not a raftwork cluster directory/.test((e as Error).message));
    assert.deepEqual(await readdir(foreign), ['notes.txt'], 'nothing was written there');

    const dir = join(root, 'store');
    const s1 = await openStore({ dir, peers: 3, sync: false });
    await s1.put('k', 'v');
    await s1.close();
    await assert.rejects(openStore({ dir, peers: 5 }), (e: unknown) => e instanceof DataDirError && /holds a 3-peer cluster/.test((e as Error).message));
    const s2 = await openStore({ dir, peers: 3, sync: false });
    try {
      assert.equal(await s2.get('k'), 'v');
    } finally {
      await s2.close();
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
