/**
 * The safe way to crash a peer that writes through lmdb-js in a worker thread: store.crash(),
 * then worker.terminate(). (Terminating a worker in the middle of lmdb-js writes can hang
 * terminate() forever or abort the whole process; see LmdbLogStore.crash().) Each round crashes
 * the worker at a random moment, restarts on the same directory, and checks that terminate()
 * completed, nothing was acknowledged after the crash, every acknowledged batch is there, and
 * batches are whole.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbLogStore } from '../../src/storage/lmdb-store.js';
import { BATCH, IDENTITY } from './fixtures/durable-child.js';

const WORKER = new URL('./fixtures/crash-worker.js', import.meta.url);
const root = mkdtempSync(join(tmpdir(), 'raftwork-crash-worker-'));
after(() => rmSync(root, { recursive: true, force: true }));

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not finish in ${ms} ms`)), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

async function round(dir: string, crashAfterMs: number): Promise<number> {
  const w = new Worker(WORKER, { workerData: { dir } });
  let maxAck = 0;
  let afterCrash = false;
  let lateAck = '';
  let failure = '';
  const crashed = new Promise<void>((resolve, reject) => {
    w.on('message', (m: string) => {
      if (m === 'crashed') resolve();
      else if (m.startsWith('ack ')) {
        if (afterCrash) lateAck ||= m;
        maxAck = Math.max(maxAck, Number(m.slice(4)));
      } else if (m.startsWith('error ')) failure = m;
    });
    w.on('error', reject);
  });
  await withTimeout(new Promise((r) => w.once('message', r)), 10_000, 'worker start');
  await new Promise((r) => setTimeout(r, crashAfterMs));
  w.postMessage('crash');
  await withTimeout(crashed, 10_000, 'store.crash()');
  afterCrash = true;
  await withTimeout(w.terminate(), 10_000, 'worker.terminate()');
  assert.equal(failure, '');
  assert.equal(lateAck, '', 'a write was acknowledged after crash() resolved');
  return maxAck;
}

describe('LmdbLogStore in a worker: crash() then terminate()', () => {
  it('terminates cleanly every time and restarts with every acknowledged batch, whole', { timeout: 120_000 }, async () => {
    const dir = join(root, 'peer');
    for (let r = 0; r < 10; r++) {
      const maxAck = await round(dir, 5 + Math.floor(Math.random() * 60));
      const s = await LmdbLogStore.open({ path: dir, identity: IDENTITY });
      const st = await s.load();
      await s.close();
      const b = st.hardState.currentTerm;
      assert.ok(b >= maxAck, `round ${r}: batch ${maxAck} acknowledged, store holds ${b}`);
      assert.equal(st.entries.at(-1)?.index ?? 0, b * BATCH, `round ${r}: batches are not whole`);
    }
  });
});
