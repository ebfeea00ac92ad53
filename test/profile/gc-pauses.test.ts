/**
 * The profiler's GC pause recorder: it sees the collections of the thread it runs on, on the
 * clock it is given, and the summary keeps only the window asked for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants } from 'node:perf_hooks';
import { GcRecorder, summarizeGc, type GcLog } from '../../src/profile/gc-pauses.js';

/** Allocates objects that live a while, so young collections must copy them. */
function churn(): number {
  let keep: object[] = [];
  let n = 0;
  for (let i = 0; i < 400_000; i++) {
    keep.push({ i, b: new Uint8Array(16) });
    if (keep.length > 50_000) {
      n += keep.length;
      keep = [];
    }
  }
  return n + keep.length;
}

test("a recorder sees the thread's scavenges while it runs, on the clock it was given, and none after it stops", async () => {
  const shift = 1_000_000;
  const from = performance.now() + shift;
  const rec = new GcRecorder(shift);
  churn();
  const log = await rec.stop();
  const to = performance.now() + shift;
  const minors = log.kind.filter((k) => k === constants.NODE_PERFORMANCE_GC_MINOR).length;
  assert.ok(minors >= 1, `saw ${minors} scavenges`);
  for (const at of log.at) assert.ok(at >= from && at <= to, 'times are on the shifted clock, within the recording');
  const g = summarizeGc(log, from, to);
  assert.equal(g.minor.count, minors);
  assert.ok(g.minor.maxMs > 0 && g.minor.maxMs <= g.minor.totalMs);
  const before = log.at.length;
  churn();
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(log.at.length, before, 'nothing is added once stopped');
});

test('a summary counts only the collections that began within its window, by kind', () => {
  const { NODE_PERFORMANCE_GC_MINOR: minor, NODE_PERFORMANCE_GC_MAJOR: major, NODE_PERFORMANCE_GC_INCREMENTAL: incremental } = constants;
  const log: GcLog = {
    at: [5, 10, 20, 30, 40, 60],
    ms: [9, 2, 6, 11, 1, 7],
    kind: [minor, minor, minor, major, incremental, minor],
  };
  const g = summarizeGc(log, 10, 50);
  assert.deepEqual(g.minor, { count: 2, totalMs: 8, maxMs: 6 });
  assert.deepEqual(g.major, { count: 1, totalMs: 11, maxMs: 11 });
  assert.deepEqual(g.other, { count: 1, totalMs: 1, maxMs: 1 });
  assert.equal(g.elapsedMs, 40);
  assert.deepEqual(summarizeGc(log, 100, 50).minor, { count: 0, totalMs: 0, maxMs: 0 });
});
