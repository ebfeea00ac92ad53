/**
 * 6.824 lab 2A (leader election) on real workers and LMDB (without fsync), through the Cluster
 * API: a leader within 5 s, a term that holds while nothing fails, re-election when the leader is
 * cut off and only when a majority can talk, and a 7-peer cluster that survives repeated loss of
 * 3 peers. The same scenarios on the simulator are in test/sim/lab-2a.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ELECTION_TIMEOUT_MS, sleep, withHarness } from './harness.js';

test('2A initial election: one leader, terms agree, and the term holds without failures', { timeout: 60_000 }, async (t) => {
  await withHarness({ peers: 3 }, async (h) => {
    const leader1 = await h.checkOneLeader();
    // Sleep a bit to avoid racing with followers learning of the election, then check all
    // peers agree on the term.
    await sleep(50);
    const term1 = await h.checkTerms();
    assert.ok(term1 >= 1, `term is ${term1}, but should be at least 1`);

    // Does the leader and term stay the same if there is no network failure?
    await sleep(2 * ELECTION_TIMEOUT_MS);
    const term2 = await h.checkTerms();
    // The lab only warns here: on real threads a long stall (a GC, a busy core) can start an
    // election without any fault. Say so, and still require exactly one leader.
    if (term1 !== term2) t.diagnostic(`warning: term changed from ${term1} to ${term2} even though there were no failures`);
    const leader2 = await h.checkOneLeader();
    if (term1 === term2) assert.equal(leader2, leader1, 'the leader changed while the term did not');
  });
});

test('2A re-election: after the leader disconnects, and only when a majority can talk', { timeout: 60_000 }, async () => {
  await withHarness({ peers: 3 }, async (h) => {
    const leader1 = await h.checkOneLeader();
    const term1 = (await h.getState(leader1)).term;

    // If the leader disconnects, a new one is elected, in a later term.
    h.disconnect(leader1);
    const interim = await h.checkOneLeader();
    const interimTerm = (await h.getState(interim)).term;
    assert.ok(interimTerm > term1, `new leader ${interim} is in term ${interimTerm}, not after ${term1}`);

    // The old leader rejoining does not disturb the new one; it becomes a follower.
    h.connect(leader1);
    const leader2 = await h.checkOneLeader();
    await sleep(ELECTION_TIMEOUT_MS);
    assert.ok(leader2 === leader1 || !(await h.getState(leader1)).isLeader, `old leader ${leader1} still leads after rejoining`);

    // With no quorum, no leader.
    h.disconnect(leader2);
    h.disconnect((leader2 + 1) % 3);
    // A leader that lost its followers steps down within two election timeouts (check-quorum);
    // the lab gives it one of its 1 s election timeouts, which is more than that.
    await sleep(2 * ELECTION_TIMEOUT_MS);
    await h.checkNoLeader();
    for (const p of [leader2, (leader2 + 1) % 3, (leader2 + 2) % 3]) {
      assert.equal((await h.getState(p)).isLeader, false, `peer ${p} leads without a majority; ${await h.terms()}`);
    }

    // A quorum arises: it elects a leader.
    h.connect((leader2 + 1) % 3);
    await h.checkOneLeader();

    // The last peer rejoining does not prevent a leader from existing.
    h.connect(leader2);
    await h.checkOneLeader();
  });
});

test('2A many elections: 7 peers, 3 disconnected at random, 10 times', { timeout: 120_000 }, async () => {
  await withHarness({ peers: 7 }, async (h) => {
    await h.checkOneLeader();
    for (let ii = 1; ii < 10; ii++) {
      // Disconnect three peers (perhaps fewer, the lab draws with repetition).
      const i1 = h.randInt(7);
      const i2 = h.randInt(7);
      const i3 = h.randInt(7);
      h.disconnect(i1);
      h.disconnect(i2);
      h.disconnect(i3);
      // Either the current leader should still be alive, or the remaining four should elect a new one.
      await h.checkOneLeader();
      h.connect(i1);
      h.connect(i2);
      h.connect(i3);
    }
    await h.checkOneLeader();
  });
});
