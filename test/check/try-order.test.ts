// The search heuristic (Model.tryOrder): ranks change how fast a linearization is found, never
// the verdict. Step counts are deterministic, so the tests compare them, not times.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type KvInput, type KvOperation, type KvOutput, type Model, PartitionSearch, checkOperations, kvModel, searchPartition } from '../../src/check/index.js';
import type { KvState } from '../../src/check/kv-model.js';

// Ranks alone: without the guard (append-chain.test.ts), which would find these orders by itself.
const unranked: Model<KvState, KvInput, KvOutput> = { ...kvModel, tryOrder: () => null, guard: () => null };

function op(clientId: number, input: KvInput, call: number, output: KvOutput, ret: number): KvOperation {
  return { clientId, input, call, output, return: ret };
}

/**
 * `batches` rounds of `width` concurrent appends to one key (round b runs from 10b to 10b + 5),
 * applied in reverse call order within each round, and one get at the end that sees them all:
 * the shape of a whole-cluster crash, where every client's append waits across the outage.
 */
function concurrentAppends(batches: number, width: number): KvOperation[] {
  const ops: KvOperation[] = [];
  let value = '';
  for (let b = 0; b < batches; b++) {
    for (let c = 0; c < width; c++) ops.push(op(c, { op: 'append', key: 'k', value: `c${c}.${b};` }, 10 * b + c * 0.1, {}, 10 * b + 5));
    for (let c = width - 1; c >= 0; c--) value += `c${c}.${b};`;
  }
  ops.push(op(0, { op: 'get', key: 'k' }, 10 * batches, { value }, 10 * batches + 1));
  return ops;
}

test('a run of concurrent appends no get observes is found in one pass when appends are ranked by the value read', () => {
  const ops = concurrentAppends(6, 5);
  const ranked = searchPartition(kvModel, ops);
  assert.equal(ranked.result, 'ok');
  assert.ok(ranked.steps <= 2 * ops.length, `ranked: ${ranked.steps} steps for ${ops.length} operations`);
  // Unranked, every order of every round is a different state until the get refutes it.
  const blind = new PartitionSearch(unranked, ops);
  const status = blind.run(50 * ranked.steps);
  assert.ok(status === 'running' || blind.steps > 20 * ranked.steps, `unranked: ${status} after ${blind.steps} steps`);
});

test('ranks never change a verdict: an append seen out of real-time order is still illegal', () => {
  // b is called after a returned, yet the only get sees b before a.
  const ops = [
    op(0, { op: 'append', key: 'k', value: 'a;' }, 0, {}, 1),
    op(1, { op: 'append', key: 'k', value: 'b;' }, 2, {}, 3),
    op(2, { op: 'get', key: 'k' }, 4, { value: 'b;a;' }, 5),
  ];
  assert.equal(checkOperations(kvModel, ops).result, 'illegal');
  assert.equal(checkOperations(unranked, ops).result, 'illegal');
});

test('misleading ranks cost time, not the verdict: a piece that also occurs inside another', () => {
  // 'a;' first occurs inside 'xa;' in the longest value, so it is ranked too early.
  const ops = [
    op(0, { op: 'append', key: 'k', value: 'xa;' }, 0, {}, 2),
    op(1, { op: 'append', key: 'k', value: 'a;' }, 1, {}, 2),
    op(2, { op: 'get', key: 'k' }, 3, { value: 'xa;a;' }, 4),
  ];
  assert.equal(checkOperations(kvModel, ops).result, 'ok');
  assert.equal(checkOperations(kvModel, [...ops.slice(0, 2), op(2, { op: 'get', key: 'k' }, 3, { value: 'a;xa;a;' }, 4)]).result, 'illegal');
});

test('the kv model ranks only keys with nothing but gets and appends', () => {
  const appendsOnly = concurrentAppends(1, 3);
  assert.ok(kvModel.tryOrder?.(appendsOnly) != null);
  const withPut = [...appendsOnly, op(9, { op: 'put', key: 'k', value: 'z' }, 100, {}, 101)];
  assert.equal(kvModel.tryOrder?.(withPut), null);
  assert.equal(kvModel.tryOrder?.(appendsOnly.filter((o) => o.input.op !== 'get')), null, 'no value read: nothing to rank by');
});
