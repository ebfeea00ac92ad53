/**
 * A client's writes on its own, against a scripted Rpc (no cluster): how results map to what
 * each method resolves or rejects with, the bound on writes in flight, and a closed store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KvClient, type Rpc } from '../../src/kv/client.js';
import { Result } from '../../src/kv/codec.js';
import { SessionExpiredError, SizeLimitError, StoreClosedError, TypeMismatchError } from '../../src/kv/errors.js';

interface Sent {
  readonly seq: number;
  answer(r: Result): void;
  fail(e: Error): void;
}

/** An Rpc that records each write it is asked to run and lets the test answer it. */
function scriptedRpc(): { rpc: Rpc; sent: Sent[]; close(): void } {
  const sent: Sent[] = [];
  let closed = false;
  const rpc = {
    get isClosed() {
      return closed;
    },
    run(spec: { seq: number }) {
      return new Promise((resolve, reject) => sent.push({ seq: spec.seq, answer: resolve, fail: reject }));
    },
  } as unknown as Rpc;
  return { rpc, sent, close: () => (closed = true) };
}

const limits = { maxValueBytes: 1024, timeoutMs: 1000, attemptMs: 100 };
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

test('each write method resolves with what its result means, and rejects with the error a result stands for', async () => {
  const { rpc, sent } = scriptedRpc();
  const c = new KvClient(rpc, limits);
  const put = c.put('k', 'v');
  const del = c.delete('k');
  const cas = c.cas('k', undefined, 'v');
  const app = c.append('k', 'x');
  assert.equal(sent.length, 4);
  sent[0]!.answer(Result.Ok);
  sent[1]!.answer(Result.True);
  sent[2]!.answer(Result.False);
  sent[3]!.answer(Result.TypeMismatch);
  assert.equal(await put, undefined);
  assert.equal(await del, true);
  assert.equal(await cas, false);
  await assert.rejects(app, TypeMismatchError);

  const big = c.append('k', 'y');
  const expired = c.put('k', 'z');
  const odd = c.put('k', 'w');
  sent[4]!.answer(Result.TooLarge);
  sent[5]!.answer(Result.SessionExpired);
  sent[6]!.answer(99 as Result);
  await assert.rejects(big, (e: Error) => e instanceof SizeLimitError && /nothing was written/.test(e.message));
  await assert.rejects(expired, SessionExpiredError);
  await assert.rejects(odd, /unexpected result 99 \(a bug in raftwork\)/);
  // A failed attempt (no quorum, say) rejects with its own error.
  const lost = c.put('k', 'q');
  sent[7]!.fail(new Error('no quorum'));
  await assert.rejects(lost, /no quorum/);
  // Every seq was released: the session says nothing is still awaited below the next one.
  assert.equal(c.ackedBelow(), 9);
});

test('a client keeps at most 1024 writes in flight; the next waits for an answer, then goes', async () => {
  const { rpc, sent } = scriptedRpc();
  const c = new KvClient(rpc, limits);
  const writes = Array.from({ length: 1030 }, (_, i) => c.put(`k${i}`, 'v'));
  const all = Promise.allSettled(writes);
  await settle();
  assert.equal(sent.length, 1024, 'the 1025th write waits');
  sent[0]!.answer(Result.Ok);
  sent[1]!.fail(new Error('gave up'));
  await settle();
  assert.equal(sent.length, 1026, 'each answer, or failure, lets one waiting write go');
  assert.deepEqual(sent.slice(1024).map((s) => s.seq), [1025, 1026]);
  for (const s of sent.slice(2)) s.answer(Result.Ok);
  await settle();
  for (const s of sent.slice(1026)) s.answer(Result.Ok);
  const outcomes = await all;
  assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1029);
  assert.equal(sent.length, 1030);
});

test('a write on a closed store rejects with StoreClosedError and sends nothing', async () => {
  const { rpc, sent, close } = scriptedRpc();
  const c = new KvClient(rpc, limits);
  close();
  await assert.rejects(c.put('k', 'v'), (e: Error) => e instanceof StoreClosedError && /put\("k"\)/.test(e.message));
  await assert.rejects(c.cas('k', 'a', 'b'), StoreClosedError);
  assert.equal(sent.length, 0);
});
