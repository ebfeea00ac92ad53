// The worker-pool path must give the same verdicts as the single-thread path.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  type KvOperation,
  type ModelName,
  CheckerPool,
  HistoryError,
  checkOperations,
  checkOperationsByName,
  checkOperationsParallel,
  groupPartitions,
  kvModel,
  parseJepsenRegisterLog,
  parseKvHistory,
  registerModel,
} from '../../src/check/index.js';
import { ETCD_LINEARIZABLE, ETCD_NOT_LINEARIZABLE, KV_FILES, readData } from './data.js';

describe('parallel checking on a piscina pool', () => {
  let pool: CheckerPool;
  before(() => {
    pool = new CheckerPool({ threads: 2 });
  });
  after(async () => {
    await pool.close();
  });

  for (const name of KV_FILES) {
    test(`kv ${name}: pool verdict equals sync verdict`, async () => {
      const ops = parseKvHistory(readData(`kv/${name}.txt`));
      const sync = checkOperations(kvModel, ops);
      const par = await pool.check('kv', ops);
      assert.equal(par.mode, 'pool');
      assert.equal(par.result, sync.result);
      assert.equal(par.result, name.endsWith('-ok') ? 'ok' : 'illegal');
      assert.deepEqual(
        par.partitions.map((p) => [p.index, p.label, p.operations]),
        sync.partitions.map((p) => [p.index, p.label, p.operations]),
      );
      if (par.result === 'illegal') {
        const why = par.illegal;
        assert.ok(why !== undefined);
        assert.equal(par.partitions[why.partition].result, 'illegal');
        assert.match(why.message, /not linearizable/);
      }
    });
  }

  for (const n of [...ETCD_LINEARIZABLE, ...ETCD_NOT_LINEARIZABLE]) {
    test(`etcd_${n}: pool verdict equals sync verdict`, async () => {
      const ops = parseJepsenRegisterLog(readData(`jepsen/etcd_${n}.txt`));
      const sync = checkOperations(registerModel, ops);
      const par = await pool.check('register', ops);
      assert.equal(par.result, sync.result);
      assert.equal(par.result, ETCD_LINEARIZABLE.includes(n) ? 'ok' : 'illegal');
    });
  }

  test('c50-bad: the first illegal partition stops the other worker', async () => {
    // Four keys of c50-bad are far too expensive to refute; the pool must not wait for them.
    const ops = parseKvHistory(readData('kv/c50-bad.txt'));
    const t0 = performance.now();
    const r = await pool.check('kv', ops);
    assert.equal(r.result, 'illegal');
    assert.ok(r.partitions.some((p) => p.result === 'skipped'));
    assert.ok(performance.now() - t0 < 10_000);
  });

  test('a deadline answers unknown on the pool too', async () => {
    const ops = parseKvHistory(readData('kv/c50-bad.txt')).filter((o) => o.input.key === '0');
    const r = await pool.check('kv', ops, { timeoutMs: 200 });
    assert.equal(r.result, 'unknown');
    assert.equal(r.partitions[0].stopped, 'deadline');
  });

  test('bad input is rejected before any work is sent', async () => {
    await assert.rejects(pool.check('nope' as ModelName, []), /unknown model "nope"; known models: kv, register/);
    const backwards: KvOperation[] = [{ clientId: 0, input: { op: 'get', key: 'k' }, call: 5, output: { value: '' }, return: 4 }];
    await assert.rejects(pool.check('kv', backwards), HistoryError);
  });
});

describe('checkOperationsParallel', () => {
  test('small histories stay in the calling thread', async () => {
    const ops = parseKvHistory(readData('kv/c10-bad.txt'));
    const r = await checkOperationsParallel('kv', ops);
    assert.equal(r.mode, 'sync');
    assert.equal(r.result, 'illegal');
  });

  test('minOperations: 0 forces a pool, which is closed afterwards', async () => {
    const ops = parseKvHistory(readData('kv/c10-ok.txt'));
    const r = await checkOperationsParallel('kv', ops, { minOperations: 0, threads: 2 });
    assert.equal(r.mode, 'pool');
    assert.equal(r.result, 'ok');
    const bad = await checkOperationsParallel('kv', parseKvHistory(readData('kv/c10-bad.txt')), { minOperations: 0 });
    assert.equal(bad.result, 'illegal');
    assert.equal(bad.mode, 'pool');
  });

  test('large histories go to the pool by default', async () => {
    const ops = parseKvHistory(readData('kv/c50-ok.txt'));
    assert.ok(ops.length < 2000);
    const doubled = [...ops, ...ops.map((o) => ({ ...o, input: { ...o.input, key: `${o.input.key}'` } }))];
    const r = await checkOperationsParallel('kv', doubled, { threads: 2 });
    assert.equal(r.mode, 'pool');
    assert.equal(r.result, 'ok');
    assert.equal(r.partitions.length, 20);
  });

  test('unknown model names and malformed histories get clear errors', async () => {
    await assert.rejects(checkOperationsParallel('etcd' as ModelName, []), /unknown model "etcd"; known models: kv, register/);
    assert.throws(() => checkOperationsByName('etcd' as ModelName, []), /unknown model "etcd"/);
    const backwards: KvOperation[] = [{ clientId: 2, input: { op: 'put', key: 'k', value: 'v' }, call: 10, output: {}, return: 3 }];
    await assert.rejects(checkOperationsParallel('kv', backwards, { minOperations: 0 }), /returns at 3, before its call at 10/);
    assert.throws(() => checkOperationsByName('kv', backwards), HistoryError);
  });

  test('a closed pool refuses work; close is idempotent', async () => {
    const pool = new CheckerPool({ threads: 1 });
    await pool.close();
    await pool.close();
    await assert.rejects(pool.check('kv', []), /CheckerPool is closed/);
  });
});

describe('groupPartitions', () => {
  test('balances by size and covers every partition once', () => {
    const parts = [10, 1, 7, 3, 3, 2].map((n) => new Array<number>(n).fill(0));
    const groups = groupPartitions(parts, 2);
    assert.equal(groups.length, 2);
    assert.deepEqual(groups.flat().sort((a, b) => a - b), [0, 1, 2, 3, 4, 5]);
    const loads = groups.map((g) => g.reduce((s, i) => s + parts[i].length, 0));
    assert.ok(Math.abs(loads[0] - loads[1]) <= 2, `loads ${loads.join('/')}`);
    assert.deepEqual(groupPartitions([], 4), []);
    assert.equal(groupPartitions(parts, 10).length, parts.length);
  });
});
