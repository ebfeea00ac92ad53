/**
 * 6.824 lab 2A (leader election) on the simulator: a leader is elected within 5 s of simulated
 * time, keeps its term while nothing fails, is replaced when it disconnects, is not replaced when
 * no majority can talk, and clusters of 7 survive repeated loss of 3 peers.
 */
import { test } from 'node:test';
import { ELECTION_TIMEOUT_MS, forSeeds, labSeeds } from './lab-harness.js';
import assert from 'node:assert/strict';
import { Simulator } from '../../src/sim/simulator.js';

const SEEDS = labSeeds([1, 2, 3, 4, 5]);

test('2A initial election: one leader, terms agree, and the term holds without failures', () => {
  forSeeds(SEEDS, { servers: 3 }, (lab) => {
    const leader1 = lab.checkOneLeader();
    lab.sleep(50);
    const term1 = lab.checkTerms();
    lab.check(term1 >= 1, `term is ${term1}, but should be at least 1`);
    lab.sleep(2 * ELECTION_TIMEOUT_MS);
    const term2 = lab.checkTerms();
    // The lab only warns here; on a reliable simulated network a change is a real fault.
    lab.check(term1 === term2, `term changed from ${term1} to ${term2} even though there were no failures`);
    const leader2 = lab.checkOneLeader();
    lab.check(leader1 === leader2, `leader changed from ${leader1} to ${leader2} without failures`);
  });
});

test('2A re-election: after the leader disconnects, and only when a majority can talk', () => {
  forSeeds(SEEDS, { servers: 3 }, (lab) => {
    const leader1 = lab.checkOneLeader();
    const term1 = lab.getState(leader1).term;

    // If the leader disconnects, a new one is elected, in a later term.
    lab.disconnect(leader1);
    const interim = lab.checkOneLeader();
    lab.check(lab.getState(interim).term > term1, `new leader ${interim} is in term ${lab.getState(interim).term}, not after ${term1}`);

    // The old leader rejoining does not disturb the new one; it becomes a follower.
    lab.connect(leader1);
    const leader2 = lab.checkOneLeader();
    lab.sleep(ELECTION_TIMEOUT_MS);
    lab.check(!lab.getState(leader1).isLeader || leader1 === leader2, `old leader ${leader1} still leads after rejoining`);

    // With no quorum, no leader.
    lab.disconnect(leader2);
    lab.disconnect((leader2 + 1) % 3);
    lab.sleep(ELECTION_TIMEOUT_MS);
    lab.checkNoLeader();

    // A quorum arises: it elects a leader.
    lab.connect((leader2 + 1) % 3);
    lab.sleep(2 * ELECTION_TIMEOUT_MS);
    lab.checkOneLeader();

    // The last peer rejoining does not prevent a leader from existing.
    lab.connect(leader2);
    lab.checkOneLeader();
  });
});

test('2A many elections: 7 peers, 3 disconnected at random, 10 times', () => {
  forSeeds(SEEDS, { servers: 7 }, (lab) => {
    lab.checkOneLeader();
    for (let ii = 1; ii < 10; ii++) {
      const i1 = lab.randInt(7);
      const i2 = lab.randInt(7);
      const i3 = lab.randInt(7);
      lab.disconnect(i1);
      lab.disconnect(i2);
      lab.disconnect(i3);
      // Either the current leader is still alive, or the remaining four elect a new one.
      lab.checkOneLeader();
      lab.connect(i1);
      lab.connect(i2);
      lab.connect(i3);
    }
    lab.checkOneLeader();
  });
});

test('Pre-Vote: a follower cut off for a long while rejoins without deposing the leader or raising the term', () => {
  for (const seed of [1, 2, 3]) {
    const sim = new Simulator({ peers: 5, seed });
    sim.runUntil(() => sim.leaders().length > 0, 5000);
    const [{ peer: leader, term }] = sim.leaders();
    const cut = (leader! + 1) % 5;
    sim.disconnect(cut);
    sim.runFor(5000);
    assert.equal(sim.status(cut).term, term, `[seed ${seed}] a cut-off peer must not raise its term`);
    sim.connect(cut);
    sim.runFor(2000);
    const now = sim.leaders();
    assert.deepEqual(now.map((l) => [l.peer, l.term]), [[leader, term]], `[seed ${seed}] the leader stays`);
  }
});
