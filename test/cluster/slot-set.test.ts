import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SlotSet, type Slotted } from '../../src/cluster/slot-set.js';

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
