/**
 * 6.824 lab 2C (persistence) on real workers and LMDB (without fsync: a crashed worker loses
 * what it had not handed to LMDB, which is what these tests exercise; fsync itself is tested in
 * durability.test.ts), through the Cluster API. crash(i) is worker.terminate(); restart(i) is a
 * fresh worker that knows only what is in LMDB. The unreliable network is labrpc's
 * (`setNetwork({ reliable: false })`), with its long reordering where the lab turns it on.
 *
 * Iteration counts: the lab's, except the two Figure 8 tests, whose 1000 rounds take about a
 * minute each on real threads: they run 1000 rounds or 25 s, whichever ends first, and must have
 * exercised the scenario (enough leaders crashed or cut off). RAFTWORK_LAB_FULL=1 runs all 1000.
 * The same scenarios on the simulator are in test/sim/lab-2c.test.ts.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ELECTION_TIMEOUT_MS, LAB_FULL, sleep, withHarness, type Harness } from './harness.js';

const FIGURE8_BUDGET_MS = LAB_FULL ? Infinity : 25_000;

test('2C persist 1: state survives restarts of all peers, of the leader, of a follower', { timeout: 90_000 }, async () => {
  await withHarness({ peers: 3 }, async (h) => {
    const i11 = await h.one(h.cmd(), 3, true);
    const term = await h.checkTerms();

    // Crash and re-start all: each comes back with its term and log.
    for (let i = 0; i < 3; i++) await h.restart(i);
    for (let i = 0; i < 3; i++) {
      const st = (await h.getState(i)).state!;
      assert.ok(st.term >= term && st.lastLogIndex >= i11, `peer ${i} restarted with term ${st.term} and log ${st.lastLogIndex}, not term >= ${term} and log >= ${i11}`);
    }
    for (let i = 0; i < 3; i++) {
      h.disconnect(i);
      h.connect(i);
    }
    const i12 = await h.one(h.cmd(), 3, true);

    const leader1 = await h.checkOneLeader();
    h.disconnect(leader1);
    await h.restart(leader1);
    h.connect(leader1);
    const i13 = await h.one(h.cmd(), 3, true);

    const leader2 = await h.checkOneLeader();
    h.disconnect(leader2);
    const i14 = await h.one(h.cmd(), 2, true);
    await h.restart(leader2);
    h.connect(leader2);
    await h.wait(i14, 3, -1); // wait for leader2 to join before killing i3

    const i3 = ((await h.checkOneLeader()) + 1) % 3;
    h.disconnect(i3);
    const i15 = await h.one(h.cmd(), 2, true);
    await h.restart(i3);
    h.connect(i3);
    const i16 = await h.one(h.cmd(), 3, true);
    for (const i of [i11, i12, i13, i14, i15, i16]) assert.equal(h.nCommitted(i).count, 3, `index ${i} is not on all 3 peers`);
  });
});

test('2C persist 2: repeated partitions and restarts of a 5-peer cluster', { timeout: 120_000 }, async () => {
  await withHarness({ peers: 5 }, async (h) => {
    for (let iters = 0; iters < 5; iters++) {
      await h.one(h.cmd(), 5, true);

      const leader1 = await h.checkOneLeader();
      h.disconnect((leader1 + 1) % 5);
      h.disconnect((leader1 + 2) % 5);

      await h.one(h.cmd(), 3, true);

      h.disconnect((leader1 + 0) % 5);
      h.disconnect((leader1 + 3) % 5);
      h.disconnect((leader1 + 4) % 5);

      await h.restart((leader1 + 1) % 5);
      await h.restart((leader1 + 2) % 5);
      h.connect((leader1 + 1) % 5);
      h.connect((leader1 + 2) % 5);

      await sleep(ELECTION_TIMEOUT_MS);

      await h.restart((leader1 + 3) % 5);
      h.connect((leader1 + 3) % 5);

      await h.one(h.cmd(), 3, true);

      h.connect((leader1 + 4) % 5);
      h.connect((leader1 + 0) % 5);
    }
    await h.one(h.cmd(), 5, true);
  });
});

test('2C persist 3: partitioned leader and one follower crash, leader restarts', { timeout: 90_000 }, async () => {
  await withHarness({ peers: 3 }, async (h) => {
    const i101 = await h.one(h.cmd(), 3, true);

    const leader = await h.checkOneLeader();
    h.disconnect((leader + 2) % 3);

    const i102 = await h.one(h.cmd(), 2, true);

    await h.crash((leader + 0) % 3);
    await h.crash((leader + 1) % 3);
    h.connect((leader + 2) % 3);
    await h.restart((leader + 0) % 3);
    h.connect((leader + 0) % 3);

    // Only leader+0 and leader+2 are up: 102, which leader+2 never received, must come from
    // leader+0's disk.
    const i103 = await h.one(h.cmd(), 2, true);
    assert.ok(i103 > i102, `103 at ${i103}, not after 102 at ${i102}`);

    await h.restart((leader + 1) % 3);
    h.connect((leader + 1) % 3);

    const i104 = await h.one(h.cmd(), 3, true);
    for (const i of [i101, i102, i103, i104]) assert.equal(h.nCommitted(i).count, 3, `index ${i} is not on all 3 peers`);
  });
});

/** The lab's Figure 8 pause: one time in ten up to half an election timeout, else under 13 ms. */
async function figure8Pause(h: Harness): Promise<void> {
  const ms = h.randInt(1000) < 100 ? h.randInt(ELECTION_TIMEOUT_MS / 2) : h.randInt(13);
  await sleep(ms);
}

test('2C Figure 8: leaders crash soon after taking commands', { timeout: 120_000 }, async (t) => {
  await withHarness({ peers: 5 }, async (h) => {
    await h.one(h.cmd(), 1, true);

    let nup = 5;
    let crashes = 0;
    let iters = 0;
    const t0 = Date.now();
    for (; iters < 1000 && Date.now() - t0 < FIGURE8_BUDGET_MS; iters++) {
      let leader = -1;
      for (let i = 0; i < 5; i++) {
        const r = await h.propose(i, h.cmd());
        if (r?.isLeader) leader = i;
      }

      await figure8Pause(h);

      if (leader !== -1) {
        await h.crash(leader);
        crashes++;
        nup -= 1;
      }

      if (nup < 3) {
        const s = h.randInt(5);
        if (!h.isUp(s)) {
          await h.restart(s);
          h.connect(s);
          nup += 1;
        }
      }
    }
    t.diagnostic(`${iters} rounds, ${crashes} leaders crashed, in ${Date.now() - t0} ms`);
    assert.ok(crashes >= 20, `only ${crashes} leaders crashed in ${iters} rounds: the scenario did not exercise Figure 8`);

    for (let i = 0; i < 5; i++) {
      if (!h.isUp(i)) {
        await h.restart(i);
        h.connect(i);
      }
    }
    await h.one(h.cmd(), 5, true);
  });
});

test('2C unreliable agreement: concurrent clients on a lossy network', { timeout: 120_000 }, async () => {
  await withHarness({ peers: 5 }, async (h) => {
    h.setUnreliable(true);
    const clients: Promise<number>[] = [];
    for (let iters = 1; iters < 50; iters++) {
      for (let j = 0; j < 4; j++) clients.push(h.one(h.cmd(`${iters}.${j}`), 1, true));
      await h.one(h.cmd(`${iters}`), 1, true);
    }
    h.setUnreliable(false);
    await Promise.all(clients);
    await h.one(h.cmd(), 5, true);
  });
});

test('2C Figure 8 (unreliable): leaders cut off at random, long reordering after round 200', { timeout: 120_000 }, async (t) => {
  await withHarness({ peers: 5 }, async (h) => {
    h.setUnreliable(true);
    await h.one(h.cmd(), 1, true);

    let nup = 5;
    let cuts = 0;
    let iters = 0;
    let reordering = false;
    const t0 = Date.now();
    // Long reordering from round 200, or from halfway through the time budget if that comes first.
    for (; iters < 1000 && Date.now() - t0 < FIGURE8_BUDGET_MS; iters++) {
      if (!reordering && (iters === 200 || Date.now() - t0 > FIGURE8_BUDGET_MS / 2)) {
        h.setLongReordering(true);
        reordering = true;
      }
      let leader = -1;
      for (let i = 0; i < 5; i++) {
        const r = await h.propose(i, h.cmd());
        if (r?.isLeader && h.connected[i]) leader = i;
      }

      await figure8Pause(h);

      if (leader !== -1 && h.randInt(1000) < ELECTION_TIMEOUT_MS / 2) {
        h.disconnect(leader);
        cuts++;
        nup -= 1;
      }

      if (nup < 3) {
        const s = h.randInt(5);
        if (!h.connected[s]) {
          h.connect(s);
          nup += 1;
        }
      }
    }
    t.diagnostic(`${iters} rounds, ${cuts} leaders cut off, in ${Date.now() - t0} ms`);
    assert.ok(reordering, 'long reordering was never turned on');
    assert.ok(cuts >= 3, `only ${cuts} leaders cut off in ${iters} rounds: the scenario did not exercise Figure 8`);

    for (let i = 0; i < 5; i++) if (!h.connected[i]) h.connect(i);
    // As in the lab, still unreliable and with long reordering.
    await h.one(h.cmd(), 5, true);
  });
});

/**
 * The lab's internalChurn: three clients keep offering commands to whoever takes them while peers
 * disconnect, reconnect, crash and restart every 0.7 s; at the end every command a client saw
 * committed must be in the final log, which every peer holds.
 */
async function churn(h: Harness, unreliable: boolean, t: TestContext): Promise<void> {
  if (unreliable) h.setUnreliable(true);
  let stop = false;

  async function client(me: number): Promise<string[]> {
    const values: string[] = [];
    while (!stop) {
      const x = h.cmd(`cl${me}`);
      let index = -1;
      for (let i = 0; i < 5; i++) {
        const r = await h.propose(i, x);
        if (r?.isLeader) index = r.index;
      }
      if (index !== -1) {
        // Maybe a leader commits it, maybe not; do not wait forever.
        for (const to of [10, 20, 50, 100, 200]) {
          const { count, command } = h.nCommitted(index);
          if (count > 0) {
            if (command === x) values.push(x);
            break;
          }
          await sleep(to);
        }
      } else {
        await sleep(79 + me * 17);
      }
    }
    return values;
  }

  const clients = [0, 1, 2].map((me) => client(me));
  try {
    for (let iters = 0; iters < 20; iters++) {
      if (h.randInt(1000) < 200) h.disconnect(h.randInt(5));
      if (h.randInt(1000) < 500) {
        const i = h.randInt(5);
        if (!h.isUp(i)) await h.restart(i);
        h.connect(i);
      }
      if (h.randInt(1000) < 200) {
        const i = h.randInt(5);
        if (h.isUp(i)) await h.crash(i);
      }
      // Make crash/restart happen often enough that the cluster has not settled from one
      // change to the next.
      await sleep((ELECTION_TIMEOUT_MS * 7) / 10);
    }

    await sleep(ELECTION_TIMEOUT_MS);
    h.setUnreliable(false);
    for (let i = 0; i < 5; i++) {
      if (!h.isUp(i)) await h.restart(i);
      h.connect(i);
    }
  } finally {
    stop = true;
  }
  const values = (await Promise.all(clients)).flat();
  t.diagnostic(`clients saw ${values.length} commands commit during the churn`);
  assert.ok(values.length >= 10, `clients saw only ${values.length} commands commit in 15 s of churn`);

  await sleep(ELECTION_TIMEOUT_MS);
  const lastIndex = await h.one(h.cmd(), 5, true);

  // Every peer applied everything up to lastIndex in its current life, so each one's apply
  // record holds the whole final log but its no-ops; they must all hold the same.
  const logs = h.applied.map((m) => [...m].filter(([k]) => k <= lastIndex).sort((a, b) => a[0] - b[0]));
  for (let p = 1; p < 5; p++) assert.deepEqual(logs[p], logs[0], `peer ${p}'s log up to ${lastIndex} differs from peer 0's`);
  const really = new Set(logs[0]!.map(([, v]) => v));
  for (const v of values) assert.ok(really.has(v), `client saw ${v} committed, but it is not in the final log`);
}

test('2C reliable churn: committed commands survive disconnects, crashes and restarts', { timeout: 120_000 }, async (t) => {
  await withHarness({ peers: 5 }, (h) => churn(h, false, t));
});

test('2C unreliable churn: the same on a lossy network', { timeout: 120_000 }, async (t) => {
  await withHarness({ peers: 5 }, (h) => churn(h, true, t));
});
