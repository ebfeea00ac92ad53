/**
 * Exactly-once: every request and reply of a client can be lost or duplicated (the cluster's
 * network settings apply to client traffic), clients retry, and no write applies twice. Sessions
 * are replicated state and expire deterministically, by the cluster clock in the log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionExpiredError, openStore } from '../../src/kv/index.js';
import { sleep, waitFor } from './helpers.js';

test('exactly once under lost and duplicated requests and replies: 5 clients, sequential appends', async () => {
  const store = await openStore({ peers: 3, sync: false, timeoutMs: 30_000, attemptMs: 60 });
  try {
    await store.put('warm', 'x');
    store.cluster.setNetwork({ dropRate: 0.3, duplicateRate: 0.5, delayMs: [0, 10] });
    const n = 40;
    await Promise.all(
      Array.from({ length: 5 }, async (_, ci) => {
        const c = store.client();
        for (let i = 0; i < n; i++) await c.append(`log${ci}`, `${i},`);
      }),
    );
    store.cluster.setNetwork({ reliable: true });
    const expected = Array.from({ length: n }, (_, i) => `${i},`).join('');
    for (let ci = 0; ci < 5; ci++) assert.equal(await store.get(`log${ci}`), expected, `client ${ci}: every append exactly once, in order`);
  } finally {
    await store.close();
  }
});

test('a retried write is answered from the session, not applied again (cas that would fail the second time)', async () => {
  const store = await openStore({ peers: 3, sync: false, timeoutMs: 30_000, attemptMs: 40 });
  try {
    await store.put('counter', '0');
    // Replies are delayed past attemptMs, so nearly every write is sent again while the first
    // copy is still being applied; duplicates add more copies.
    store.cluster.setNetwork({ delayMs: [20, 60], duplicateRate: 0.3 });
    const c = store.client();
    for (let i = 0; i < 30; i++) {
      assert.equal(await c.cas('counter', String(i), String(i + 1)), true, `cas ${i} -> ${i + 1} must succeed exactly once`);
    }
    store.cluster.setNetwork({ reliable: true });
    assert.equal(await store.get('counter'), '30');
  } finally {
    await store.close();
  }
});

test('idle sessions expire by the replicated clock; an expired client gets SessionExpiredError; peers agree', async () => {
  const store = await openStore({ peers: 3, sync: false, sessionTimeoutMs: 1000, timeoutMs: 900 });
  try {
    const idle = store.client();
    await idle.put('a', '1');
    const busy = store.client();
    const end = performance.now() + 2000;
    let i = 0;
    while (performance.now() < end) {
      await busy.put('b', String(i++));
      await sleep(5);
    }
    await waitFor(
      async () => {
        const stats = await store.stats();
        return stats.length === 3 && stats.every((s) => s.sessions === 1);
      },
      3000,
      'every peer to expire the idle session and keep the busy one',
    );
    await assert.rejects(idle.put('a', '2'), (e: unknown) => e instanceof SessionExpiredError && e.code === 'ESESSION' && /was not applied/.test((e as Error).message));
    assert.equal(await store.get('a'), '1', 'the expired client write was not applied');
    const fresh = store.client();
    await fresh.put('a', '3');
    assert.equal(await store.get('a'), '3');
  } finally {
    await store.close();
  }
});
