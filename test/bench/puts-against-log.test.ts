/**
 * The report sets each many-client put figure beside the log's own durable rate with as many
 * commands in flight in the same run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { putsAgainstLog } from '../../bench/report.js';
import type { KvFigure, ThroughputFigure } from '../../bench/types.js';

function put(clients: number, opsPerSec: number, extra: Partial<KvFigure> = {}): KvFigure {
  return { id: `kv/put/3p/${clients}c`, op: 'put', consistency: null, peers: 3, size: 64, clients, outstanding: clients, warmupSeconds: 5, opsPerSec, operations: 1, seconds: 1, dist: null, sketch: [], bound: null, ...extra };
}

function log(outstanding: number, commitsPerSec: number, extra: Partial<ThroughputFigure> = {}): ThroughputFigure {
  return {
    id: `throughput/lmdb/3p/64B/${outstanding}`,
    storage: 'lmdb',
    peers: 3,
    size: 64,
    outstanding,
    call: 'proposeBatch',
    commitsPerSec,
    commits: 1,
    seconds: 1,
    logBytesPerEntry: null,
    warmupSeconds: 0.4,
    windowMs: 100,
    windows: null,
    bound: null,
    ...extra,
  };
}

test('a 64-client put figure is shown as a share of the log alone with 64 commands in flight', () => {
  const lines = putsAgainstLog([put(1, 700), put(64, 22_000)], [log(1, 600), log(64, 40_000), log(1024, 300_000)]);
  assert.deepEqual(lines, [
    '  puts with 64 clients: 22,000/s, 55% of the log alone with 64 commands in flight in this run (throughput/lmdb/3p/64B/64: 40,000/s; the puts measured after 5 s of warm-up, the log\'s after 0.4 s)',
  ]);
});

test('no line without a matching durable proposeBatch figure, or when either figure failed', () => {
  assert.deepEqual(putsAgainstLog([put(64, 22_000)], [log(64, 40_000, { call: 'propose' })]), []);
  assert.deepEqual(putsAgainstLog([put(64, 22_000)], [log(64, 40_000, { storage: 'memory' })]), []);
  assert.deepEqual(putsAgainstLog([put(64, 22_000)], [log(64, Number.NaN, { error: 'peer 0 lost leadership' })]), []);
  assert.deepEqual(putsAgainstLog([put(64, Number.NaN, { error: 'no quorum' })], [log(64, 40_000)]), []);
  assert.deepEqual(putsAgainstLog([put(64, 22_000, { peers: 5 })], [log(64, 40_000)]), []);
});
