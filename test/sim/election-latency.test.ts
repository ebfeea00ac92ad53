/**
 * electionLatency(): the simulator's measure of how long a cluster goes without a leader after
 * the leader crashes. Deterministic by seed, so it can compare election rules to the millisecond.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { electionLatency } from '../../src/sim/election-latency.js';

test('election latency is reproducible by seed', () => {
  const a = electionLatency({ seeds: 20, firstSeed: 7, peers: 5 });
  const b = electionLatency({ seeds: 20, firstSeed: 7, peers: 5 });
  assert.deepEqual(a, b);
  assert.equal(a.samples.length + a.stuck.length, 20);
});

test('every crash is followed by a new leader, no sooner than a timeout can run out and well within the longest', () => {
  const r = electionLatency({ seeds: 100, peers: 5 });
  assert.deepEqual(r.stuck, [], 'a seed elected no new leader');
  assert.equal(r.samples.length, 100);
  // A follower's timer (at least 15 ticks of 10 ms, counted from its last heartbeat, at most
  // 100 ms before the crash, less one tick of phase) cannot run out before 40 ms; one election
  // round after the shortest of four timeouts (at most 300 ms) ends well before 400 ms, and a
  // rare split vote adds another timeout.
  for (const ms of r.samples) {
    assert.ok(ms >= 40, `a new leader ${ms.toFixed(1)} ms after the crash: sooner than any timeout`);
    assert.ok(ms < 1000, `a new leader only ${ms.toFixed(1)} ms after the crash`);
  }
  const sorted = [...r.samples].sort((x, y) => x - y);
  const p50 = sorted[50]!;
  assert.ok(p50 > 80 && p50 < 200, `p50 ${p50.toFixed(1)} ms: the first of four timeouts of 150-300 ms, less the time since the last heartbeat`);
});

test('with proposals until the crash, elections take longer: followers heard from the leader just before it died', () => {
  // Idle, the leader heartbeats every 100 ms, so the followers' timers have run for up to 100 ms
  // at the crash; busy, an entry went out within the last 20 ms.
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const idle = electionLatency({ seeds: 100, peers: 5 });
  const busy = electionLatency({ seeds: 100, peers: 5, busy: true });
  assert.deepEqual(busy.stuck, []);
  assert.ok(median(busy.samples) > median(idle.samples) + 20, `busy p50 ${median(busy.samples)}, idle p50 ${median(idle.samples)}`);
  // The shortest timeout (150 ms) less one tick of phase and the up to 20 ms since the last entry.
  for (const ms of busy.samples) assert.ok(ms >= 115, `busy: a new leader ${ms.toFixed(1)} ms after the crash, before any timeout could run out`);
});

test('election latency refuses a cluster that cannot elect after a crash, and a seed count that is not positive', () => {
  assert.throws(() => electionLatency({ seeds: 10, peers: 2 }), /at least 3 peers/);
  assert.throws(() => electionLatency({ seeds: 0, peers: 5 }), /positive integer/);
});
