import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DownGuard } from '../../src/cluster/down-guard.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('a guarded call settles as the call does, and is no longer held once it has', async () => {
  const g = new DownGuard();
  const values = await Promise.all(Array.from({ length: 1000 }, (_, k) => g.guard(Promise.resolve(k))));
  assert.equal(values[999], 999);
  await assert.rejects(g.guard(Promise.reject(new Error('refused'))), /refused/);
  assert.equal(g.pending, 0, 'nothing is kept for calls that settled: the leak Promise.race had');
});

test('down() fails every call in flight with its error, and every later call at once', async () => {
  const g = new DownGuard();
  let answer!: (v: string) => void;
  const slow = new Promise<string>((r) => (answer = r));
  const calls = [g.guard(slow), g.guard(new Promise<never>(() => undefined))];
  assert.equal(g.pending, 2);
  const err = new Error('peer 1 exited with code 1');
  g.down(err);
  for (const c of calls) await assert.rejects(c, (e: unknown) => e === err);
  assert.equal(g.pending, 0);
  assert.equal(g.isDown, true);
  await assert.rejects(g.guard(Promise.resolve('late')), (e: unknown) => e === err, 'a call after down() fails');
  // The call that was in flight answers after all: nothing throws, nothing changes.
  answer('too late');
  await tick();
  g.down(new Error('again'));
  await assert.rejects(g.guard(Promise.resolve(1)), (e: unknown) => e === err, 'the first error stays');
});

test('a call refused after down() does not leave an unhandled rejection behind', async () => {
  const g = new DownGuard();
  g.down(new Error('down'));
  let unhandled = 0;
  const onUnhandled = (): void => {
    unhandled++;
  };
  process.on('unhandledRejection', onUnhandled);
  try {
    await assert.rejects(g.guard(Promise.reject(new Error('the call failed too'))), /down/);
    await tick();
    await tick();
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  assert.equal(unhandled, 0);
});
