/**
 * 6.824 kvraft lab 3A, on the embedded store: concurrent clients on a reliable and an
 * unreliable network, partitions, crashes. Every history recorded must be linearizable (the
 * kv model of src/check), and every acknowledged append must be in the final value exactly once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore } from '../../src/kv/index.js';
import { checkAppends, runWorkload, sleep, testSeed } from './helpers.js';

test('reliable network, 5 clients, 3 peers: linearizable', async () => {
  const seed = testSeed();
  const store = await openStore({ peers: 3, sync: false, seed });
  try {
    const { history, ops } = await runWorkload(store, { clients: 5, keys: 5, until: sleep(3000), seed });
    assert.ok(ops > 500, `only ${ops} operations in 3 s`);
    assert.equal(history.unknown, 0, 'no operation may time out on a healthy network');
    await history.check(`seed ${seed}`);
  } finally {
    await store.close();
  }
});

test('unreliable network (drops, duplicates, delays on peer and client messages), 7 clients, 5 peers: linearizable', async () => {
  const seed = testSeed();
  const store = await openStore({ peers: 5, sync: false, seed, timeoutMs: 20_000 });
  try {
    store.cluster.setNetwork({ reliable: false, duplicateRate: 0.1 });
    const { history, ops } = await runWorkload(store, { clients: 7, keys: 3, until: sleep(5000), seed, mix: [3, 1, 4, 1, 0] });
    store.cluster.setNetwork({ reliable: true, duplicateRate: 0 });
    assert.ok(ops > 100, `only ${ops} operations in 5 s`);
    await history.check(`seed ${seed}`);
  } finally {
    await store.close();
  }
});

test('unreliable network, appends only: every acknowledged append is in the value exactly once, in client order', async () => {
  const seed = testSeed();
  const store = await openStore({ peers: 3, sync: false, seed, timeoutMs: 20_000 });
  try {
    store.cluster.setNetwork({ reliable: false, duplicateRate: 0.2, dropRate: 0.2 });
    const { history, appends } = await runWorkload(store, { clients: 5, keys: 3, until: sleep(4000), seed, mix: [1, 0, 3, 0, 0] });
    store.cluster.setNetwork({ reliable: true, duplicateRate: 0 });
    await history.check(`seed ${seed}`);
    for (let k = 0; k < 3; k++) {
      const v = ((await store.get(`k${k}`)) as string | undefined) ?? '';
      for (const [ci, a] of appends.entries()) checkAppends(v, a.get(`k${k}`) ?? [], `client ${ci}, key k${k}`);
    }
  } finally {
    await store.close();
  }
});
