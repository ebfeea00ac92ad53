/**
 * An election during a bench figure (a legitimate Raft event on a busy or stalled host) cuts the
 * figure short with a LeadershipLostError; the bench measures it once more on the new leader and
 * says so, where before one election failed the whole `npm run bench`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from '../../src/cluster/cluster.js';
import { LeadershipLostError, Pump, commandOfSize, waitForLeader } from '../../src/profile/workload.js';
import { retryAfterElection, throughput } from '../../bench/raft.js';
import { retriedLines } from '../../bench/report.js';

type Fig = { readonly id: string; readonly error?: string; readonly interrupted?: 'election'; readonly retried?: string };

async function withCluster(seed: number, body: (cluster: Cluster, leader: number) => Promise<void>): Promise<void> {
  const cluster = await Cluster.start({ peers: 3, storage: 'memory', seed });
  try {
    await body(cluster, await waitForLeader(cluster));
  } finally {
    await cluster.close();
  }
}

test('a pump on a peer that does not lead fails with LeadershipLostError', { timeout: 30_000 }, async () => {
  await withCluster(21, async (cluster, leader) => {
    const follower = (leader + 1) % 3;
    const pump = new Pump({ cluster, leader: follower, outstanding: 4, command: commandOfSize(8), batch: true });
    pump.start();
    await assert.rejects(pump.waitApplied(1), (err: unknown) => err instanceof LeadershipLostError && err.peer === follower && /lost leadership during the workload/.test(err.message));
    await pump.stop(500).catch(() => undefined);
  });
});

test('a throughput figure cut short by a lost leadership is marked as interrupted by an election', { timeout: 30_000 }, async () => {
  await withCluster(22, async (cluster, leader) => {
    const follower = (leader + 1) % 3;
    const spec = { id: 'throughput/memory/3p/8B/4', size: 8, outstanding: 4, call: 'proposeBatch' as const };
    const f = await throughput(cluster, follower, { storage: 'memory', peers: 3, size: 8 }, spec, 200, 50);
    assert.match(f.error ?? '', /lost leadership/);
    assert.equal(f.interrupted, 'election');
  });
});

test('a figure an election interrupted is measured once more on the new leader, saying why', { timeout: 30_000 }, async () => {
  await withCluster(23, async (cluster, leader) => {
    const seen: number[] = [];
    const at = { peer: (leader + 1) % 3 };
    const f = await retryAfterElection<Fig>(cluster, at, async (l) => {
      seen.push(l);
      return seen.length === 1 ? { id: 'x', error: `peer ${l} lost leadership during the workload`, interrupted: 'election' } : { id: 'x' };
    });
    assert.deepEqual(seen, [(leader + 1) % 3, leader]);
    assert.equal(at.peer, leader);
    assert.equal(f.error, undefined);
    assert.match(f.retried ?? '', /lost leadership during the workload; the peers just after: 0:[lf]\d+\/c\d+ 1:[lf]\d+\/c\d+ 2:[lf]\d+\/c\d+/);
    assert.deepEqual(retriedLines([f, { id: 'y' }]), [`  x: measured again after an election cut the first run short: ${f.retried}`]);
  });
});

test('a figure is retried once only, and never for a failure that is not an election', { timeout: 30_000 }, async () => {
  await withCluster(24, async (cluster, leader) => {
    let runs = 0;
    const twice = await retryAfterElection<Fig>(cluster, { peer: leader }, async () => {
      runs++;
      return { id: 'x', error: `election ${runs}`, interrupted: 'election' };
    });
    assert.equal(runs, 2);
    assert.equal(twice.error, 'election 2');
    assert.match(twice.retried ?? '', /^election 1; /);

    runs = 0;
    const other = await retryAfterElection<Fig>(cluster, { peer: leader }, async () => {
      runs++;
      return { id: 'x', error: 'no commit for 5 s: peer 0 still leads but commits nothing' };
    });
    assert.equal(runs, 1);
    assert.equal(other.retried, undefined);
  });
});
