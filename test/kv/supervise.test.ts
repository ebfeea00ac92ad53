/**
 * Supervision: a peer worker that dies on its own (an exit nobody asked for, an uncaught error)
 * is restarted with backoff while the store keeps serving; a peer crashed on purpose through
 * store.cluster.crash(i) stays down until store.cluster.restart(i).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore } from '../../src/kv/index.js';
import { RecordingClient, History, sleep, waitFor } from './helpers.js';

test('a peer that exits or throws on its own is restarted; the store keeps serving meanwhile', async () => {
  const store = await openStore({ peers: 3, sync: false });
  const errors: unknown[] = [];
  const origError = console.error;
  console.error = (...args: unknown[]) => errors.push(args);
  const history = new History();
  let stop = false;
  let work: Promise<unknown> = Promise.resolve();
  try {
    const clients = Array.from({ length: 5 }, (_, ci) => new RecordingClient(ci, store.client(), history));
    work = Promise.all(
      clients.map(async (c, ci) => {
        for (let n = 0; !stop; n++) {
          await c.append(`k${ci % 2}`, `c${ci}.${n};`);
          await c.get(`k${ci % 2}`);
        }
      }),
    );
    for (const [peer, how] of [
      [0, 'exit'],
      [1, 'throw'],
    ] as const) {
      await sleep(200);
      await store.cluster.callService(peer, { kind: 'fail', how }).catch(() => undefined);
      await waitFor(() => !store.cluster.isUp(peer), 2000, `peer ${peer} to die`);
      await waitFor(() => store.cluster.isUp(peer) && store.supervisedRestarts[peer]! >= 1, 5000, `peer ${peer} to be restarted`);
    }
    await sleep(300);
    stop = true;
    await work;
    assert.equal(history.unknown, 0);
    await history.check('supervision');
    // The restarted peers serve clients again (stale reads go to any peer).
    await waitFor(async () => (await store.stats()).length === 3, 3000, 'every peer up');
  } finally {
    console.error = origError;
    stop = true;
    await work.catch(() => undefined);
    await store.close();
  }
});

test('a peer crashed on purpose stays down until restart(); quick repeated deaths back off', async () => {
  const store = await openStore({ peers: 3, sync: false });
  const origError = console.error;
  console.error = () => undefined;
  try {
    await store.put('k', 'v');
    await store.cluster.crash(2);
    await sleep(800);
    assert.equal(store.cluster.isUp(2), false, 'not restarted by the supervisor');
    assert.equal(store.supervisedRestarts[2], 0);
    await store.put('k', 'v2');
    await store.cluster.restart(2);
    assert.equal(store.cluster.isUp(2), true);

    // Three quick deaths of one peer: the waits before restarts grow.
    const waits: number[] = [];
    for (let k = 0; k < 3; k++) {
      const before = store.supervisedRestarts[1]!;
      await store.cluster.callService(1, { kind: 'fail', how: 'exit' }).catch(() => undefined);
      await waitFor(() => !store.cluster.isUp(1), 2000, 'peer 1 to die');
      const t = performance.now();
      await waitFor(() => store.cluster.isUp(1) && store.supervisedRestarts[1]! > before, 5000, 'peer 1 to be restarted');
      waits.push(performance.now() - t);
    }
    assert.ok(waits[2]! > waits[0]! && waits[2]! >= 300, `restart waits should grow: ${waits.map((w) => w.toFixed(0)).join(', ')} ms`);
    assert.equal(await store.get('k'), 'v2');
  } finally {
    console.error = origError;
    await store.close();
  }
});
