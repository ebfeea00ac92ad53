/**
 * 6.824 lab 2B (log replication) on real workers and LMDB (without fsync), through the Cluster
 * API, with the lab's limits: one() gives a command 10 s (2 s per attempt), at most 30 RPCs elect a
 * 3-peer leader, at most (iters + 1 + 3) * 3 RPCs agree on 10 entries, at most 3 * 20 RPCs in an
 * idle second, and at most servers * bytes-of-commands + 50 000 RPC bytes for 10 big commands.
 *
 * Every new leader appends a no-op that takes an index but never reaches onApply: the tests check
 * that indexes increase, not that they are 1, 2, 3. The same scenarios on the simulator are in
 * test/sim/lab-2b.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serialize } from 'node:v8';
import { ELECTION_TIMEOUT_MS, sleep, withHarness, type Harness } from './harness.js';

test('2B basic agreement: commands commit in order on every peer', { timeout: 60_000 }, async () => {
  await withHarness({ peers: 3 }, async (h) => {
    let prev = 0;
    for (let k = 0; k < 3; k++) {
      const early = h.commandsAbove(prev);
      assert.deepEqual(early, [], 'some have committed before Start()');
      const x = await h.one(h.cmd(), 3, false);
      assert.ok(x > prev, `got index ${x} after ${prev}`);
      prev = x;
    }
  });
});

test('2B RPC byte count: each command is sent to each follower about once', { timeout: 60_000 }, async (t) => {
  await withHarness({ peers: 3 }, async (h) => {
    let prev = await h.one(h.cmd(), 3, false);
    const bytes0 = await h.bytesTotal();
    let sent = 0;
    for (let k = 0; k < 10; k++) {
      const cmd = `${h.cmd('big')}.${h.randString(5000)}`;
      const x = await h.one(cmd, 3, false);
      assert.ok(x > prev, `got index ${x} after ${prev}`);
      prev = x;
      sent += serialize(cmd).length;
    }
    const got = (await h.bytesTotal()) - bytes0;
    t.diagnostic(`${got} RPC bytes for ${sent} bytes of commands (${(got / sent).toFixed(2)}x; 2 followers)`);
    // The lab's bound: servers * bytes of commands + 50 000.
    assert.ok(got <= 3 * sent + 50_000, `too many RPC bytes; got ${got}, expected at most ${3 * sent + 50_000}`);
    // And both followers did get every command.
    assert.ok(got >= 2 * sent, `only ${got} bytes moved for ${sent} bytes of commands to 2 followers`);
  });
});

test('2B follower failure: agreement continues with one follower gone, stops with both', { timeout: 60_000 }, async () => {
  await withHarness({ peers: 3 }, async (h) => {
    await h.one(h.cmd(), 3, false);

    // Disconnect one follower from the network.
    const leader1 = await h.checkOneLeader();
    h.disconnect((leader1 + 1) % 3);

    // The leader and the remaining follower should be able to agree despite the disconnected follower.
    await h.one(h.cmd(), 2, false);
    await sleep(ELECTION_TIMEOUT_MS);
    const i103 = await h.one(h.cmd(), 2, false);

    // Disconnect the remaining follower.
    const leader2 = await h.checkOneLeader();
    h.disconnect((leader2 + 1) % 3);
    h.disconnect((leader2 + 2) % 3);

    // Submit a command.
    const c104 = h.cmd();
    const r = await h.propose(leader2, c104);
    assert.ok(r?.isLeader, `leader rejected Start(): ${JSON.stringify(r)}`);
    assert.ok(r.index > i103, `expected an index after ${i103}, got ${r.index}`);
    await sleep(2 * ELECTION_TIMEOUT_MS);

    // Check that the command did not commit.
    assert.equal(h.nCommitted(r.index).count, 0, `${h.nCommitted(r.index).count} committed but no majority`);
    h.checkNeverApplied([c104], 'no majority could store it');
  });
});

test('2B leader failure: new leaders take over, and nothing commits without a majority', { timeout: 60_000 }, async () => {
  await withHarness({ peers: 3 }, async (h) => {
    await h.one(h.cmd(), 3, false);

    // Disconnect the first leader.
    const leader1 = await h.checkOneLeader();
    h.disconnect(leader1);

    // The remaining followers should elect a new leader.
    await h.one(h.cmd(), 2, false);
    await sleep(ELECTION_TIMEOUT_MS);
    const i103 = await h.one(h.cmd(), 2, false);

    // Disconnect the new leader too.
    const leader2 = await h.checkOneLeader();
    h.disconnect(leader2);

    // Submit a command to each server.
    const c104 = h.cmd();
    for (let i = 0; i < 3; i++) await h.propose(i, c104);
    await sleep(2 * ELECTION_TIMEOUT_MS);

    // Check that the command did not commit.
    assert.deepEqual(h.commandsAbove(i103), [], 'committed without a majority');
    h.checkNeverApplied([c104], 'no majority was connected');
  });
});

test('2B fail agree: a follower that disconnects and rejoins catches up', { timeout: 60_000 }, async () => {
  await withHarness({ peers: 3 }, async (h) => {
    const i101 = await h.one(h.cmd(), 3, false);

    // Disconnect one follower from the network.
    const leader = await h.checkOneLeader();
    const follower = (leader + 1) % 3;
    h.disconnect(follower);

    // The leader and the remaining follower should be able to agree despite the disconnected follower.
    const indexes = [i101];
    for (const pause of [0, ELECTION_TIMEOUT_MS, 0, 0]) {
      await sleep(pause);
      const x = await h.one(h.cmd(), 2, false);
      assert.ok(x > indexes.at(-1)!, `index went from ${indexes.at(-1)} to ${x}`);
      indexes.push(x);
    }
    const last = indexes.at(-1)!;
    assert.equal(h.nCommitted(last).count, 2, `expected exactly 2 peers at ${last}`);
    assert.equal(h.applied[follower]!.has(last), false, 'the disconnected follower applied an entry');

    // Re-connect: the full set of servers keeps the old agreements and agrees on new commands.
    h.connect(follower);
    indexes.push(await h.one(h.cmd(), 3, true));
    await sleep(ELECTION_TIMEOUT_MS);
    indexes.push(await h.one(h.cmd(), 3, true));
    for (let k = 1; k < indexes.length; k++) assert.ok(indexes[k]! > indexes[k - 1]!, `indexes ${indexes.join(', ')} do not increase`);
    for (const i of indexes) assert.equal(h.nCommitted(i).count, 3, `index ${i} is on ${h.nCommitted(i).count} peers after the follower rejoined, not 3`);
  });
});

test('2B fail no agree: no commit when 3 of 5 followers disconnect, then recovery', { timeout: 60_000 }, async () => {
  await withHarness({ peers: 5 }, async (h) => {
    const i10 = await h.one(h.cmd(), 5, false);

    // 3 of 5 followers disconnect.
    const leader = await h.checkOneLeader();
    for (const k of [1, 2, 3]) h.disconnect((leader + k) % 5);

    const c20 = h.cmd();
    const r = await h.propose(leader, c20);
    assert.ok(r?.isLeader, `leader rejected Start(): ${JSON.stringify(r)}`);
    assert.ok(r.index > i10, `expected an index after ${i10}, got ${r.index}`);
    await sleep(2 * ELECTION_TIMEOUT_MS);
    assert.equal(h.nCommitted(r.index).count, 0, `${h.nCommitted(r.index).count} committed but no majority`);

    // Repair. The disconnected majority may have chosen a leader among themselves, forgetting c20.
    for (const k of [1, 2, 3]) h.connect((leader + k) % 5);
    const leader2 = await h.checkOneLeader();
    const c30 = h.cmd();
    const r2 = await h.propose(leader2, c30);
    assert.ok(r2?.isLeader, `leader2 rejected Start(): ${JSON.stringify(r2)}`);
    // The lab accepts index 2 or 3: right after 10, or after the lost 20. New leaders' no-ops
    // may come between as well; nothing but c20 may.
    assert.ok(r2.index > i10, `unexpected index ${r2.index} (10 was at ${i10})`);

    const last = await h.one(h.cmd(), 5, true);
    assert.ok(last > r2.index);
    for (const line of h.commandsAbove(i10)) {
      const [, at] = /@(\d+):/.exec(line)!;
      if (Number(at) < r2.index) assert.ok(line.endsWith(`:${c20}`), `only c20 or no-ops may sit between 10 and 30, found ${line}`);
    }
  });
});

test('2B concurrent starts: five commands offered at once all commit', { timeout: 60_000 }, async () => {
  await withHarness({ peers: 3 }, async (h) => {
    let success = false;
    attempts: for (let attempt = 0; attempt < 5; attempt++) {
      if (attempt > 0) await sleep(3000); // give the solution some time to settle
      const leader = await h.checkOneLeader();
      const first = await h.propose(leader, h.cmd());
      if (!first?.isLeader) continue;
      const term = first.term;

      // Five Start()s at once, as the lab's goroutines.
      const offered = [h.cmd(), h.cmd(), h.cmd(), h.cmd(), h.cmd()];
      const replies = await Promise.all(offered.map((c) => h.propose(leader, c)));
      const indexes: number[] = [];
      for (const r of replies) if (r?.isLeader && r.term === term) indexes.push(r.index);

      for (let j = 0; j < 3; j++) if ((await h.getState(j)).term !== term) continue attempts; // term changed: try again

      const got: unknown[] = [];
      for (const index of indexes) {
        const c = await h.wait(index, 3, term);
        if (c === null) continue attempts; // peers have moved on to later terms
        got.push(c);
      }
      assert.equal(indexes.length, 5, `only ${indexes.length} of 5 Start()s accepted by a stable leader`);
      for (const c of offered) assert.ok(got.includes(c), `cmd ${c} missing in ${JSON.stringify(got)}`);
      success = true;
      break;
    }
    assert.ok(success, 'term changed too often');
  });
});

test('2B rejoin of a partitioned leader: its stale entries are discarded', { timeout: 60_000 }, async () => {
  await withHarness({ peers: 3 }, async (h) => {
    const i101 = await h.one(h.cmd(), 3, true);

    // Leader network failure.
    const leader1 = await h.checkOneLeader();
    h.disconnect(leader1);

    // Make the old leader try to agree on some entries.
    const stale = [h.cmd('stale'), h.cmd('stale'), h.cmd('stale')];
    for (const c of stale) await h.propose(leader1, c);

    // The new leader commits, also for the index the old leader used.
    const i103 = await h.one(h.cmd(), 2, true);

    // New leader network failure.
    const leader2 = await h.checkOneLeader();
    h.disconnect(leader2);

    // The old leader connects again.
    h.connect(leader1);
    const i104 = await h.one(h.cmd(), 2, true);

    // All together now.
    h.connect(leader2);
    const i105 = await h.one(h.cmd(), 3, true);
    h.checkNeverApplied(stale, 'only a disconnected leader ever held it');
    for (const i of [i101, i103, i104, i105]) assert.equal(h.nCommitted(i).count, 3, `index ${i} is not on all 3 peers`);
  });
});

test('2B backup: a leader backs up quickly over incorrect follower logs', { timeout: 120_000 }, async () => {
  await withHarness({ peers: 5 }, async (h) => {
    const indexes: number[] = [await h.one(h.cmd(), 5, true)];

    // Put the leader and one follower in a partition.
    const leader1 = await h.checkOneLeader();
    for (const k of [2, 3, 4]) h.disconnect((leader1 + k) % 5);

    // Submit lots of commands that won't commit.
    const stale: string[] = [];
    for (let i = 0; i < 50; i++) {
      const c = h.cmd('stale');
      stale.push(c);
      await h.propose(leader1, c);
    }
    await sleep(ELECTION_TIMEOUT_MS / 2);
    h.disconnect(leader1);
    h.disconnect((leader1 + 1) % 5);

    // Allow the other partition to recover.
    for (const k of [2, 3, 4]) h.connect((leader1 + k) % 5);

    // Lots of successful commands to the new group.
    for (let i = 0; i < 50; i++) indexes.push(await h.one(h.cmd(), 3, true));

    // Now another partitioned leader and one follower.
    const leader2 = await h.checkOneLeader();
    let other = (leader1 + 2) % 5;
    if (leader2 === other) other = (leader2 + 1) % 5;
    h.disconnect(other);

    // Lots more commands that won't commit.
    for (let i = 0; i < 50; i++) {
      const c = h.cmd('stale');
      stale.push(c);
      await h.propose(leader2, c);
    }
    await sleep(ELECTION_TIMEOUT_MS / 2);

    // Bring the original leader back to life, with one of the new group.
    for (let i = 0; i < 5; i++) h.disconnect(i);
    h.connect(leader1);
    h.connect((leader1 + 1) % 5);
    h.connect(other);

    // Lots of successful commands to the new group.
    for (let i = 0; i < 50; i++) indexes.push(await h.one(h.cmd(), 3, true));

    // Now everyone.
    for (let i = 0; i < 5; i++) h.connect(i);
    indexes.push(await h.one(h.cmd(), 5, true));
    h.checkNeverApplied(stale, 'it was only ever held by a minority');
    for (let k = 1; k < indexes.length; k++) assert.ok(indexes[k]! > indexes[k - 1]!, `index ${indexes[k]} after ${indexes[k - 1]}`);
    for (const i of indexes) assert.equal(h.nCommitted(i).count, 5, `index ${i} is not on all 5 peers`);
  });
});

/**
 * The lab's TestCount2B, after the initial election: returns the RPC total when agreement ended,
 * and the RPCs agreement took.
 */
async function agreementRpcs(h: Harness): Promise<[number, number]> {
  for (let attempt = 0; attempt < 5; attempt++) {
    if (attempt > 0) await sleep(3000); // give the solution some time to settle
    const leader = await h.checkOneLeader();
    const total1 = await h.rpcTotal();
    const iters = 10;
    const r0 = await h.propose(leader, h.cmd());
    if (!r0?.isLeader) continue; // leader moved on really quickly
    const { index: starti, term } = r0;
    const cmds: string[] = [];
    let moved = false;
    for (let i = 1; i < iters + 2; i++) {
      const x = h.cmd();
      cmds.push(x);
      const r = await h.propose(leader, x);
      if (!r?.isLeader || r.term !== term) {
        moved = true; // term moved on
        break;
      }
      assert.equal(r.index, starti + i, 'Start() failed to give consecutive indexes within one term');
    }
    if (moved) continue;
    for (let i = 1; i < iters + 1; i++) {
      const c = await h.wait(starti + i, 3, term);
      if (c === null) {
        moved = true; // term changed -- try again
        break;
      }
      assert.equal(c, cmds[i - 1], `wrong value committed for index ${starti + i}`);
    }
    if (moved) continue;
    let failed = false;
    let total2 = 0;
    for (let j = 0; j < 3; j++) {
      const st = await h.getState(j);
      if (st.term !== term) failed = true; // term changed -- can't expect low RPC counts
    }
    total2 = await h.rpcTotal();
    if (failed) continue;
    assert.ok(total2 - total1 <= (iters + 1 + 3) * 3, `too many RPCs (${total2 - total1}) for ${iters} entries`);
    return [total2, total2 - total1];
  }
  assert.fail('term changed too often');
}

/**
 * The lab requires "that the leader send heartbeat RPCs no more than ten times per second", and
 * sets its RPC limits for that rate. The library's default heartbeat (50 ms) is twice as fast: an
 * idle 3-peer cluster sends 40 RPCs a second, within the idle limit (60), but the election limit
 * (30, counted after the tester's first 450-550 ms poll, and here also counting heartbeats sent
 * while Cluster.start waited for the last worker to boot) is met with little margin: 12-32 over
 * 30 starts, once above 30. So the lab's own test runs with lab timing (heartbeats every 100 ms,
 * elections after 300-600 ms), and the default timing is checked against the limits it does meet.
 */
const LAB_TIMING = { heartbeatMs: 100, electionTimeoutMs: [300, 600] as [number, number] };

test("2B RPC counts aren't too high: election, agreement, idleness (lab timing: heartbeats at 10/s)", { timeout: 120_000 }, async (t) => {
  await withHarness({ peers: 3, ...LAB_TIMING }, async (h) => {
    await h.checkOneLeader();
    const total1 = await h.rpcTotal();
    assert.ok(total1 <= 30 && total1 >= 1, `too many or few RPCs (${total1}) to elect initial leader`);

    const [total2, agreement] = await agreementRpcs(h);

    await sleep(ELECTION_TIMEOUT_MS);
    const total3 = await h.rpcTotal();
    assert.ok(total3 - total2 <= 3 * 20, `too many RPCs (${total3 - total2}) for 1 second of idleness`);
    t.diagnostic(`RPCs: ${total1} to elect the first leader, ${agreement} to agree on 10 entries, ${total3 - total2} in an idle second`);
    // And heartbeats do flow: an idle leader still talks to its followers.
    assert.ok(total3 - total2 >= 2, `only ${total3 - total2} RPCs in 1 second of idleness: no heartbeats`);
  });
});

test('2B RPC counts with the default timing (heartbeats every 50 ms): agreement and idleness within the lab limits', { timeout: 120_000 }, async (t) => {
  await withHarness({ peers: 3 }, async (h) => {
    await h.checkOneLeader();
    const total1 = await h.rpcTotal();
    assert.ok(total1 >= 1, 'no RPCs to elect a leader');
    const [total2, agreement] = await agreementRpcs(h);
    await sleep(ELECTION_TIMEOUT_MS);
    const total3 = await h.rpcTotal();
    assert.ok(total3 - total2 <= 3 * 20, `too many RPCs (${total3 - total2}) for 1 second of idleness`);
    t.diagnostic(`RPCs: ${total1} by the first leader check (lab limit 30, see above), ${agreement} to agree on 10 entries, ${total3 - total2} in an idle second`);
  });
});
