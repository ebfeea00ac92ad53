/**
 * Per-thread CPU and wake-ups from /proc (src/profile/thread-stats.ts): parsing, sampling this
 * process, and telling a worker's thread from the main thread.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { currentThreadId, parseTaskStat, parseTaskStatus, sampleThreads, sumRates, threadRates, type ThreadSample } from '../../src/profile/thread-stats.js';

const linux = process.platform === 'linux';

test('a /proc stat line gives utime + stime, even when the thread name holds spaces and parentheses', () => {
  // Fields: pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
  const line = '4242 (a (weird) name) S 1 4242 4242 0 -1 4194304 101 0 7 0 123 45 0 0 20 0 1 0 2368328';
  assert.equal(parseTaskStat(line), 168);
  assert.throws(() => parseTaskStat('garbage'), /not a \/proc stat line/);
  assert.throws(() => parseTaskStat('1 (x) S 1'), /no utime\/stime/);
});

test('a /proc status text gives the voluntary and involuntary context switches', () => {
  const status = 'Name:\tnode\nState:\tS (sleeping)\nvoluntary_ctxt_switches:\t1500\nnonvoluntary_ctxt_switches:\t12\n';
  assert.deepEqual(parseTaskStatus(status), { voluntary: 1500, involuntary: 12 });
  assert.throws(() => parseTaskStatus('Name:\tnode\n'), /no context switch counters/);
});

test('rates are per second and per core, for the threads present in both samples', () => {
  const s = (cpuTicks: number, voluntary: number): ThreadSample => ({ cpuTicks, voluntary, involuntary: 0 });
  const before = new Map([[1, s(100, 1000)], [2, s(0, 0)]]);
  const after = new Map([[1, s(150, 1100)], [3, s(5, 5)]]);
  // Thread 1 over 2 s: 100 wakes (50/s) and 50 ticks = 0.5 s of CPU (25% of a core).
  assert.deepEqual(threadRates(before, after, 2000), [{ tid: 1, wakesPerSec: 50, cpuPct: 25 }]);
});

test('rates of several threads add up', () => {
  assert.deepEqual(sumRates([{ tid: 1, wakesPerSec: 10, cpuPct: 0.5 }, { tid: 2, wakesPerSec: 2.5, cpuPct: 0.25 }]), { wakesPerSec: 12.5, cpuPct: 0.75 });
  assert.deepEqual(sumRates([]), { wakesPerSec: 0, cpuPct: 0 });
});

test('this process is sampled thread by thread, and a worker runs on a thread of its own', { skip: !linux && 'needs Linux /proc' }, async () => {
  const main = currentThreadId();
  assert.equal(main, process.pid, "the main thread's id is the process id");
  const a = sampleThreads()!;
  assert.ok(a.has(process.pid));
  const module = new URL('../../src/profile/thread-stats.js', import.meta.url).href;
  // The worker keeps its thread (its port stays referenced) until terminated: one that ended
  // after posting its id could be gone from /proc before the sample below is taken.
  const w = new Worker(
    `const { parentPort } = require('node:worker_threads');
     parentPort.on('message', () => {});
     import(${JSON.stringify(module)}).then((m) => parentPort.postMessage(m.currentThreadId()));`,
    { eval: true },
  );
  const tid = await new Promise<number>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  assert.notEqual(tid, main);
  assert.ok(sampleThreads()!.has(tid), "the worker's thread is one of this process's");
  // Busy for a while and sleep once: CPU ticks and voluntary switches only grow.
  const until = performance.now() + 50;
  while (performance.now() < until) {
    /* spin */
  }
  await new Promise((r) => setTimeout(r, 20));
  const b = sampleThreads()!;
  const me = threadRates(a, b, 1000).find((r) => r.tid === process.pid)!;
  assert.ok(me.cpuPct >= 0 && me.wakesPerSec >= 1, JSON.stringify(me));
  await w.terminate();
});
