/**
 * A 50 MiB snapshot streamed to a lagging follower over the worker network (3 peers, LMDB with
 * `sync: false`): the follower is partitioned away for a long run of writes, the leader's service
 * snapshots with a 50 MiB buffer holding a checkable pattern, and the follower comes back. It must
 * get the exact 50 MiB on its apply stream, with no election meanwhile (the leader's heartbeats go
 * on during the transfer). The install time and the process's peak RSS (sampled every 20 ms; the
 * workers share this process) are printed as diagnostics:
 *
 *   npx tsc -p tsconfig.json && node --test --test-concurrency=1 dist/test/cluster/snapshot-large.test.js
 *
 * Then interrupted transfers: the follower cut off again after the first chunks (the transfer
 * must resume or restart and complete), and the leader crashed mid-transfer (the follower must end
 * consistent, by a snapshot from whoever leads or by the entries, and every peer must agree).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { ApplyMsg } from '../../src/cluster/cluster.js';
import { sleep, withHarness, type Harness } from './harness.js';

const MiB = 1024 * 1024;
const SIZE = 50 * MiB;
/** Commands written while the follower is away. */
const WRITES = 5000;
const BATCH = 250;

/** A 50 MiB pattern that a misplaced or missing chunk cannot pass: word k holds a hash of k. */
function pattern(size: number): Uint8Array {
  const buf = new Uint8Array(size);
  const words = new Uint32Array(buf.buffer, 0, size >>> 2);
  for (let k = 0; k < words.length; k++) words[k] = Math.imul(k, 0x9e3779b1) ^ (k >>> 7);
  return buf;
}

function samePattern(got: Uint8Array, want: Uint8Array): boolean {
  return got.length === want.length && Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(Buffer.from(want.buffer, want.byteOffset, want.byteLength));
}

/** Samples process.memoryUsage().rss every 20 ms until stopped; returns the peak. */
function rssSampler(): { stop(): number } {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, process.memoryUsage().rss);
    },
  };
}

const mb = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

interface SnapshotSeen {
  readonly peer: number;
  readonly index: number;
  readonly length: number;
  readonly exact: boolean;
  readonly at: number;
}

/** Watches every snapshot apply message, checking its content against `want` at once (the data is a view into the batch). */
function watchSnapshots(h: Harness, want: () => Uint8Array | null): { seen: SnapshotSeen[]; off: () => void } {
  const seen: SnapshotSeen[] = [];
  const off = h.cluster.onApply((peer: number, msg: ApplyMsg) => {
    if (msg.type !== 'snapshot') return;
    const w = want();
    seen.push({ peer, index: msg.index, length: msg.data.length, exact: w !== null && samePattern(msg.data, w), at: performance.now() });
  });
  return { seen, off };
}

/**
 * One leader, one follower `f` cut off during WRITES commands, then the leader snapshots at the
 * last index it applied with a 50 MiB data buffer. Returns what the test needs.
 */
async function lagAndSnapshot(h: Harness, data: Uint8Array): Promise<{ leader: number; f: number; snapIndex: number; term: number }> {
  await h.one(h.cmd(), 3, true);
  const leader = await h.checkOneLeader();
  const f = (leader + 1) % 3;
  h.disconnect(f);
  for (let k = 0; k < WRITES; k += BATCH) {
    const r = await h.cluster.proposeBatch(leader, Array.from({ length: BATCH }, () => h.cmd('w')));
    assert.ok(r.isLeader, `peer ${leader} lost leadership during the writes; ${await h.terms()}`);
  }
  const last = await h.one(h.cmd(), 2, true);
  // The leader has applied `last` (one() saw 2 of the 2 connected peers apply it).
  const snapIndex = Math.max(...h.applied[leader]!.keys());
  assert.ok(snapIndex >= last, `leader ${leader} applied up to ${snapIndex}, not ${last}`);
  await h.cluster.snapshot(leader, snapIndex, data);
  const st = (await h.getState(leader)).state!;
  assert.ok(st.isLeader && st.snapshotIndex === snapIndex, `leader ${leader} after snapshot(${snapIndex}): ${await h.terms()}`);
  const fst = (await h.getState(f)).state!;
  assert.ok(fst.lastLogIndex < snapIndex - WRITES / 2, `follower ${f} is not behind: its log ends at ${fst.lastLogIndex}, the snapshot is at ${snapIndex}`);
  return { leader, f, snapIndex, term: st.term };
}

async function termsAndLeaders(h: Harness): Promise<{ term: number; leaderId: number; isLeader: boolean }[]> {
  const out = [];
  for (let p = 0; p < h.n; p++) {
    const st = (await h.getState(p)).state!;
    out.push({ term: st.term, leaderId: st.leaderId, isLeader: st.isLeader });
  }
  return out;
}

test('a 50 MiB snapshot reaches a follower that was partitioned away, with no election during the transfer', { timeout: 60_000 }, async (t: TestContext) => {
  const data = pattern(SIZE);
  await withHarness({ peers: 3 }, async (h) => {
    const watch = watchSnapshots(h, () => data);
    try {
      const { leader, f, snapIndex, term } = await lagAndSnapshot(h, data);
      const before = await termsAndLeaders(h);
      for (let p = 0; p < 3; p++) assert.equal(before[p]!.term, term, `peer ${p} is in term ${before[p]!.term}, the leader in ${term}`);

      if (global.gc) global.gc();
      const baseline = process.memoryUsage().rss;
      const sampler = rssSampler();
      const t0 = performance.now();
      h.connect(f);
      const got = await h.until(() => watch.seen.some((s) => s.peer === f), 30_000, 5);
      const peak = sampler.stop();
      assert.ok(got, `follower ${f} never delivered the snapshot; ${await h.terms()}`);
      const s = watch.seen.find((x) => x.peer === f)!;
      const installMs = s.at - t0;
      t.diagnostic(`50 MiB install: ${installMs.toFixed(0)} ms from reconnect to the follower's apply message (${(SIZE / MiB / (installMs / 1000)).toFixed(0)} MiB/s)`);
      t.diagnostic(`RSS: baseline ${mb(baseline)}, peak ${mb(peak)}, delta ${mb(peak - baseline)} (3 workers + main thread, one process)`);

      assert.equal(s.index, snapIndex, `follower ${f} installed a snapshot at ${s.index}, not ${snapIndex}`);
      assert.equal(s.length, SIZE, `follower ${f}'s snapshot has ${s.length} bytes, not ${SIZE}`);
      assert.ok(s.exact, `follower ${f}'s snapshot does not hold the pattern the leader snapshotted`);
      assert.deepEqual(
        watch.seen.filter((x) => x.peer !== f),
        [],
        'only the lagging follower should get a snapshot',
      );

      // No election: every peer in the same term as before, the same leader.
      const after = await termsAndLeaders(h);
      for (let p = 0; p < 3; p++) {
        assert.equal(after[p]!.term, term, `peer ${p} moved from term ${term} to ${after[p]!.term} during the transfer; ${await h.terms()}`);
        assert.equal(after[p]!.leaderId, leader, `peer ${p} follows ${after[p]!.leaderId}, not ${leader}`);
      }
      assert.ok(after[leader]!.isLeader, `peer ${leader} no longer leads`);

      // The follower goes on from the snapshot with everyone else.
      const next = await h.one(h.cmd(), 3, true);
      assert.ok(next > snapIndex);
      const fst = (await h.getState(f)).state!;
      assert.ok(fst.snapshotIndex >= snapIndex, `follower ${f} keeps snapshot ${fst.snapshotIndex}, not ${snapIndex}`);
    } finally {
      watch.off();
    }
  });
});

/** Waits until the leader has sent at least `bytes` more payload than at `base`: the transfer is under way. */
async function waitTransferStarted(h: Harness, base: number, bytes: number, ms: number): Promise<boolean> {
  return h.until(async () => (await h.cluster.stats()).bytes - base >= bytes, ms, 1);
}

test('an interrupted 50 MiB transfer (follower cut off after the first chunks) resumes and completes', { timeout: 60_000 }, async (t: TestContext) => {
  const data = pattern(SIZE);
  await withHarness({ peers: 3 }, async (h) => {
    const watch = watchSnapshots(h, () => data);
    try {
      const { leader, f, snapIndex, term } = await lagAndSnapshot(h, data);
      // A little latency on every message, so the cut lands mid-transfer (a window of 4 chunks per round trip).
      h.cluster.setNetwork({ delayMs: [5, 10] });
      const base = (await h.cluster.stats()).bytes;
      h.connect(f);
      assert.ok(await waitTransferStarted(h, base, 3 * MiB, 10_000), 'the snapshot transfer never started');
      h.disconnect(f);
      const cutAt = (await h.cluster.stats()).bytes - base;
      const installedBeforeCut = watch.seen.some((s) => s.peer === f);
      t.diagnostic(`cut the follower off after ${mb(cutAt)} of the transfer${installedBeforeCut ? ' (too late: it had installed already)' : ''}`);
      assert.ok(!installedBeforeCut, 'the transfer finished before the cut; the test did not interrupt it');
      await sleep(1000);
      h.cluster.setNetwork({ delayMs: [0, 0] });
      const t0 = performance.now();
      h.connect(f);
      const got = await h.until(() => watch.seen.some((s) => s.peer === f), 30_000, 5);
      assert.ok(got, `follower ${f} never installed the snapshot after the cut; ${await h.terms()}`);
      const s = watch.seen.find((x) => x.peer === f)!;
      t.diagnostic(`after reconnecting: installed in ${(s.at - t0).toFixed(0)} ms`);
      assert.equal(s.index, snapIndex);
      assert.ok(s.exact && s.length === SIZE, `follower ${f}'s snapshot (${s.length} bytes) is not the leader's 50 MiB pattern`);
      const after = await termsAndLeaders(h);
      for (let p = 0; p < 3; p++) assert.equal(after[p]!.term, term, `peer ${p} moved from term ${term} to ${after[p]!.term}; ${await h.terms()}`);
      assert.ok(after[leader]!.isLeader);
      const next = await h.one(h.cmd(), 3, true);
      assert.equal(h.nCommitted(next).count, 3);
    } finally {
      watch.off();
    }
  });
});

test('a leader crash in the middle of a 50 MiB transfer leaves the follower consistent, and every peer agrees', { timeout: 60_000 }, async (t: TestContext) => {
  const data = pattern(SIZE);
  await withHarness({ peers: 3 }, async (h) => {
    const watch = watchSnapshots(h, () => data);
    try {
      const { leader, f, snapIndex } = await lagAndSnapshot(h, data);
      const g = 3 - leader - f; // the follower that kept up
      h.cluster.setNetwork({ delayMs: [5, 10] });
      const base = (await h.cluster.stats()).bytes;
      h.connect(f);
      assert.ok(await waitTransferStarted(h, base, 3 * MiB, 10_000), 'the snapshot transfer never started');
      await h.crash(leader);
      const installedBeforeCrash = watch.seen.some((s) => s.peer === f);
      t.diagnostic(`crashed leader ${leader} after ${mb((await h.cluster.stats()).bytes - base)} of the transfer${installedBeforeCrash ? ' (too late: the follower had installed already)' : ''}`);
      assert.ok(!installedBeforeCrash, 'the transfer finished before the crash; the test did not interrupt it');
      h.cluster.setNetwork({ delayMs: [0, 0] });

      // f and g elect a leader (g: f's log is far behind) and f catches up from it.
      const newLeader = await h.checkOneLeader([f, g]);
      assert.equal(newLeader, g, `peer ${newLeader} leads; only ${g} has the whole log`);
      const mid = await h.one(h.cmd(), 2, true);
      const fst = (await h.getState(f)).state!;
      assert.ok(fst.lastApplied >= mid, `follower ${f} applied only up to ${fst.lastApplied}, not ${mid}`);
      // It caught up either by a snapshot (none here: g never snapshotted) or by the entries.
      const viaSnapshot = watch.seen.some((s) => s.peer === f);
      const entries = [...h.applied[f]!.keys()].filter((k) => k <= snapIndex).length;
      t.diagnostic(`follower ${f} caught up ${viaSnapshot ? 'through a snapshot' : `through the entries (${entries} applied up to ${snapIndex})`}`);

      // The old leader comes back from its 50 MiB snapshot and joins in.
      await h.restart(leader);
      const back = await h.until(() => watch.seen.some((s) => s.peer === leader), 20_000, 5);
      assert.ok(back, `the restarted leader ${leader} did not deliver its snapshot first`);
      const own = watch.seen.find((s) => s.peer === leader)!;
      assert.ok(own.index === snapIndex && own.exact, `leader ${leader} restarted with snapshot ${own.index} (${own.length} bytes, exact ${own.exact})`);
      const last = await h.one(h.cmd(), 3, true);
      for (let p = 0; p < 3; p++) {
        const st = (await h.getState(p)).state!;
        assert.ok(st.lastApplied >= last, `peer ${p} applied only up to ${st.lastApplied}, not ${last}`);
      }
      // Every index any two peers applied agrees (the harness checks that on every apply), and
      // f and g applied the same commands up to `last`.
      for (let k = snapIndex - WRITES; k <= last; k++) {
        const a = h.applied[f]!.get(k);
        const b = h.applied[g]!.get(k);
        assert.deepEqual(a, b, `index ${k}: follower ${f} has ${String(a)}, peer ${g} has ${String(b)}`);
      }
    } finally {
      watch.off();
    }
  });
});
