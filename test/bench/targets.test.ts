import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderText, sequentialCommitFloor, targets } from '../../bench/report.js';
import type { BenchReport, LatencyFigure, Limits } from '../../bench/types.js';
import type { Dist } from '../../src/profile/stats.js';

const dist = (p50: number): Dist => ({ n: 100, mean: p50, min: p50, p50, p90: p50, p99: p50, max: p50 });

function limits(txnMs: number, rttMs: number, concurrentTxnMs: number | null): Limits {
  return {
    portRtt: dist(rttMs),
    portPacked: {},
    lmdbTxn: dist(txnMs),
    lmdbBatch: {},
    fsync: dist(0.1),
    lmdbConcurrent: {},
    lmdbConcurrentTxn: concurrentTxnMs === null ? {} : { 3: concurrentTxnMs },
  } as unknown as Limits;
}

function latency(p50Ms: number): LatencyFigure {
  return { id: 'latency/lmdb/3p/64B', storage: 'lmdb', peers: 3, size: 64, dist: dist(p50Ms), sketch: [], bound: null };
}

function report(l: Limits, lat: LatencyFigure[]): Pick<BenchReport, 'limits' | 'throughput' | 'latency' | 'election' | 'idle' | 'kv'> {
  return { limits: l, throughput: [], latency: lat, election: [], idle: null, kv: null };
}

const sequential = (t: ReturnType<typeof targets>) => t.find((x) => x.name.startsWith('sequential commit latency'))!;

test('the sequential commit floor is the concurrent transaction plus two round trips', () => {
  const f = sequentialCommitFloor(limits(0.36, 0.064, 0.47), 3)!;
  assert.ok(Math.abs(f.value - (0.47 + 2 * 0.064)) < 1e-12);
  assert.match(f.what, /2 round trips/);
  assert.equal(sequentialCommitFloor(limits(0.36, 0.064, null), 3), null, 'no floor without the concurrent transaction');
});

test('a latency goal below the floor of its run is reported as out of reach, with the figures', () => {
  // goal 1.3 x (0.36 + 0.064) = 0.551 ms; floor 0.47 + 0.128 = 0.598 ms
  const t = sequential(targets(report(limits(0.36, 0.064, 0.47), [latency(0.9)])));
  assert.equal(t.met, false);
  assert.ok(t.floor !== undefined, 'no floor given for a goal below it');
  assert.match(t.floor, /below this run's floor/);
});

test('a latency goal above the floor of its run carries no floor note', () => {
  // goal 1.3 x (0.36 + 0.064) = 0.551 ms; floor 0.38 + 0.128 = 0.508 ms
  const t = sequential(targets(report(limits(0.36, 0.064, 0.38), [latency(0.9)])));
  assert.equal(t.met, false);
  assert.equal(t.floor, undefined);
});

test('the targets table prints the out-of-reach line under it', () => {
  const partial = report(limits(0.36, 0.064, 0.47), [latency(0.9)]);
  const full = {
    schema: 1,
    startedAt: '2026-01-01T00:00:00Z',
    seconds: 1,
    machine: { cpus: 2, cpuModel: 'x', memoryMiB: 1, platform: 'linux', kernel: 'k', node: 'v20', lmdb: '3', tinybench: '6', otherProcessesCpuPct: null, stealPct: null, loadAvgAtStart: 0 },
    options: { quick: false },
    cluster: { electionTimeoutMs: [150, 300], heartbeatMs: 50, note: '' },
    ...partial,
    latency: [],
    targets: targets(partial),
  } as unknown as BenchReport;
  const text = renderText(full);
  assert.match(text, /Out of reach in this run: sequential commit latency p50, 3 peers, durable: the goal \(\d+ us\) is below this run's floor for a commit, \d+ us/);
});
