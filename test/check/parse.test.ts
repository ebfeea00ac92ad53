// Readers for porcupine's history formats.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Keyword, ParseError, parseEdn, parseJepsenRegisterLog, parseKvHistory } from '../../src/check/index.js';
import { readData } from './data.js';

describe('EDN reader', () => {
  test('maps, keywords, strings, numbers, nil, vectors', () => {
    const v = parseEdn('{:process 3, :type :ok, :f :cas, :key "a \\"b\\"", :value [1 nil "x"], :n -2.5}');
    assert.deepEqual(v, {
      process: 3,
      type: new Keyword('ok'),
      f: new Keyword('cas'),
      key: 'a "b"',
      value: [1, null, 'x'],
      n: -2.5,
    });
  });

  test('errors name the column', () => {
    assert.throws(() => parseEdn('{:a 1'), /missing '}'/);
    assert.throws(() => parseEdn('{:a}'), /odd number of forms/);
    assert.throws(() => parseEdn('"abc'), /unterminated string/);
    assert.throws(() => parseEdn('{:a 1} 2'), /trailing input at column/);
  });
});

describe('kv history reader', () => {
  test('pairs invocations with completions per process, times are line numbers', () => {
    const text = [
      '{:process 0, :type :invoke, :f :put, :key "1", :value "a"}',
      '{:process 1, :type :invoke, :f :get, :key "1", :value nil}',
      '{:process 0, :type :ok, :f :put, :key "1", :value "a"}',
      '{:process 1, :type :ok, :f :get, :key "1", :value "a"}',
      '',
    ].join('\n');
    assert.deepEqual(parseKvHistory(text), [
      { clientId: 0, input: { op: 'put', key: '1', value: 'a' }, call: 0, output: {}, return: 2 },
      { clientId: 1, input: { op: 'get', key: '1' }, call: 1, output: { value: 'a' }, return: 3 },
    ]);
  });

  test('fail, info, and never-completed operations', () => {
    const text = [
      '{:process 0, :type :invoke, :f :put, :key "1", :value "a"}',
      '{:process 0, :type :fail, :f :put, :key "1", :value "a"}', // certainly did not happen
      '{:process 1, :type :invoke, :f :cas, :key "1", :value ["a" "b"]}',
      '{:process 1, :type :fail, :f :cas, :key "1", :value ["a" "b"]}', // compare failed
      '{:process 2, :type :invoke, :f :append, :key "1", :value "z"}',
      '{:process 2, :type :info, :f :append, :key "1", :value "z"}', // unknown outcome
      '{:process 3, :type :invoke, :f :delete, :key "1", :value nil}', // never completes
      '{:process :nemesis, :type :info, :f :start, :value nil}',
    ].join('\n');
    assert.deepEqual(parseKvHistory(text), [
      { clientId: 1, input: { op: 'cas', key: '1', expected: 'a', value: 'b' }, call: 2, output: { ok: false }, return: 3 },
      { clientId: 2, input: { op: 'append', key: '1', value: 'z' }, call: 4, output: { unknown: true }, return: Infinity },
      { clientId: 3, input: { op: 'delete', key: '1' }, call: 6, output: { unknown: true }, return: Infinity },
    ]);
  });

  test('malformed histories are rejected with a location', () => {
    const twice = [
      '{:process 0, :type :invoke, :f :get, :key "1", :value nil}',
      '{:process 0, :type :invoke, :f :get, :key "1", :value nil}',
    ].join('\n');
    assert.throws(() => parseKvHistory(twice, { source: 'h.txt' }), (err: unknown) => {
      assert.ok(err instanceof ParseError);
      assert.match(err.message, /^h\.txt:2: process 0 invokes :get while its :get from line 1 is still open/);
      return true;
    });
    assert.throws(() => parseKvHistory('{:process 0, :type :ok, :f :get, :key "1", :value ""}'), /no open invocation/);
    assert.throws(() => parseKvHistory('{:process 0, :type :invoke, :f :frob, :key "1"}'), /unknown kv operation :frob/);
    assert.throws(() => parseKvHistory('{:process 0, :type :later, :f :get, :key "1"}'), /:type must be/);
    assert.throws(() => parseKvHistory('not edn at all {'), /history:1:/);
  });

  test('the porcupine kv files parse completely', () => {
    const ops = parseKvHistory(readData('kv/c10-ok.txt'));
    const lines = readData('kv/c10-ok.txt').split('\n').filter((l) => l.includes(':type :invoke')).length;
    assert.equal(ops.length, lines);
    assert.ok(ops.every((o) => Number.isFinite(o.return) && o.return > o.call));
  });
});

describe('jepsen etcd log reader', () => {
  test('read, write, cas; ok, fail and info', () => {
    const text = [
      'INFO  jepsen.util - 0\t:invoke\t:read\tnil',
      'INFO  jepsen.util - 1\t:invoke\t:write\t4',
      'INFO  jepsen.util - 0\t:ok\t:read\tnil',
      'INFO  jepsen.util - 2\t:invoke\t:cas\t[4 1]',
      'INFO  jepsen.util - 1\t:info\t:write\t:timed-out',
      'INFO  jepsen.util - 2\t:fail\t:cas\t[4 1]',
      'INFO  jepsen.util - 3\t:invoke\t:read\tnil',
      'INFO  jepsen.util - 3\t:fail\t:read\t:timed-out',
      'INFO  jepsen.util - 4\t:invoke\t:cas\t[1 2]',
      'INFO  jepsen.util - 4\t:ok\t:cas\t[1 2]',
      'INFO  jepsen.util - 0\t:invoke\t:read\tnil',
      'INFO  jepsen.util - 0\t:ok\t:read\t3',
      'INFO  jepsen.util - :nemesis\t:info\t:start\tnil',
      'some other log line',
    ].join('\n');
    assert.deepEqual(parseJepsenRegisterLog(text), [
      { clientId: 0, input: { op: 'read' }, call: 0, output: { value: null }, return: 2 },
      { clientId: 1, input: { op: 'write', value: 4 }, call: 1, output: { unknown: true }, return: Infinity },
      { clientId: 2, input: { op: 'cas', from: 4, to: 1 }, call: 3, output: { ok: false }, return: 5 },
      { clientId: 3, input: { op: 'read' }, call: 6, output: { unknown: true }, return: 7 },
      { clientId: 4, input: { op: 'cas', from: 1, to: 2 }, call: 8, output: { ok: true }, return: 9 },
      { clientId: 0, input: { op: 'read' }, call: 10, output: { value: 3 }, return: 11 },
    ]);
  });

  test('a completion of a different function is an error', () => {
    const text = ['INFO  jepsen.util - 0\t:invoke\t:read\tnil', 'INFO  jepsen.util - 0\t:ok\t:write\t1'].join('\n');
    assert.throws(() => parseJepsenRegisterLog(text, { source: 'x.log' }), /^ParseError: x\.log:2: :ok :write completes an :invoke :read$/);
  });
});
