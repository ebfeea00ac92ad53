/**
 * Durability of the store as a whole: closed and reopened on its dir, stopped abruptly (every
 * peer crashed at once) and reopened, and its process killed with SIGKILL and reopened. Every
 * acknowledged write survives, and reads after the reopen continue a linearizable history.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/kv/index.js';
import { RecordingClient, runWorkload, sleep, testSeed } from './helpers.js';

test('the whole store restarted (closed, and crashed at once) keeps every acknowledged write; no log replay', async () => {
  const seed = testSeed();
  const dir = await mkdtemp(join(tmpdir(), 'raftwork-kv-persist-'));
  try {
    let store = await openStore({ dir, peers: 3, sync: false, seed });
    const { history } = await runWorkload(store, { clients: 5, keys: 8, until: sleep(1500), seed });
    await store.close();

    // Reopened after a clean close: reads continue the history.
    store = await openStore({ dir, peers: 3, sync: false, seed });
    const reader = new RecordingClient(99, store.client(), history);
    for (let k = 0; k < 8; k++) await reader.get(`k${k}`);
    const stats = await store.stats();
    for (const s of stats) {
      assert.ok(s.openedAt > 0, `peer ${s.peer} started from applied index ${s.openedAt}`);
      const st = await store.cluster.state(s.peer);
      assert.equal(st.snapshotIndex, 0, 'no snapshot: the state came from LMDB, not from a log replay');
    }
    // More writes, then every peer crashed at once (workers terminated mid-flight), then reopened.
    const more = await runWorkload(store, { clients: 5, keys: 8, until: sleep(1000), seed: seed + 1 });
    history.ops.push(...more.history.ops.map((o) => ({ ...o, clientId: o.clientId + 10 })));
    await Promise.all([0, 1, 2].map((i) => store.cluster.crash(i)));
    await store.close();
    store = await openStore({ dir, peers: 3, sync: false, seed });
    const reader2 = new RecordingClient(98, store.client(), history);
    for (let k = 0; k < 8; k++) await reader2.get(`k${k}`);
    await store.close();
    await history.check(`seed ${seed}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('killed with SIGKILL while writing (durable store): every acknowledged put is there after reopening', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'raftwork-kv-sigkill-'));
  try {
    const child = spawn(process.execPath, [new URL('./fixtures/writer-child.js', import.meta.url).pathname, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acked: number[] = [];
    let buf = '';
    let opened = false;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === 'open') opened = true;
        else if (line.startsWith('ack ')) acked.push(Number(line.slice(4)));
      }
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    const t0 = performance.now();
    while (acked.length < 300 && performance.now() - t0 < 20_000) await sleep(20);
    assert.ok(opened && acked.length >= 300, `the child acknowledged only ${acked.length} puts`);
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    const store = await openStore({ dir, peers: 3 });
    try {
      const c = store.client();
      const missing: number[] = [];
      await Promise.all(
        acked.map(async (i) => {
          if ((await c.get(`key/${i}`)) !== `value ${i}`) missing.push(i);
        }),
      );
      assert.deepEqual(missing, [], `${missing.length} of ${acked.length} acknowledged puts are missing`);
    } finally {
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
