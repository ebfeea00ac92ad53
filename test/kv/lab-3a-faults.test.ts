/**
 * 6.824 kvraft lab 3A under faults: partitions with the leader on either side, crashes and
 * restarts of single peers and of every peer, and all of it on an unreliable network. Clients
 * keep running throughout; every history must be linearizable.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore, type Store } from '../../src/kv/index.js';
import { createRng } from '../../src/core/rng.js';
import { checkAppends, churn, runWorkload, sleep, testSeed, stopSignal } from './helpers.js';

/** The peer that leads (by the peers' own view), or -1. */
async function leaderOf(store: Store): Promise<number> {
  for (let i = 0; i < store.cluster.peers; i++) {
    if (!store.cluster.isUp(i)) continue;
    try {
      if ((await store.cluster.state(i)).isLeader) return i;
    } catch {
      /* down */
    }
  }
  return -1;
}

test('partitions: majority and minority sides, the leader on either; clients keep going; linearizable', async () => {
  const seed = testSeed();
  const rng = createRng(seed);
  const store = await openStore({ peers: 5, sync: false, seed, timeoutMs: 30_000 });
  try {
    const { until, stop: done } = stopSignal();
    const work = runWorkload(store, { clients: 5, keys: 4, until, seed });
    for (let round = 0; round < 6; round++) {
      await sleep(400);
      const leader = await leaderOf(store);
      const order = [0, 1, 2, 3, 4].sort(() => rng.next() - 0.5);
      // Half the rounds put the current leader in the minority.
      const minorityHasLeader = round % 2 === 0 && leader >= 0;
      const rest = order.filter((p) => p !== leader);
      const minority = minorityHasLeader ? [leader, rest[0]!] : [rest[0]!, rest[1]!];
      const majority = order.filter((p) => !minority.includes(p));
      store.cluster.partition([majority, minority]);
      await sleep(700);
      store.cluster.heal();
    }
    await sleep(300);
    done();
    const { history, ops } = await work;
    assert.ok(ops > 100, `only ${ops} operations`);
    assert.equal(history.unknown, 0, 'with a majority always connected, no operation may give up');
    await history.check(`seed ${seed}`);
  } finally {
    await store.close();
  }
});

test('crashes and restarts of single peers, the leader included, while clients run: linearizable', async () => {
  const seed = testSeed();
  const rng = createRng(seed);
  const store = await openStore({ peers: 5, sync: false, seed, timeoutMs: 30_000 });
  try {
    const { until, stop: done } = stopSignal();
    const work = runWorkload(store, { clients: 5, keys: 4, until, seed });
    const down: number[] = [];
    for (let round = 0; round < 8; round++) {
      await sleep(300);
      if (down.length >= 2 || (down.length > 0 && rng.next() < 0.5)) {
        const p = down.shift()!;
        await store.cluster.restart(p);
      } else {
        const leader = await leaderOf(store);
        const candidates = [0, 1, 2, 3, 4].filter((p) => !down.includes(p));
        const p = round % 3 === 0 && leader >= 0 ? leader : candidates[rng.int(0, candidates.length)]!;
        await store.cluster.crash(p);
        down.push(p);
      }
    }
    for (const p of down) await store.cluster.restart(p);
    await sleep(300);
    done();
    const { history, ops } = await work;
    assert.ok(ops > 100, `only ${ops} operations`);
    assert.equal(history.unknown, 0);
    await history.check(`seed ${seed}`);
  } finally {
    await store.close();
  }
});

test('every peer crashes and restarts at once, twice, while clients wait: nothing acknowledged is lost; linearizable', async () => {
  const seed = testSeed();
  const store = await openStore({ peers: 3, sync: false, seed, timeoutMs: 30_000 });
  try {
    const { until, stop: done } = stopSignal();
    const work = runWorkload(store, { clients: 5, keys: 2, until, seed, mix: [1, 0, 3, 0, 0] });
    for (let round = 0; round < 2; round++) {
      await sleep(700);
      await Promise.all([0, 1, 2].map((p) => store.cluster.crash(p)));
      await sleep(300);
      // Concurrent restarts: Cluster.restart runs them one at a time, each wired to every running peer.
      await Promise.all([0, 1, 2].map((p) => store.cluster.restart(p)));
    }
    await sleep(700);
    done();
    const { history, appends } = await work;
    assert.equal(history.unknown, 0);
    await history.check(`seed ${seed}`);
    for (const key of ['k0', 'k1']) {
      const v = ((await store.get(key)) as string | undefined) ?? '';
      for (const [ci, a] of appends.entries()) checkAppends(v, a.get(key) ?? [], `client ${ci}, key ${key}`);
    }
  } finally {
    await store.close();
  }
});

test('partitions, crashes and an unreliable network together: linearizable', async () => {
  const seed = testSeed();
  const rng = createRng(seed);
  const store = await openStore({ peers: 5, sync: false, seed, timeoutMs: 30_000 });
  try {
    store.cluster.setNetwork({ reliable: false });
    const { until, stop: done } = stopSignal();
    const work = runWorkload(store, { clients: 5, keys: 3, until, seed });
    await churn(store, rng, 5, 400);
    store.cluster.setNetwork({ reliable: true });
    await sleep(500);
    done();
    const { history, ops } = await work;
    assert.ok(ops > 50, `only ${ops} operations`);
    await history.check(`seed ${seed}`);
  } finally {
    await store.close();
  }
});

test('lease reads under partitions that depose the leader: linearizable', async () => {
  const seed = testSeed();
  const store = await openStore({ peers: 5, sync: false, seed, timeoutMs: 30_000 });
  try {
    const { until, stop: done } = stopSignal();
    const work = runWorkload(store, { clients: 5, keys: 3, until, seed, consistency: 'lease', mix: [6, 2, 2, 1, 0] });
    for (let round = 0; round < 4; round++) {
      await sleep(300);
      const leader = await leaderOf(store);
      if (leader < 0) continue;
      // The leader and one follower on the minority side: the leader's lease must run out before
      // the majority elects another leader, or its lease reads would be stale.
      const follower = (leader + 1) % 5;
      const minority = [leader, follower];
      store.cluster.partition([[0, 1, 2, 3, 4].filter((p) => !minority.includes(p)), minority]);
      await sleep(800);
      store.cluster.heal();
    }
    await sleep(300);
    done();
    const { history, ops } = await work;
    assert.ok(ops > 100, `only ${ops} operations`);
    await history.check(`seed ${seed}`);
  } finally {
    await store.close();
  }
});
