import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestTable, SlotSet, type Slotted } from '../../src/kv/call-table.js';

class Item implements Slotted {
  slot = -1;
  constructor(readonly n: number) {}
}

test('a SlotSet adds once, deletes from anywhere, and keeps every other element', () => {
  const s = new SlotSet<Item>();
  const items = Array.from({ length: 6 }, (_, k) => new Item(k));
  for (const x of items) s.add(x);
  s.add(items[2]!);
  assert.equal(s.size, 6, 'adding an element twice keeps one');
  s.delete(items[1]!);
  s.delete(items[1]!);
  s.delete(items[5]!);
  assert.equal(s.size, 4);
  assert.equal(items[1]!.slot, -1, 'a deleted element knows it is in no set');
  assert.deepEqual(s.snapshot([]).map((x) => x.n).sort(), [0, 2, 3, 4]);
  s.add(items[1]!);
  assert.deepEqual(s.snapshot([]).map((x) => x.n).sort(), [0, 1, 2, 3, 4], 'a deleted element can come back');
});

test('a SlotSet ignores an element of another set', () => {
  const a = new SlotSet<Item>();
  const b = new SlotSet<Item>();
  const x = new Item(1);
  const y = new Item(2);
  a.add(x);
  b.add(y);
  a.delete(y);
  assert.equal(a.size, 1);
  assert.equal(y.slot, 0, 'y is still in b');
});

test('a SlotSet snapshot may be changed under: deleting while going through it loses nothing', () => {
  const s = new SlotSet<Item>();
  const items = Array.from({ length: 10 }, (_, k) => new Item(k));
  for (const x of items) s.add(x);
  const seen: number[] = [];
  const buf: Item[] = [];
  for (const x of s.snapshot(buf)) {
    seen.push(x.n);
    if (x.n % 2 === 0) s.delete(x);
    if (x.n === 3) s.add(new Item(100));
  }
  assert.deepEqual(seen.sort((p, q) => p - q), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'every element present at the snapshot is visited once');
  assert.deepEqual(s.snapshot([]).map((x) => x.n).sort((p, q) => p - q), [1, 3, 5, 7, 9, 100]);
});

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
