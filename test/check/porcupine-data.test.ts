// The checker against porcupine's own test histories, with the verdicts porcupine's tests expect.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  checkOperations,
  kvModel,
  parseJepsenRegisterLog,
  parseKvHistory,
  registerModel,
} from '../../src/check/index.js';
import { ETCD_LINEARIZABLE, ETCD_NOT_LINEARIZABLE, KV_FILES, readData } from './data.js';

function etcd(n: string) {
  return parseJepsenRegisterLog(readData(`jepsen/etcd_${n}.txt`), { source: `etcd_${n}.txt` });
}

function kv(name: string) {
  return parseKvHistory(readData(`kv/${name}.txt`), { source: `${name}.txt` });
}

describe('jepsen etcd histories (register model)', () => {
  for (const n of ETCD_LINEARIZABLE) {
    test(`etcd_${n} is linearizable`, () => {
      const r = checkOperations(registerModel, etcd(n));
      assert.equal(r.result, 'ok');
      assert.equal(r.illegal, undefined);
      assert.equal(r.partitions.length, 1);
    });
  }
  for (const n of ETCD_NOT_LINEARIZABLE) {
    test(`etcd_${n} is not linearizable, with an explanation`, () => {
      const ops = etcd(n);
      const r = checkOperations(registerModel, ops);
      assert.equal(r.result, 'illegal');
      const why = r.illegal;
      assert.ok(why !== undefined);
      assert.equal(why.partition, 0);
      assert.ok(why.longestPrefix.length > 0 && why.longestPrefix.length < ops.length);
      assert.equal(why.longestPrefixDescribed.length, why.longestPrefix.length);
      assert.match(why.message, /not linearizable/);
      assert.match(why.message, new RegExp(`${why.longestPrefix.length} of ${ops.length}`));
    });
  }

  test(':info operations stay open to the end (return Infinity, unknown output)', () => {
    const text = readData('jepsen/etcd_000.txt');
    const infos = text.split('\n').filter((l) => /\t:info\t/.test(l)).length;
    const ops = etcd('000');
    const open = ops.filter((o) => o.return === Infinity);
    assert.ok(infos > 0);
    // Every :info, plus any invocation never completed, is open.
    assert.ok(open.length >= infos);
    for (const o of open) assert.deepEqual(o.output, { unknown: true });
  });
});

describe('kv histories (kv model, partitioned by key)', () => {
  for (const name of KV_FILES) {
    const expected = name.endsWith('-ok') ? 'ok' : 'illegal';
    test(`${name} is ${expected === 'ok' ? '' : 'not '}linearizable`, () => {
      const ops = kv(name);
      const r = checkOperations(kvModel, ops);
      assert.equal(r.result, expected);
      assert.equal(r.mode, 'sync');
      assert.equal(r.partitions.reduce((s, p) => s + p.operations, 0), ops.length);
      for (const p of r.partitions) assert.match(p.label, /^key "/);
      if (expected === 'illegal') {
        const why = r.illegal;
        assert.ok(why !== undefined);
        assert.equal(r.partitions[why.partition].result, 'illegal');
        assert.match(why.message, /^partition \d+ \(key "\d+"\) is not linearizable/);
        // The checker stops at the first illegal partition unless told otherwise.
        assert.ok(r.partitions.every((p) => p.result === 'illegal' || p.result === 'ok' || p.result === 'skipped'));
      }
    });
  }

  test('c01-bad explains the failing get on its key', () => {
    const r = checkOperations(kvModel, kv('c01-bad'));
    const why = r.illegal;
    assert.ok(why !== undefined);
    assert.ok(why.rejected.length > 0);
    assert.match(why.rejected[0], /^get\("\d+"\) -> /);
    assert.match(why.message, /then the model rejects get/);
  });

  test('c10-bad with stopOnIllegal: false decides every partition', () => {
    const r = checkOperations(kvModel, kv('c10-bad'), { stopOnIllegal: false });
    assert.equal(r.result, 'illegal');
    assert.ok(r.partitions.every((p) => p.result === 'ok' || p.result === 'illegal'));
    assert.ok(r.partitions.filter((p) => p.result === 'illegal').length > 1);
  });

  test('a partition too large to refute in time answers unknown (deadline)', () => {
    // Key "0" of c50-bad alone has a search space far too large to exhaust; the other keys of
    // that file are refuted quickly, which is why the whole file still answers illegal.
    const ops = kv('c50-bad').filter((o) => o.input.key === '0');
    const t0 = performance.now();
    const r = checkOperations(kvModel, ops, { timeoutMs: 200 });
    assert.equal(r.result, 'unknown');
    assert.equal(r.partitions[0].result, 'unknown');
    assert.equal(r.partitions[0].stopped, 'deadline');
    assert.ok(performance.now() - t0 < 2000);
  });

  test('the memo limit answers unknown instead of exhausting memory', () => {
    const ops = kv('c50-bad').filter((o) => o.input.key === '0');
    const r = checkOperations(kvModel, ops, { maxMemoStates: 5000 });
    assert.equal(r.result, 'unknown');
    assert.equal(r.partitions[0].stopped, 'memory');
    assert.ok(r.partitions[0].memoStates <= 5000 + 20_000);
  });
});
