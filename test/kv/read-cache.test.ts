import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReadCache } from '../../src/kv/read-cache.js';

const bytes = (n: number, fill = 1): Uint8Array => new Uint8Array(n).fill(fill);

test('a filled key is served from the cache, absent keys included', () => {
  const c = new ReadCache(10, 1 << 20, 1024);
  assert.equal(c.get('a'), undefined, 'not cached yet');
  c.fill('a', bytes(3));
  c.fill('gone', null);
  assert.deepEqual(c.get('a'), bytes(3));
  assert.equal(c.get('gone'), null, 'known absent');
});

test('an applied write updates a cached key and ignores keys not cached', () => {
  const c = new ReadCache(10, 1 << 20, 1024);
  c.fill('a', bytes(3, 1));
  c.update('a', bytes(4, 2));
  assert.deepEqual(c.get('a'), bytes(4, 2));
  c.update('a', null);
  assert.equal(c.get('a'), null, 'a delete is cached as absent');
  c.update('b', bytes(1));
  assert.equal(c.get('b'), undefined, 'writes do not fill the cache');
});

test('an update keeps a copy, not a view into a larger buffer', () => {
  const c = new ReadCache(10, 1 << 20, 1024);
  const batch = new Uint8Array(4096);
  c.fill('a', bytes(1));
  c.update('a', batch.subarray(10, 20));
  const v = c.get('a')!;
  assert.equal(v.buffer.byteLength, 10, 'the cached value owns a buffer of its own size');
});

test('the oldest keys leave first when the key or byte bound is passed; big values are never cached', () => {
  const byKeys = new ReadCache(3, 1 << 20, 1024);
  for (const k of ['a', 'b', 'c', 'd']) byKeys.fill(k, bytes(1));
  assert.equal(byKeys.size, 3);
  assert.equal(byKeys.get('a'), undefined, 'the oldest left');
  assert.ok(byKeys.get('d'));

  const byBytes = new ReadCache(100, 3 * (100 + 2 + 64), 1024);
  for (const k of ['a', 'b', 'c', 'd']) byBytes.fill(k, bytes(100));
  assert.equal(byBytes.size, 3);
  assert.equal(byBytes.get('a'), undefined);

  const small = new ReadCache(100, 1 << 20, 16);
  small.fill('big', bytes(17));
  assert.equal(small.get('big'), undefined, 'too big to cache');
  small.fill('k', bytes(1));
  small.update('k', bytes(17));
  assert.equal(small.get('k'), undefined, 'a key that grows too big leaves the cache');
  small.fill('x', bytes(1));
  small.clear();
  assert.equal(small.size, 0);
  assert.equal(small.get('x'), undefined);
});
