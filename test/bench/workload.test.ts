/**
 * The workload helpers the bench and the profiler share (src/profile/workload.ts): the Pump keeps
 * its window of proposals in flight, in pipelined chunks, and the Compactor snapshots every peer
 * as a service would.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from '../../src/cluster/cluster.js';
import { Compactor, Pump, commandOfSize, waitForLeader } from '../../src/profile/workload.js';
import type { ApplyListener } from '../../src/cluster/cluster.js';

test('the compactor snapshots every peer each time it has applied that many more entries', { timeout: 60_000 }, async () => {
  const cluster = await Cluster.start({ peers: 3, storage: 'memory', seed: 11 });
  try {
    const leader = await waitForLeader(cluster);
    const compactor = new Compactor(cluster, 500);
    const pump = new Pump({ cluster, leader, outstanding: 256, chunk: 64, command: commandOfSize(16), batch: true });
    pump.start();
    await pump.waitApplied(2_000);
    await pump.stop();
    // Followers apply a little after the leader (they learn the commit index from the next
    // message); the compactor keeps listening until every peer's snapshot has landed.
    const deadline = Date.now() + 10_000;
    let states = await Promise.all([0, 1, 2].map((i) => cluster.state(i)));
    while (states.some((s) => s.snapshotIndex < 1_500) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      states = await Promise.all([0, 1, 2].map((i) => cluster.state(i)));
    }
    compactor.close();
    assert.equal(compactor.lastError, null);
    for (const [i, s] of states.entries()) {
      assert.ok(s.snapshotIndex >= 1_500, `peer ${i} snapshotted only up to ${s.snapshotIndex}`);
      assert.ok(s.snapshotIndex <= s.lastApplied);
    }
    assert.ok(compactor.snapshots >= 3 * 3, `${compactor.snapshots} snapshots for 2,000+ entries every 500 on 3 peers`);
  } finally {
    await cluster.close();
  }
});

test('a pump with chunks keeps its window full and never proposes past it', { timeout: 60_000 }, async () => {
  const cluster = await Cluster.start({ peers: 3, storage: 'memory', seed: 12 });
  try {
    const leader = await waitForLeader(cluster);
    let maxInFlight = 0;
    let calls = 0;
    const pump: Pump = new Pump({
      cluster,
      leader,
      outstanding: 300,
      chunk: 100,
      command: commandOfSize(8),
      batch: true,
      onProposed: (_t, _first, count) => {
        calls++;
        assert.ok(count <= 100, `a call carried ${count} commands, over the chunk of 100`);
        maxInFlight = Math.max(maxInFlight, pump.proposed - pump.applied);
      },
    });
    pump.start();
    await pump.waitApplied(3_000);
    await pump.stop();
    assert.ok(maxInFlight <= 300, `${maxInFlight} proposals in flight, over the window of 300`);
    // Replies to calls and the apply stream travel on different ports, so the last calls may not
    // have reported back yet: count what was proposed, which the pump does as it calls.
    assert.ok(pump.proposed >= 3_000);
    assert.ok(calls >= 2, `${calls} calls reported`);
    assert.equal(pump.applied, pump.proposed);
  } finally {
    await cluster.close();
  }
});

test('a pump refuses a chunk that is not a positive integer', () => {
  assert.throws(() => new Pump({ cluster: null as never, leader: 0, outstanding: 8, chunk: 0, command: commandOfSize(1), batch: true }), /chunk must be a positive integer/);
});

test('entries applied while the compactor takes a snapshot get one of their own once it lands, with no further apply', async () => {
  // A stand-in for the Cluster: applies delivered by hand, snapshots resolved by hand.
  let listener: ApplyListener | null = null;
  const taken: { peer: number; index: number; done: () => void }[] = [];
  const fake = {
    peers: 1,
    onApply(l: ApplyListener) {
      listener = l;
      return () => (listener = null);
    },
    snapshot(peer: number, index: number) {
      return new Promise<void>((done) => taken.push({ peer, index, done }));
    },
  };
  const compactor = new Compactor(fake as unknown as Cluster, 100);
  const apply = (index: number) => listener!(0, { type: 'entry', index, command: null } as never);
  for (let i = 1; i <= 100; i++) apply(i);
  assert.deepEqual(taken.map((t) => t.index), [100]);
  for (let i = 101; i <= 250; i++) apply(i); // while the snapshot at 100 is taken: none asked
  assert.equal(taken.length, 1);
  taken[0]!.done();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(taken.map((t) => t.index), [100, 250], 'the entries applied meanwhile were never snapshotted');
  taken[1]!.done();
  await new Promise((r) => setImmediate(r));
  assert.equal(taken.length, 2, 'nothing more was due');
  assert.equal(compactor.snapshots, 2);
  compactor.close();
});
