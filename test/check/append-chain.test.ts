// The pruning rule (Model.guard): on a key with only gets and appends, an append that leaves the
// chain of prefixes through the longest value read is dropped when tried. It must never change a
// verdict, only how soon the search reaches it. Step counts are deterministic; no times here.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type KvInput, type KvOperation, type KvOutput, type Model, PartitionSearch, kvModel, searchPartition } from '../../src/check/index.js';
import type { KvState } from '../../src/check/kv-model.js';
import { createRng } from '../../src/core/rng.js';

const unguarded: Model<KvState, KvInput, KvOutput> = { ...kvModel, guard: () => null };

function op(clientId: number, input: KvInput, call: number, output: KvOutput, ret: number): KvOperation {
  return { clientId, input, call, output, return: ret };
}

/**
 * `n` long appends (all running until the end, as appends retried across lost replies do)
 * interleaved with `n` short ones, so that a short append's return separates each long append's
 * call from the next: the ranks, which only reorder a run of calls, cannot put the long ones in
 * their order. They took effect last, in reverse call order; one get at the end sees them all.
 */
function longAppendsBetweenShortOnes(n: number): KvOperation[] {
  const ops: KvOperation[] = [];
  let value = '';
  for (let i = 0; i < n; i++) {
    ops.push(op(i, { op: 'append', key: 'k', value: `L${i};` }, 3 * i, {}, 1000));
    ops.push(op(100 + i, { op: 'append', key: 'k', value: `s${i};` }, 3 * i + 1, {}, 3 * i + 2));
    value += `s${i};`;
  }
  for (let i = n - 1; i >= 0; i--) value += `L${i};`;
  ops.push(op(200, { op: 'get', key: 'k' }, 2000, { value }, 2001));
  return ops;
}

test('long appends whose calls returns separate are ordered by the value read, not tried order by order', () => {
  const ops = longAppendsBetweenShortOnes(10);
  const guarded = searchPartition(kvModel, ops);
  assert.equal(guarded.result, 'ok');
  assert.ok(guarded.steps <= ops.length * ops.length, `guarded: ${guarded.steps} steps for ${ops.length} operations`);
  const blind = new PartitionSearch(unguarded, ops);
  const status = blind.run(100 * guarded.steps);
  assert.ok(status === 'running', `ranks alone: ${status} after ${blind.steps} steps (guarded: ${guarded.steps})`);
});

test('the guard applies only to keys with nothing but gets and appends, and a value read', () => {
  const ops = longAppendsBetweenShortOnes(2);
  assert.ok(kvModel.guard?.(ops) != null);
  assert.equal(kvModel.guard?.([...ops, op(9, { op: 'put', key: 'k', value: 'z' }, 3000, {}, 3001)]), null);
  assert.equal(kvModel.guard?.(ops.filter((o) => o.input.op !== 'get')), null, 'no value read: no chain to keep to');
});

/**
 * A random history of gets and appends on one key: a sequential run, each operation then given
 * a call before and a return after its place (so the history is linearizable), and, when `lie`,
 * one get's value altered (usually no longer linearizable).
 */
function randomHistory(seed: number, lie: boolean): KvOperation[] {
  const rng = createRng(seed);
  const n = rng.int(4, 11);
  let value = '';
  const ops: KvOperation[] = [];
  for (let i = 0; i < n; i++) {
    const at = 10 * i;
    const call = at - rng.int(0, 25);
    const ret = at + rng.int(1, 25);
    if (rng.int(0, 3) === 0) ops.push(op(i, { op: 'get', key: 'k' }, call, { value }, ret));
    else {
      const piece = `p${i};`;
      value += piece;
      // Now and then the outcome was never learned: it may have happened, or not.
      if (rng.int(0, 8) === 0) ops.push(op(i, { op: 'append', key: 'k', value: piece }, call, { unknown: true }, Infinity));
      else ops.push(op(i, { op: 'append', key: 'k', value: piece }, call, {}, ret));
    }
  }
  ops.push(op(n, { op: 'get', key: 'k' }, 10 * n, { value }, 10 * n + 1));
  if (lie) {
    const gets = ops.filter((o) => o.input.op === 'get' && (o.output.value ?? '').length > 0);
    const g = gets[rng.int(0, gets.length)];
    if (g !== undefined) {
      const pieces = g.output.value!.split(';').filter((x) => x !== '');
      const k = rng.int(0, pieces.length);
      const swapped = [...pieces];
      swapped[k] = pieces[(k + 1) % pieces.length]!;
      swapped[(k + 1) % pieces.length] = pieces[k]!;
      (g as { output: KvOutput }).output = { value: swapped.map((x) => `${x};`).join('') };
    }
  }
  return ops;
}

test('the guard never changes a verdict: 600 random histories, linearizable and not, checked with and without it', () => {
  let illegal = 0;
  for (let seed = 1; seed <= 600; seed++) {
    const ops = randomHistory(seed, seed % 2 === 0);
    const withGuard = searchPartition(kvModel, ops);
    const without = searchPartition(unguarded, ops);
    assert.equal(withGuard.result, without.result, `seed ${seed}: ${JSON.stringify(ops)}`);
    if (seed % 2 === 1) assert.equal(withGuard.result, 'ok', `seed ${seed} is linearizable by construction`);
    if (withGuard.result === 'illegal') illegal++;
  }
  assert.ok(illegal > 100, `only ${illegal} of the altered histories were illegal: the test would not see a guard that hides violations`);
});
