/**
 * The threadpool advice: lmdb-js holds a libuv pool thread per writing LMDB environment, so a
 * process whose pool is smaller than its LMDB peers (plus one) is told how to fix it, once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { holdLmdbPeers, poolSizeFrom, resetThreadpoolWatch, threadpoolAdvice } from '../../src/cluster/threadpool.js';
import { Cluster } from '../../src/cluster/cluster.js';

test("the pool size is read as libuv reads UV_THREADPOOL_SIZE: default 4, at least 1, at most 1024", () => {
  assert.equal(poolSizeFrom(undefined), 4);
  assert.equal(poolSizeFrom(''), 4);
  assert.equal(poolSizeFrom('abc'), 4);
  assert.equal(poolSizeFrom('8'), 8);
  assert.equal(poolSizeFrom('0'), 1);
  assert.equal(poolSizeFrom('5000'), 1024);
});

test('advice is given when LMDB peers + 1 exceed the pool, and names the variable and a size that fits', () => {
  assert.equal(threadpoolAdvice(3, 4), null);
  const a = threadpoolAdvice(5, 4);
  assert.ok(a !== null);
  assert.match(a, /5 LMDB peers/);
  assert.match(a, /pool has 4 threads/);
  assert.match(a, /UV_THREADPOOL_SIZE=8/);
  assert.equal(threadpoolAdvice(5, 6), null);
  assert.match(threadpoolAdvice(9, 4) ?? '', /UV_THREADPOOL_SIZE=10/);
});

test('peers of every open cluster count together, a closed one stops counting, and the warning comes once', () => {
  resetThreadpoolWatch();
  const warnings: string[] = [];
  const onWarning = (w: Error & { code?: string }): void => {
    if (w.code === 'RAFTWORK_THREADPOOL') warnings.push(w.message);
  };
  process.on('warning', onWarning);
  return new Promise<void>((resolve) => setImmediate(resolve))
    .then(async () => {
      const a = holdLmdbPeers(3, '4');
      await new Promise((r) => setImmediate(r));
      assert.equal(warnings.length, 0, '3 peers fit a pool of 4');
      a();
      const b = holdLmdbPeers(3, '4');
      a(); // releasing twice changes nothing
      const c = holdLmdbPeers(3, '4');
      await new Promise((r) => setImmediate(r));
      assert.equal(warnings.length, 1, '6 peers in two clusters do not fit');
      assert.match(warnings[0]!, /6 LMDB peers/);
      b();
      c();
      holdLmdbPeers(7, '4')();
      await new Promise((r) => setImmediate(r));
      assert.equal(warnings.length, 1, 'the warning is given once per process');
    })
    .finally(() => {
      process.off('warning', onWarning);
      resetThreadpoolWatch();
    });
});

test('Cluster.start warns about a 5-peer LMDB cluster in a process with the default pool, and a memory cluster never', { timeout: 60_000 }, async () => {
  resetThreadpoolWatch();
  const saved = process.env['UV_THREADPOOL_SIZE'];
  const warnings: string[] = [];
  const onWarning = (w: Error & { code?: string }): void => {
    if (w.code === 'RAFTWORK_THREADPOOL') warnings.push(w.message);
  };
  process.on('warning', onWarning);
  delete process.env['UV_THREADPOOL_SIZE'];
  try {
    const mem = await Cluster.start({ peers: 5, storage: 'memory' });
    await mem.close();
    await new Promise((r) => setImmediate(r));
    assert.equal(warnings.length, 0);
    const c = await Cluster.start({ peers: 5, sync: false });
    await c.close();
    await new Promise((r) => setImmediate(r));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /5 LMDB peers .* pool has 4 threads/);
  } finally {
    if (saved === undefined) delete process.env['UV_THREADPOOL_SIZE'];
    else process.env['UV_THREADPOOL_SIZE'] = saved;
    process.off('warning', onWarning);
    resetThreadpoolWatch();
  }
});
