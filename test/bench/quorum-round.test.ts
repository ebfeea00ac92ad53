/**
 * The quorum-round limit: a Raft-shaped skeleton's round (bench/quorum-round.ts) caps what 64
 * clients, each one put at a time, can get; the report holds the put figure and the put goal to it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PUT_ENTRY_BYTES } from '../../bench/kv.js';
import { measureQuorumRound } from '../../bench/quorum-round.js';
import { kvBound, quorumRoundCeiling, targets, throughputBound } from '../../bench/report.js';
import type { KvFigure, Limits, ThroughputFigure } from '../../bench/types.js';
import { Writer, encodeWrite, Op } from '../../src/kv/codec.js';
import type { Dist } from '../../src/profile/stats.js';

const dist = (mean: number): Dist => ({ n: 100, mean, min: mean, p50: mean, p90: mean, p99: mean, max: mean });

function limits(roundMeanMs: number | null, entries = 64): Limits {
  return {
    portRtt: dist(0.08),
    portPacked: {},
    lmdbTxn: dist(0.35),
    lmdbBatch: {},
    fsync: dist(0.1),
    lmdbConcurrent: {},
    lmdbConcurrentTxn: { 3: 0.55 },
    ...(roundMeanMs === null ? {} : { quorumRound: { 3: { peers: 3, entries, entryBytes: PUT_ENTRY_BYTES, dist: dist(roundMeanMs) } } }),
  };
}

function puts(opsPerSec: number): KvFigure {
  return { id: 'kv/put/3p/64c', op: 'put', consistency: null, peers: 3, size: 64, clients: 64, outstanding: 64, warmupSeconds: 5, opsPerSec, operations: 1, seconds: 1, dist: dist(1), sketch: [], bound: null };
}

const putTarget = (l: Limits, f: KvFigure) =>
  targets({ limits: l, throughput: [], latency: [], election: [], idle: null, kv: [f] }).find((t) => t.name.startsWith('KV puts/s'))!;

test('the ceiling of 64 clients is 64 over the mean quorum round', () => {
  const c = quorumRoundCeiling(limits(1.6), 3, 64)!;
  assert.equal(c.value, 40_000);
  assert.match(c.what, /^64 in flight \/ mean quorum round, 1\.60 ms \(64 x 103 B; hops and durable writes, no Raft logic\)$/);
  assert.equal(quorumRoundCeiling(limits(null), 3, 64), null, 'no ceiling from a run that did not measure the round');
  assert.equal(quorumRoundCeiling(limits(1.6, 32), 3, 64), null, 'no ceiling from rounds of another size');
  assert.equal(quorumRoundCeiling(limits(1.6), 5, 64), null, 'no ceiling for another cluster size');
});

test('the put figure is held to the quorum round when that is the tightest bound', () => {
  // 64 / (0.55 + 0.08) ms = 101,587/s from the concurrent transaction; 64 / 1.6 ms = 40,000/s from the round.
  const b = kvBound(puts(30_000), limits(1.6))!;
  assert.equal(b.value, 40_000);
  assert.equal(b.ratio, 0.75);
  const loose = kvBound(puts(30_000), limits(0.5))!;
  assert.ok(Math.abs(loose.value - 64_000 / 0.63) < 1e-6, `a round shorter than the transaction bound does not replace it: ${loose.value}`);
});

test('the log alone with 64 small commands in flight is held to the quorum round too', () => {
  const fig = (size: number, outstanding: number): ThroughputFigure => ({
    id: 'x', storage: 'lmdb', peers: 3, size, outstanding, call: 'proposeBatch', commitsPerSec: 20_000, commits: 1, seconds: 1,
    logBytesPerEntry: null, warmupSeconds: 0.4, windowMs: 40, windows: null, bound: null,
  });
  const l = { ...limits(1.6), lmdbConcurrent: { 3: { 64: 286_000, 1024: 100_000 } } };
  assert.equal(throughputBound(fig(64, 64), l)!.value, 40_000);
  assert.equal(throughputBound(fig(64, 1024), l)!.value, 286_000, 'rounds of another size keep the batch limit');
  assert.equal(throughputBound(fig(1024, 64), l)!.value, 100_000, 'large commands keep the batch limit');
});

test('a put goal above this run\'s ceiling is reported as out of reach, with the round', () => {
  const t = putTarget(limits(1.6), puts(30_000));
  assert.equal(t.met, false);
  assert.ok(t.floor !== undefined, 'no floor for a goal above the ceiling');
  assert.match(t.floor, /a round of at most 1\.28 ms/);
  assert.match(t.floor, /ceiling is 40,000\/s/);
});

test('a put goal below this run\'s ceiling carries no floor note', () => {
  assert.equal(putTarget(limits(1.0), puts(30_000)).floor, undefined);
  assert.equal(putTarget(limits(null), puts(30_000)).floor, undefined);
});

test('the round carries entries of the size the store logs for one of the bench\'s puts', () => {
  // The largest client id (52 bits) and a seq and ackedBelow of a long run (3-byte varints).
  const w = new Writer(256);
  encodeWrite(w, 2 ** 52 - 1, 2 ** 20, 2 ** 20 - 64, { op: Op.Put, key: 'key-0123', value: new Uint8Array(64) });
  const segmentEntryHeader = 1 + 8 + 4;
  assert.equal(PUT_ENTRY_BYTES, w.pos + segmentEntryHeader);
});

test('the skeleton measures rounds on real peers, and fails clearly when a peer cannot open its environment', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'raftwork-quorum-'));
  try {
    const q = await measureQuorumRound((n) => join(dir, n), 3, 64, PUT_ENTRY_BYTES, 100);
    assert.equal(q.peers, 3);
    assert.equal(q.entries, 64);
    assert.ok(q.dist.n >= 20 && q.dist.mean > 0 && q.dist.p99 >= q.dist.p50, JSON.stringify(q.dist));
    // A path under a regular file cannot be an environment: the peer's open fails.
    writeFileSync(join(dir, 'a-file'), '');
    await assert.rejects(measureQuorumRound((n) => join(dir, 'a-file', n), 3, 64, PUT_ENTRY_BYTES, 100), /quorum-round limit \(3 peers\) could not start its peers: ENOTDIR/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
