/**
 * RaftCore.ticksUntilDue(): the number of ticks until the core acts on its own, which is what
 * lets the peer driver sleep until then instead of waking every tick (src/peer/driver.ts).
 *
 * The contract, checked for every role and every bound tick() compares a counter against:
 * - the ticks before the deadline change nothing observable (status() and hasReady());
 * - the deadline tick itself does the thing: starts an election (follower, pre-candidate,
 *   candidate), sends a heartbeat, runs the check-quorum step-down, retries an InstallSnapshot.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RaftCore } from '../../src/core/raft.js';
import { createRng } from '../../src/core/rng.js';
import { MsgType, type Message } from '../../src/core/types.js';
import {
  ackAll,
  append,
  appendReply,
  appendsTo,
  drain,
  drainAll,
  elect,
  HandNet,
  log,
  makeCore,
  ofType,
  sent,
  voteReply,
} from './core-helpers.js';

/** What a driver can see of a core without giving it input. */
function observable(core: RaftCore): string {
  return `${JSON.stringify(core.status())} ready=${core.hasReady()}`;
}

/**
 * Ticks `core` through its next deadline: checks that each of the first ticksUntilDue() - 1
 * ticks changes nothing observable and counts the deadline down by one, then takes the
 * deadline tick. Returns how many ticks that was.
 */
function tickThroughDeadline(core: RaftCore): number {
  const n = core.ticksUntilDue();
  assert.ok(Number.isInteger(n) && n >= 1, `ticksUntilDue() = ${n}`);
  const before = observable(core);
  for (let k = 1; k < n; k++) {
    core.tick();
    assert.equal(observable(core), before, `tick ${k} of ${n} changed something before the deadline`);
    assert.equal(core.ticksUntilDue(), n - k, `after ${k} of ${n} ticks`);
  }
  core.tick();
  return n;
}

test('follower: the election starts exactly at the deadline', () => {
  for (const preVote of [false, true]) {
    for (let seed = 1; seed <= 20; seed++) {
      const core = makeCore({ id: 1, term: 1, seed, preVote });
      core.step(append(0, 1, 1, 0, 0, []));
      drain(core);
      // Some ticks pass, then another heartbeat resets the timer (and redraws the timeout).
      for (let k = 0; k < 4; k++) core.tick();
      core.step(append(0, 1, 1, 0, 0, []));
      drain(core);
      const n = core.ticksUntilDue();
      assert.ok(n >= 10 && n < 20, `seed ${seed}: ${n} ticks is outside [electionTicks, maxElectionTicks)`);
      assert.equal(tickThroughDeadline(core), n);
      assert.equal(core.status().role, preVote ? 'precandidate' : 'candidate', `seed ${seed}`);
      const votes = ofType(drain(core).messages, MsgType.RequestVote);
      assert.deepEqual(votes.map((m) => [m.to, m.preVote]).sort(), [[0, preVote], [2, preVote]]);
    }
  }
});

test('pre-candidate and candidate: the next round starts exactly at the deadline', () => {
  // A pre-candidate that hears nothing asks again at its deadline, still in the same term.
  const pre = makeCore({ id: 0, term: 3, preVote: true });
  tickThroughDeadline(pre);
  assert.equal(pre.status().role, 'precandidate');
  drain(pre);
  tickThroughDeadline(pre);
  assert.equal(pre.status().role, 'precandidate');
  assert.equal(pre.status().term, 3);
  assert.equal(ofType(drain(pre).messages, MsgType.RequestVote).filter((m) => m.preVote).length, 2);

  // A candidate that does not win campaigns again at its deadline, in the next term.
  const cand = makeCore({ id: 0, term: 3 });
  tickThroughDeadline(cand);
  assert.equal(cand.status().role, 'candidate');
  assert.equal(cand.status().term, 4);
  drain(cand);
  cand.step(voteReply(1, 0, 4, false));
  drain(cand);
  tickThroughDeadline(cand);
  assert.equal(cand.status().role, 'candidate');
  assert.equal(cand.status().term, 5);
  assert.equal(ofType(drain(cand).messages, MsgType.RequestVote).length, 2);
});

test('leader: heartbeats go out exactly at the deadline', () => {
  const core = makeCore({ id: 0, peers: 3, heartbeatTicks: 4 });
  elect(core, [1]);
  ackAll(core, [1, 2]);
  drainAll(core);
  // electionTicks 10: busy (the no-op went out at tick 0) until tick 10, so heartbeats at 4 and
  // 8; then idle, every min(2 * 4, 10 - 4) = 6.
  const gaps = [4, 4, 6, 6, 6];
  for (let round = 0; round < 5; round++) {
    assert.equal(tickThroughDeadline(core), gaps[round]);
    const r = drain(core);
    assert.equal(appendsTo(r.messages, 1).length, 1, `round ${round}: a heartbeat to 1`);
    assert.equal(appendsTo(r.messages, 2).length, 1, `round ${round}: a heartbeat to 2`);
    ackAll(core, [1, 2]);
    drainAll(core);
  }
});

test('leader: the check-quorum step-down happens exactly at the deadline', () => {
  // electionTicks 10, maxElectionTicks 20: the window is 2 * 20 = 40 ticks. Heartbeats every 9
  // ticks, so the window's end is a deadline of its own (after the heartbeat at 36, 4 ticks).
  const core = makeCore({ id: 0, peers: 5, heartbeatTicks: 9 });
  elect(core, [1, 2]);
  drainAll(core);
  let ticks = 0;
  const deadlines: number[] = [];
  while (core.status().role === 'leader') {
    ticks += tickThroughDeadline(core);
    deadlines.push(ticks);
    drainAll(core);
    assert.ok(ticks <= 40, 'the leader outlived its check-quorum window');
  }
  assert.deepEqual(deadlines, [9, 18, 27, 36, 40]);

  // With check-quorum off the window is no deadline: only heartbeats are.
  const off = makeCore({ id: 0, peers: 5, heartbeatTicks: 9, checkQuorum: false });
  elect(off, [1, 2]);
  drainAll(off);
  ticks = 0;
  for (let k = 0; k < 6; k++) {
    ticks += tickThroughDeadline(off);
    drainAll(off);
  }
  assert.equal(ticks, 54);
  assert.equal(off.status().role, 'leader');

  // A leader that hears from a majority passes the check: the deadline comes and goes quietly.
  const kept = makeCore({ id: 0, peers: 3, heartbeatTicks: 9 });
  elect(kept, [1]);
  drainAll(kept);
  ticks = 0;
  while (ticks < 40) {
    ticks += tickThroughDeadline(kept);
    drainAll(kept);
    ackAll(kept, [1]);
    drainAll(kept);
  }
  assert.equal(ticks, 40);
  assert.equal(kept.status().role, 'leader');
  assert.equal(kept.ticksUntilDue(), 5, 'the next heartbeat (45), the window having restarted at 40');
});

test('leader: an unanswered InstallSnapshot is retried exactly at the deadline', () => {
  // The leader's log starts after a snapshot at 5; follower 2 has nothing, so it needs the snapshot.
  const entries = log(1, 1, 1, 1, 1, 1, 1, 1).slice(5); // 6..8, term 1
  const core = makeCore({ id: 0, peers: 3, term: 1, heartbeatTicks: 9, checkQuorum: false, snapshot: { index: 5, term: 1 }, entries });
  elect(core, [1]);
  const term = core.status().term;
  core.step(appendReply(2, 0, term, false, 8, 0, 1));
  const snap = ofType(sent(drain(core)), MsgType.InstallSnapshot);
  assert.deepEqual(snap.map((m) => [m.to, m.lastIncludedIndex]), [[2, 5]]);
  ackAll(core, [1]);
  drainAll(core);
  // Deadlines: heartbeats at 9 and 18, then the retry at 2 * electionTicks = 20.
  let ticks = 0;
  let retriedAt = -1;
  while (retriedAt < 0) {
    ticks += tickThroughDeadline(core);
    const out = drain(core).messages;
    // Once retried, the follower is probed again from just past the snapshot.
    if (appendsTo(out, 2).some((m) => m.prevLogIndex === 5 && m.entries.length > 0)) retriedAt = ticks;
    ackAll(core, [1]);
    drainAll(core);
    assert.ok(ticks <= 20, 'the snapshot was never retried');
  }
  assert.equal(retriedAt, 20);
});

test('a leader becomes leader with a deadline of one heartbeat; a follower with a fresh election timeout', () => {
  const core = makeCore({ id: 0, peers: 3, heartbeatTicks: 3 });
  tickThroughDeadline(core);
  const asCandidate = core.ticksUntilDue();
  assert.ok(asCandidate >= 10);
  drain(core);
  core.step(voteReply(1, 0, core.status().term, true));
  assert.equal(core.status().role, 'leader');
  assert.equal(core.ticksUntilDue(), 3, 'the deadline moved earlier: a driver must re-arm its timer');
  // A higher term makes it a follower again, with a whole election timeout ahead.
  core.step(append(2, 0, core.status().term + 1, 0, 0, []));
  assert.equal(core.status().role, 'follower');
  assert.ok(core.ticksUntilDue() >= 10);
});

/**
 * Three cores on a lossy hand-driven network, each ticked at random: whatever role a core is in,
 * a tick before its deadline never changes what it shows, and ticksUntilDue() counts down by one.
 */
test('no tick before the deadline changes anything, whatever the role (randomized)', () => {
  for (let seed = 1; seed <= 30; seed++) {
    const rng = createRng(seed * 7919);
    const cores = [0, 1, 2].map((id) => makeCore({ id, peers: 3, seed: seed * 10 + id, preVote: seed % 2 === 0, heartbeatTicks: 3 }));
    const net = new HandNet(cores);
    let inFlight: Message[] = [];
    const roles = new Set<string>();
    for (let step = 0; step < 600; step++) {
      if (rng.next() < 0.6 || inFlight.length === 0) {
        const id = rng.int(0, 3);
        const core = cores[id]!;
        const n = core.ticksUntilDue();
        const before = observable(core);
        core.tick();
        roles.add(core.status().role);
        if (n > 1) {
          assert.equal(observable(core), before, `seed ${seed} step ${step}: core ${id} changed ${n} ticks before its deadline`);
          assert.equal(core.ticksUntilDue(), n - 1, `seed ${seed} step ${step}: core ${id}`);
        }
        inFlight.push(...net.drain(id));
      } else {
        // Deliver some of what is in flight (a random share is lost), in order.
        const batch = inFlight.splice(0, rng.int(1, inFlight.length + 1));
        inFlight.push(...net.deliver(batch, () => rng.next() < 0.8));
        // Proposals now and then, to the leader if there is one.
        const leader = cores.find((c) => c.isLeader());
        if (leader && rng.next() < 0.2) {
          leader.propose(new Uint8Array([step & 0xff]));
          inFlight.push(...net.drain(leader.id));
        }
      }
    }
    assert.ok(roles.has('leader'), `seed ${seed}: nobody ever led`);
  }
});
