import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestTable } from '../../src/kv/call-table.js';

test('a RequestTable maps ids to values and forgets deleted ones', () => {
  const t = new RequestTable<string>(8);
  for (let id = 1; id <= 5; id++) t.set(id, `v${id}`);
  assert.equal(t.size, 5);
  assert.equal(t.get(3), 'v3');
  assert.equal(t.delete(3), true);
  assert.equal(t.delete(3), false, 'deleted once');
  assert.equal(t.get(3), undefined);
  assert.equal(t.get(3 + 8), undefined, 'an id sharing a slot with a free one is not there');
  t.set(2, 'again');
  assert.equal(t.get(2), 'again', 'set on a held id replaces its value');
  assert.equal(t.size, 4);
});

test('a RequestTable keeps an old id that a newer one displaces from its slot', () => {
  const t = new RequestTable<number>(4);
  t.set(1, 1);
  for (let id = 2; id <= 20; id++) {
    t.set(id, id);
    if (id > 2) t.delete(id - 1);
  }
  // 1 is still in flight: ids 5, 9, 13 and 17 wanted its slot.
  assert.equal(t.get(1), 1);
  assert.equal(t.get(20), 20);
  assert.equal(t.size, 2);
  assert.equal(t.overflowed, 1, 'only the straggler overflowed');
  t.set(1, 111);
  assert.equal(t.get(1), 111, 'an overflowed id can be updated');
  assert.equal(t.delete(1), true);
  assert.equal(t.get(1), undefined);
  assert.equal(t.size, 1);
  assert.equal(t.overflowed, 0);
});

test('a RequestTable keeps many requests in flight at once, past its ring size', () => {
  const t = new RequestTable<number>(16);
  for (let id = 1; id <= 1000; id++) t.set(id, id * 2);
  assert.equal(t.size, 1000);
  for (let id = 1; id <= 1000; id++) assert.equal(t.get(id), id * 2);
  for (let id = 1000; id >= 1; id--) assert.equal(t.delete(id), true);
  assert.equal(t.size, 0);
  assert.equal(t.overflowed, 0);
});

test('a RequestTable refuses ids it cannot hold, and sizes that are not powers of two', () => {
  const t = new RequestTable<number>();
  assert.throws(() => t.set(0, 1), /request id must be an integer from 1 to 2\^31-1, got 0/);
  assert.throws(() => t.set(2 ** 31, 1), /got 2147483648/);
  assert.throws(() => t.set(1.5, 1), /got 1.5/);
  assert.throws(() => new RequestTable(12), /ringSize must be a power of two, got 12/);
});
