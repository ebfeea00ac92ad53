/**
 * The profiler's round report (src/profile/round-report.ts) on hand-made stage logs whose every
 * time is known, so each part of a round can be checked to the microsecond.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RECORD_FIELDS, Stage, type StageDump } from '../../src/profile/stage-log.js';
import { roundReport } from '../../src/profile/round-report.js';

type Rec = readonly [kind: Stage, t: number, lo: number, hi: number, peer?: number];

function dump(peer: number, recs: readonly Rec[], elapsedMs = 1000): StageDump {
  const records = new Float64Array(recs.length * RECORD_FIELDS);
  recs.forEach(([kind, t, lo, hi, to], k) => records.set([kind, t, lo, hi, to ?? -1], k * RECORD_FIELDS));
  return { peer, records, count: recs.length, nsPerRecord: 50, readies: recs.length, elapsedMs, gc: null };
}

/**
 * One closed-loop round of entries lo..hi on 3 peers, leader 0, starting at `t0` (ms):
 * the leader issues its write and sends to 1 and 2 at t0; follower f receives at t0 + hop[f] and
 * is durable `fw[f]` later; the leader's write takes `lw`; it commits at `commit`.
 */
function round(t0: number, lo: number, hi: number, o: { lw: number; hop: [number, number]; fw: [number, number]; commit: number }) {
  return {
    leader: [
      [Stage.Appended, t0, lo, hi],
      [Stage.Sent, t0, lo, hi, 1],
      [Stage.Sent, t0, lo, hi, 2],
      [Stage.Durable, t0 + o.lw, lo, hi],
      [Stage.Committed, o.commit, lo, hi],
    ] as Rec[],
    f1: [
      [Stage.Appended, t0 + o.hop[0], lo, hi],
      [Stage.Durable, t0 + o.hop[0] + o.fw[0], lo, hi],
    ] as Rec[],
    f2: [
      [Stage.Appended, t0 + o.hop[1], lo, hi],
      [Stage.Durable, t0 + o.hop[1] + o.fw[1], lo, hi],
    ] as Rec[],
  };
}

function cluster(rounds: ReturnType<typeof round>[]): (StageDump | null)[] {
  return [dump(0, rounds.flatMap((r) => r.leader)), dump(1, rounds.flatMap((r) => r.f1)), dump(2, rounds.flatMap((r) => r.f2))];
}

test('a round is cut into quorum, commit and turnaround parts that sum to it exactly', () => {
  // Round 1: durable on follower 1 at 0.2 + 0.6 = 0.8, on the leader at 1.0, on follower 2 at
  // 0.3 + 0.9 = 1.2: a majority (2 of 3) holds it at the second of those, 1.0.
  const r1 = round(0, 1, 64, { lw: 1.0, hop: [0.2, 0.3], fw: [0.6, 0.9], commit: 1.1 });
  // Round 2 starts 0.5 ms after round 1 committed; the followers are durable 0.5 and 0.7 after
  // it, the leader only 2.0 after: the quorum is the two followers, at 0.7.
  const r2 = round(1.6, 65, 128, { lw: 2.0, hop: [0.1, 0.2], fw: [0.4, 0.5], commit: 1.6 + 0.8 });
  // The last write only closes round 2 (a round needs the next write to end).
  const r3 = round(2.4 + 0.3, 129, 192, { lw: 1, hop: [0.1, 0.1], fw: [0.5, 0.5], commit: 4 });
  const rep = roundReport({ peers: 3, leader: 0, dumps: cluster([r1, r2, r3]) });
  assert.ok(rep);
  assert.equal(rep.rounds, 2);
  assert.equal(rep.overlapped, 0);
  assert.equal(rep.entriesPerRound, 64);
  const [toQuorum, ack, turnaround] = rep.parts;
  // Round 1: quorum at 1.0 (leader 1.0 and follower 1 at 0.8), commit 1.1, next write 1.6.
  // Round 2: quorum at 1.6 + 0.7 = 2.3, commit 2.4, next write 2.7.
  const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} != ${b}`);
  close(toQuorum!.dist.min, 0.7, 'round 2 quorum');
  close(toQuorum!.dist.max, 1.0, 'round 1 quorum');
  close(ack!.meanMs, 0.1, 'quorum -> committed');
  close(turnaround!.dist.min, 0.3, 'round 2 turnaround');
  close(turnaround!.dist.max, 0.5, 'round 1 turnaround');
  close(rep.round.mean, (1.6 + 1.1) / 2, 'mean round');
  close(toQuorum!.meanMs + ack!.meanMs + turnaround!.meanMs, rep.round.mean, 'the parts sum to the round');
  close(rep.parts.reduce((a, p) => a + p.share, 0), 1, 'the shares sum to 1');
  // The detail rows: the leader's write, each follower's hop and write, pooled.
  const [lw, hop, fw] = rep.detail;
  assert.deepEqual([lw!.dist.n, hop!.dist.n, fw!.dist.n], [2, 4, 4]);
  close(lw!.dist.max, 2.0, "round 2's leader write");
  close(hop!.dist.max, 0.3, 'longest hop');
  close(fw!.dist.mean, (0.6 + 0.9 + 0.4 + 0.5) / 4, 'follower writes');
});

test('a round whose next write went out before it committed is counted apart, not in the parts', () => {
  const r1 = round(0, 1, 10, { lw: 1, hop: [0.1, 0.1], fw: [0.5, 0.5], commit: 1 });
  // Issued at 0.5, before round 1 committed at 1.0: pipelined, not a closed loop.
  const r2 = round(0.5, 11, 20, { lw: 1, hop: [0.1, 0.1], fw: [0.5, 0.5], commit: 1.5 });
  const r3 = round(2, 21, 30, { lw: 1, hop: [0.1, 0.1], fw: [0.5, 0.5], commit: 3 });
  const r4 = round(3.5, 31, 40, { lw: 1, hop: [0.1, 0.1], fw: [0.5, 0.5], commit: 4.5 });
  const rep = roundReport({ peers: 3, leader: 0, dumps: cluster([r1, r2, r3, r4]) });
  assert.ok(rep);
  assert.equal(rep.overlapped, 1);
  assert.equal(rep.rounds, 2);
  assert.equal(rep.entriesPerRound, 10);
});

test('a round waits for its last entry: a write that committed only in part is left out', () => {
  const r1 = round(0, 1, 10, { lw: 1, hop: [0.1, 0.1], fw: [0.5, 0.5], commit: 1 });
  const r2 = round(2, 11, 20, { lw: 1, hop: [0.1, 0.1], fw: [0.5, 0.5], commit: 3 });
  // Round 1 committed only up to entry 5 while recording.
  r1.leader[4] = [Stage.Committed, 1, 1, 5];
  const r3 = round(4, 21, 30, { lw: 1, hop: [0.1, 0.1], fw: [0.5, 0.5], commit: 5 });
  const rep = roundReport({ peers: 3, leader: 0, dumps: cluster([r1, r2, r3]) });
  assert.ok(rep);
  assert.equal(rep.rounds, 1);
  assert.equal(rep.round.mean, 2);
});

test('with one follower silent, the quorum of 3 is the leader and the other follower', () => {
  const r1 = round(0, 1, 10, { lw: 0.9, hop: [0.1, 0.1], fw: [0.3, 0.3], commit: 1 });
  const r2 = round(2, 11, 20, { lw: 0.9, hop: [0.1, 0.1], fw: [0.3, 0.3], commit: 3 });
  const dumps = cluster([r1, r2]);
  dumps[2] = null;
  const rep = roundReport({ peers: 3, leader: 0, dumps });
  assert.ok(rep);
  assert.equal(rep.rounds, 1);
  // Durable: follower 1 at 0.4, the leader at 0.9: the second of them completes the majority.
  assert.ok(Math.abs(rep.parts[0]!.meanMs - 0.9) < 1e-9);
  assert.equal(rep.detail[1]!.dist.n, 1);
});

test('no round without a leader log or with fewer than two leader writes', () => {
  const r1 = round(0, 1, 10, { lw: 1, hop: [0.1, 0.1], fw: [0.5, 0.5], commit: 1 });
  assert.equal(roundReport({ peers: 3, leader: 0, dumps: [null, null, null] }), null);
  assert.equal(roundReport({ peers: 3, leader: 0, dumps: cluster([r1]) }), null);
});
