/**
 * Every fault mode of the Cluster API on real workers and LMDB (without fsync): partitions,
 * one-way link cuts, setNetwork merging, fault calls that take effect before they return,
 * calls on a crashed peer, and link state kept independent of crash/restart.
 *
 * "Takes effect before it returns" is checked two ways: by behaviour (commands proposed right
 * after disconnect/partition returns never leave the cut-off side), and, for the calls whose
 * effect has no safe behavioural witness (connect, heal), by reading the effective links in the
 * fault table the peers read before every send; that reads the Cluster's private `faults` field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster } from '../../src/cluster/cluster.js';
import { PeerDownError } from '../../src/errors.js';
import { FaultTableView } from '../../src/transport/fault-table.js';
import { sleep, withHarness, type Harness } from './harness.js';

/** The shared fault table the peers read (white box: the Cluster's private `faults`). */
function faultTable(c: Cluster): FaultTableView {
  const t = (c as unknown as { faults?: unknown }).faults;
  assert.ok(t instanceof FaultTableView, 'the Cluster no longer keeps its fault table in `faults`: update faultTable() in this test');
  return t;
}

/** Which directed links are up, as "a>b" strings. */
function upLinks(c: Cluster): string[] {
  const t = faultTable(c);
  const out: string[] = [];
  for (let a = 0; a < c.peers; a++) for (let b = 0; b < c.peers; b++) if (a !== b && t.isLinkUp(a, b)) out.push(`${a}>${b}`);
  return out;
}

function allLinks(n: number, except: (a: number, b: number) => boolean = () => false): string[] {
  const out: string[] = [];
  for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) if (a !== b && !except(a, b)) out.push(`${a}>${b}`);
  return out;
}

/** Rejects if `p` has not settled within `ms`: a call that hangs fails the test instead of stalling it. */
function settlesWithin<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Peer i's applied commands, as a set of indexes, now. */
function appliedIndexes(h: Harness, i: number): number[] {
  return [...h.applied[i]!.keys()].sort((a, b) => a - b);
}

// ------------------------------------------------------------------ partitions

test('partition: the majority side commits, the minority cannot; heal brings everyone back', { timeout: 90_000 }, async () => {
  await withHarness({ peers: 5 }, async (h) => {
    const before = await h.one('before', 5);
    h.cluster.partition([
      [0, 1],
      [2, 3, 4],
    ]);
    const minorityApplied = [appliedIndexes(h, 0), appliedIndexes(h, 1)];

    // The majority elects (or keeps) a leader and commits.
    const leader = await h.checkOneLeader([2, 3, 4]);
    const majority: number[] = [];
    for (let k = 0; k < 5; k++) {
      const r = await h.cluster.propose(leader, `majority.${k}`);
      assert.ok(r.isLeader, `peer ${leader} stopped leading the majority side`);
      majority.push(r.index);
    }
    assert.ok(await h.until(() => majority.every((i) => h.nCommitted(i).count === 3), 10_000), 'the majority side did not commit');
    for (const i of majority) for (const p of [2, 3, 4]) assert.ok(h.applied[p]!.has(i), `peer ${p} lacks ${i}`);

    // The minority takes commands only if its peer still believes it leads, and never commits them.
    const offered: string[] = [];
    for (const p of [0, 1]) {
      for (let k = 0; k < 3; k++) {
        const c = `minority.${p}.${k}`;
        if ((await h.cluster.propose(p, c)).isLeader) offered.push(c);
      }
    }
    await sleep(1500);
    assert.deepEqual([appliedIndexes(h, 0), appliedIndexes(h, 1)], minorityApplied, 'a minority peer applied something while partitioned');
    h.checkNeverApplied(offered, 'it was offered to the minority side');
    // A minority leader, if any, has stepped down (check-quorum), and none was elected there.
    for (const p of [0, 1]) assert.equal((await h.cluster.state(p)).isLeader, false, `minority peer ${p} still leads after 1.5 s`);

    h.cluster.heal();
    const after = await h.one('after heal', 5);
    assert.ok(after > before);
    for (const i of majority) assert.equal(h.nCommitted(i).count, 5, `index ${i} is not on all 5 peers after heal`);
    h.checkNeverApplied(offered, 'only the minority side ever held it');
  });
});

test('partition and disconnect take effect before they return: nothing proposed afterwards leaves the cut-off side', { timeout: 90_000 }, async () => {
  await withHarness({ peers: 5 }, async (h) => {
    await h.one('warm-up', 5);
    for (let round = 0; round < 3; round++) {
      const leader = await h.checkOneLeader();
      const mate = (leader + 1) % 5;
      const others = [2, 3, 4].map((k) => (leader + k) % 5);
      const cut: string[] = [];
      if (round % 2 === 0) {
        // The leader and one follower are cut off from the other three.
        h.cluster.partition([[leader, mate], others]);
      } else {
        h.cluster.disconnect(leader);
      }
      // At once, as many commands as the leader takes: none may reach a majority.
      for (let k = 0; k < 20; k++) {
        const c = `cut.${round}.${k}`;
        if ((await h.cluster.propose(leader, c)).isLeader) cut.push(c);
      }
      assert.ok(cut.length > 0, 'the cut-off leader took no command at all');
      // The other side elects a leader of a later term, which overwrites what the old one had.
      await h.checkOneLeader(round % 2 === 0 ? others : [mate, ...others]);
      h.cluster.heal();
      await h.one(`healed.${round}`, 5);
      h.checkNeverApplied(cut, 'it was proposed after its leader was cut off from the majority');
    }
  });
});

test('connect, disconnect, partition, heal and setLink change the links the peers read before they return', { timeout: 30_000 }, async () => {
  await withHarness({ peers: 5 }, async (h) => {
    const c = h.cluster;
    assert.deepEqual(upLinks(c), allLinks(5));
    c.disconnect(2);
    assert.deepEqual(upLinks(c), allLinks(5, (a, b) => a === 2 || b === 2));
    c.connect(2);
    assert.deepEqual(upLinks(c), allLinks(5));
    c.partition([
      [0, 1],
      [2, 3, 4],
    ]);
    const side = (p: number) => (p < 2 ? 0 : 1);
    assert.deepEqual(upLinks(c), allLinks(5, (a, b) => side(a) !== side(b)));
    c.heal();
    assert.deepEqual(upLinks(c), allLinks(5));
    c.setLink(3, 4, false);
    assert.deepEqual(upLinks(c), allLinks(5, (a, b) => a === 3 && b === 4));
    c.setLink(3, 4, true);
    assert.deepEqual(upLinks(c), allLinks(5));
    // A peer left out of every group is alone.
    c.partition([[0, 1, 2, 3]]);
    assert.deepEqual(upLinks(c), allLinks(5, (a, b) => a === 4 || b === 4));
    c.heal();
    assert.deepEqual(upLinks(c), allLinks(5));
    // The cluster still works after all that.
    await h.one('still fine', 5);
  });
});

// ------------------------------------------------------------------ one-way cuts

test('setLink one-way: a follower cut off from all inbound traffic learns nothing, never leads, and the rest go on', { timeout: 60_000 }, async () => {
  await withHarness({ peers: 3 }, async (h) => {
    await h.one('before', 3);
    const leader = await h.checkOneLeader();
    const f = (leader + 1) % 3;
    const o = (leader + 2) % 3;
    h.cluster.setLink(leader, f, false);
    h.cluster.setLink(o, f, false);
    const fApplied = appliedIndexes(h, f);

    // f hears nothing: it times out and campaigns again and again, but its (pre-)vote requests
    // only reach peers that still hear a leader, and no reply reaches it.
    const indexes: number[] = [];
    let fLed = false;
    for (let k = 0; k < 10; k++) {
      indexes.push(await h.one(`one-way.${k}`, 2));
      if ((await h.cluster.state(f)).isLeader) fLed = true;
      await sleep(50);
    }
    assert.equal(fLed, false, `peer ${f} became leader without hearing anyone`);
    assert.deepEqual(appliedIndexes(h, f), fApplied, `peer ${f} applied entries although nothing could reach it`);
    for (const i of indexes) assert.equal(h.nCommitted(i).count, 2);

    h.cluster.setLink(leader, f, true);
    h.cluster.setLink(o, f, true);
    await h.one('after', 3);
    for (const i of indexes) assert.equal(h.nCommitted(i).count, 3, `index ${i} did not reach peer ${f} after its links came back`);
  });
});

test("setLink one-way: a follower's replies cut, its inbound kept: it stores the leader's entries, but they cannot commit with it", { timeout: 60_000 }, async () => {
  await withHarness({ peers: 3 }, async (h) => {
    await h.one('before', 3);
    const leader = await h.checkOneLeader();
    const f = (leader + 1) % 3;
    const o = (leader + 2) % 3;
    // The leader and f alone: o is cut off; f can hear the leader but not answer it.
    h.cluster.disconnect(o);
    h.cluster.setLink(f, leader, false);
    const r = await h.cluster.propose(leader, 'half-heard');
    assert.ok(r.isLeader);
    // f stores the entry: leader -> f works.
    assert.ok(await h.until(async () => (await h.cluster.state(f)).lastLogIndex >= r.index, 5000), `peer ${f} never received the entry`);
    // But its acknowledgement never arrives, so the entry cannot commit.
    await sleep(1500);
    assert.equal(h.nCommitted(r.index).count, 0, 'an entry committed with only one direction of a link to the second peer');
    assert.equal((await h.cluster.state(leader)).commitIndex < r.index, true, 'the leader counted an ack it cannot have received');

    // f -> leader back: the two of them commit it (both hold it, whoever leads).
    h.cluster.setLink(f, leader, true);
    assert.ok(await h.until(() => h.nCommitted(r.index).count === 2, 10_000), 'the entry did not commit once the link was whole');
    h.cluster.connect(o);
    await h.one('after', 3);
    assert.equal(h.nCommitted(r.index).command, 'half-heard');
  });
});

// ------------------------------------------------------------------ setNetwork

/** Proposes on the leader and returns how long until the leader applied it (ms). */
async function commitLatency(h: Harness, cmd: string): Promise<number> {
  const leader = await h.checkOneLeader();
  const t0 = performance.now();
  const r = await h.cluster.propose(leader, cmd);
  assert.ok(r.isLeader);
  assert.ok(await h.until(() => h.applied[leader]!.get(r.index) === cmd, 10_000, 2), `${cmd} did not commit`);
  return performance.now() - t0;
}

test('setNetwork merges: setting one field keeps the others (behaviour)', { timeout: 90_000 }, async () => {
  await withHarness({ peers: 3 }, async (h) => {
    await h.one('before', 3);

    // 50 ms each way: a commit takes at least an append and an ack.
    h.cluster.setNetwork({ delayMs: [50, 50] });
    const slow = await commitLatency(h, 'slow.1');
    assert.ok(slow >= 90, `a commit took ${slow.toFixed(1)} ms with 50 ms delays each way`);

    // Every message lost, the delay kept: nothing commits, and after a while nobody leads.
    const leader = await h.checkOneLeader();
    h.cluster.setNetwork({ dropRate: 1 });
    const lost = await h.cluster.propose(leader, 'lost');
    h.cluster.setNetwork({ longReordering: false }); // another field: drops stay on
    await sleep(2000);
    assert.deepEqual(h.whereApplied('lost'), [], 'an entry committed with every message dropped');
    for (let i = 0; i < 3; i++) assert.equal((await h.cluster.state(i)).isLeader, false, `peer ${i} leads with every message dropped`);
    assert.ok(lost.index > 0);

    // Drops off: the delay is still there.
    h.cluster.setNetwork({ dropRate: 0 });
    await h.one('recovered', 3);
    const stillSlow = await commitLatency(h, 'slow.2');
    assert.ok(stillSlow >= 90, `a commit took ${stillSlow.toFixed(1)} ms: setting dropRate dropped the delay`);

    // reliable: true clears drops and delays.
    h.cluster.setNetwork({ reliable: true });
    let fastest = Infinity;
    for (let k = 0; k < 5; k++) fastest = Math.min(fastest, await commitLatency(h, `fast.${k}`));
    assert.ok(fastest < 50, `the fastest of 5 commits took ${fastest.toFixed(1)} ms after reliable: true`);
  });
});

test('setNetwork merges: the settings the peers read after each call (white box), and bad values change nothing', { timeout: 30_000 }, async () => {
  await withHarness({ peers: 3 }, async (h) => {
    const c = h.cluster;
    const net = () => faultTable(c).network();
    assert.equal(net().dropRate, 0);
    c.setNetwork({ reliable: false });
    assert.equal(net().dropRate, 0.1);
    assert.deepEqual(net().delayMs, [0, 27]);
    c.setNetwork({ longReordering: true });
    assert.equal(net().longReordering, true);
    assert.equal(net().dropRate, 0.1, 'longReordering reset the drop rate');
    assert.deepEqual(net().delayMs, [0, 27]);
    c.setNetwork({ longDelays: true, delayMs: [1, 5] });
    assert.equal(net().longDelays, true);
    assert.equal(net().longReordering, true, 'longDelays reset longReordering');
    assert.equal(net().dropRate, 0.1);
    assert.deepEqual(net().delayMs, [1, 5]);
    assert.throws(() => c.setNetwork({ dropRate: 1.5 }), /dropRate/);
    assert.throws(() => c.setNetwork({ delayMs: [5, 1] }), /delayMs/);
    assert.equal(net().dropRate, 0.1, 'a rejected setNetwork changed the drop rate');
    assert.deepEqual(net().delayMs, [1, 5], 'a rejected setNetwork changed the delays');
    c.setNetwork({ reliable: true });
    assert.equal(net().dropRate, 0);
    assert.deepEqual(net().delayMs, [0, 0]);
    assert.equal(net().longReordering, true, 'reliable: true does not touch the long* settings');
    c.setNetwork({ longReordering: false, longDelays: false });
    await h.one('still fine', 3);
  });
});

test('stats: rpcs count requests per peer, bytes grow with the commands, logBytes with the log', { timeout: 30_000 }, async () => {
  await withHarness({ peers: 3 }, async (h) => {
    const leader = await h.checkOneLeader();
    const s0 = await h.cluster.stats();
    assert.equal(s0.rpcs.length, 3);
    assert.equal(s0.logBytes.length, 3);
    assert.ok(s0.rpcs[leader]! > 0, 'the leader sent no RPCs');
    await h.one('x'.repeat(10_000), 3);
    const s1 = await h.cluster.stats();
    // Both followers got the command: at least 2 x 10 000 bytes more.
    assert.ok(s1.bytes - s0.bytes >= 20_000, `bytes grew by ${s1.bytes - s0.bytes}`);
    for (let i = 0; i < 3; i++) assert.ok(s1.logBytes[i]! >= s0.logBytes[i]! + 10_000, `peer ${i}'s logBytes went from ${s0.logBytes[i]} to ${s1.logBytes[i]}`);
    // Followers send replies, which do not count, and no requests while a leader is healthy.
    await sleep(300);
    const s2 = await h.cluster.stats();
    await sleep(500);
    const s3 = await h.cluster.stats();
    for (let i = 0; i < 3; i++) if (i !== leader) assert.equal(s3.rpcs[i], s2.rpcs[i], `follower ${i} sent RPC requests while the leader was healthy`);
    assert.ok(s3.rpcs[leader]! > s2.rpcs[leader]!, 'an idle leader sent no heartbeats');
    // A crashed peer keeps its last known log size.
    const f = (leader + 1) % 3;
    await h.crash(f);
    const s4 = await h.cluster.stats();
    assert.equal(s4.logBytes[f], s3.logBytes[f]);
  });
});

// ------------------------------------------------------------------ calls on a crashed peer

test('after crash, propose, proposeBatch, state and snapshot reject with "peer is down" and do not hang', { timeout: 30_000 }, async () => {
  await withHarness({ peers: 3 }, async (h) => {
    const leader = await h.checkOneLeader();
    const idx = await h.one('before', 3);
    for (const victim of [(leader + 1) % 3, leader]) {
      await h.crash(victim);
      assert.equal(h.isUp(victim), false);
      const isDown = (e: unknown) => e instanceof PeerDownError && e.code === 'EPEERDOWN' && e.peer === victim && /peer \d+ is down/.test(e.message);
      await assert.rejects(settlesWithin(h.cluster.propose(victim, 'x'), 2000, 'propose'), isDown);
      await assert.rejects(settlesWithin(h.cluster.proposeBatch(victim, ['x', 'y']), 2000, 'proposeBatch'), isDown);
      await assert.rejects(settlesWithin(h.cluster.state(victim), 2000, 'state'), isDown);
      await assert.rejects(settlesWithin(h.cluster.snapshot(victim, idx, new Uint8Array([1])), 2000, 'snapshot'), isDown);
      // Crashing a crashed peer is a no-op; stats still answer.
      await settlesWithin(h.cluster.crash(victim), 2000, 'a second crash');
      await settlesWithin(h.cluster.stats(), 2000, 'stats');
    }
    for (const p of [0, 1, 2]) if (!h.isUp(p)) await h.restart(p);
    await h.one('after', 3);
  });
});

test('calls in flight when a peer crashes settle: resolved, or rejected with "peer is down"', { timeout: 30_000 }, async () => {
  await withHarness({ peers: 3 }, async (h) => {
    for (let round = 0; round < 3; round++) {
      const leader = await h.checkOneLeader();
      const calls: Promise<unknown>[] = [];
      for (let k = 0; k < 50; k++) {
        calls.push(h.cluster.state(leader));
        calls.push(h.cluster.propose(leader, `inflight.${round}.${k}`));
      }
      calls.push(h.cluster.proposeBatch(leader, ['a', 'b', 'c']));
      const st = await h.cluster.state(leader);
      calls.push(h.cluster.snapshot(leader, st.lastApplied, new Uint8Array(16)));
      const crashing = h.cluster.crash(leader);
      const results = await settlesWithin(Promise.allSettled(calls), 3000, 'the calls in flight');
      await crashing;
      for (const r of results) {
        if (r.status === 'rejected') assert.ok(r.reason instanceof PeerDownError, `a call failed with ${String(r.reason)}, not PeerDownError`);
      }
      await h.restart(leader);
    }
    await h.one('after', 3);
  });
});

// ------------------------------------------------------------------ link state vs process state

test('link state is independent of crash and restart', { timeout: 90_000 }, async () => {
  await withHarness({ peers: 3 }, async (h) => {
    const c = h.cluster;
    await h.one('start', 3);

    // A connected peer comes back connected: it catches up without any connect().
    const leader = await h.checkOneLeader();
    const f = (leader + 1) % 3;
    await h.crash(f);
    const whileDown = await h.one('while down', 2);
    await h.restart(f);
    assert.ok(await h.until(() => h.applied[f]!.has(whileDown), 5000), `restarted peer ${f} did not catch up without connect()`);

    // A partitioned peer stays partitioned across crash and restart, until heal().
    c.partition([[f], [0, 1, 2].filter((p) => p !== f)]);
    await h.crash(f);
    await h.restart(f);
    const inPartition = await h.one('in partition', 2);
    await sleep(500);
    assert.equal(h.applied[f]!.has(inPartition), false, `peer ${f} left its partition by restarting`);
    c.heal();
    assert.ok(await h.until(() => h.applied[f]!.has(inPartition), 5000), `peer ${f} did not catch up after heal()`);

    // A one-way cut (everything into f) survives a restart too.
    const l2 = await h.checkOneLeader();
    const g = (l2 + 1) % 3;
    const rest = [0, 1, 2].filter((p) => p !== g);
    for (const p of rest) c.setLink(p, g, false);
    await h.crash(g);
    await h.restart(g);
    const oneWay = await h.one('one-way', 2);
    await sleep(500);
    assert.equal(h.applied[g]!.has(oneWay), false, `peer ${g}'s inbound links came back with a restart`);
    for (const p of rest) c.setLink(p, g, true);
    assert.ok(await h.until(() => h.applied[g]!.has(oneWay), 5000), `peer ${g} did not catch up after setLink`);

    // Links changed while a peer is down apply when it comes back: disconnected while down...
    await h.crash(g);
    c.disconnect(g);
    await h.restart(g);
    const offline = await h.one('offline', 2);
    await sleep(500);
    assert.equal(h.applied[g]!.has(offline), false, `peer ${g} was disconnected while down but came back connected`);
    // ...and reconnected while down.
    await h.crash(g);
    c.connect(g);
    await h.restart(g);
    assert.ok(await h.until(() => h.applied[g]!.has(offline), 5000), `peer ${g} was connected while down but came back cut off`);
    await h.one('end', 3);
  });
});

test(
  'connect(i) does not reconnect a peer that is still disconnected',
  { timeout: 30_000 },
  async () => {
    // Reproduction: disconnect(f), then disconnect(leader) and connect(leader): f has not been
    // connected again, so it must stay cut off ("a peer that was disconnected stays
    // disconnected ... until connect(i)", and 6.824's connect(i) links i only to connected
    // peers). Expected: f learns nothing. Actual: Cluster.connect(leader) sets
    // userLinks[leader][f] and userLinks[f][leader] (src/cluster/cluster.ts, connect(): it sets
    // every link of the peer, whatever the other end's state), so f is linked to the leader
    // again and applies its entries. Likewise connect(i) undoes a partition for i. The fault
    // table already has the lab's layered model (fault-table.ts: connected[i] per peer, groups,
    // one-way links, with heal() leaving disconnected peers alone) that the Cluster bypasses by
    // writing only per-link state. The lab scenarios work around it (harness.ts connect()).
    await withHarness({ peers: 3 }, async (h) => {
      await h.one('before', 3);
      const leader = await h.checkOneLeader();
      const f = (leader + 1) % 3;
      h.cluster.disconnect(f);
      h.cluster.disconnect(leader);
      h.cluster.connect(leader);
      const idx = await h.one('f must not see this', 2);
      await sleep(1000);
      assert.equal(h.applied[f]!.has(idx), false, `peer ${f} was never connected again, yet it applied index ${idx}`);
      assert.equal(faultTable(h.cluster).isLinkUp(leader, f), false, `link ${leader} -> ${f} is up though ${f} is disconnected`);
    });
  },
);
