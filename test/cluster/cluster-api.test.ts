import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from '../../src/cluster/cluster.js';
import { ClosedError, DataDirError, InvalidArgumentError, PeerDownError } from '../../src/errors.js';
import { Harness, sleep } from './harness.js';

test('a 3-peer cluster elects one leader and every peer applies structured commands deep-equal, in order', async () => {
  const h = await Harness.start({ peers: 3 });
  try {
    await h.checkOneLeader();
    const commands = [42, 'text', { a: [1, 2, { b: 'c' }] }, new Uint8Array([1, 2, 3]), new Map([['k', 1]])];
    const indexes: number[] = [];
    for (const c of commands) indexes.push(await h.one(c, 3));
    for (let k = 1; k < indexes.length; k++) assert.ok(indexes[k]! > indexes[k - 1]!);
    for (let k = 0; k < commands.length; k++) assert.deepEqual(h.nCommitted(indexes[k]!).command, commands[k]);
    h.checkNoErrors();
  } finally {
    await h.close();
  }
});

test('propose returns at once with index, term and isLeader; a follower answers isLeader false', async () => {
  const h = await Harness.start({ peers: 3 });
  try {
    const leader = await h.checkOneLeader();
    const follower = (leader + 1) % 3;
    const r = await h.cluster.propose(leader, 'x');
    assert.equal(r.isLeader, true);
    assert.ok(r.index > 0 && r.term > 0);
    const f = await h.cluster.propose(follower, 'y');
    assert.equal(f.isLeader, false);
    const st = await h.cluster.state(leader);
    assert.equal(st.isLeader, true);
    assert.equal(st.role, 'leader');
    assert.ok(st.lastLogIndex >= r.index);
  } finally {
    await h.close();
  }
});

test('a crashed peer comes back with its term, vote and log, and catches up', async () => {
  const h = await Harness.start({ peers: 3 });
  try {
    const leader = await h.checkOneLeader();
    await h.one('before', 3);
    const victim = (leader + 1) % 3;
    const before = await h.cluster.state(victim);
    await h.cluster.crash(victim);
    await assert.rejects(h.cluster.propose(victim, 'x'), PeerDownError);
    await assert.rejects(h.cluster.state(victim), /peer \d is down/);
    await h.one('while down', 2);
    h.restarted(victim);
    await h.cluster.restart(victim);
    const after = await h.cluster.state(victim);
    assert.ok(after.term >= before.term, 'term survives a crash');
    assert.ok(after.lastLogIndex >= before.lastLogIndex, 'log survives a crash');
    await h.one('after', 3);
    h.checkNoErrors();
  } finally {
    await h.close();
  }
});

test('nothing from a crashed incarnation reaches onApply after crash resolves', async () => {
  const h = await Harness.start({ peers: 3 });
  try {
    const leader = await h.checkOneLeader();
    await h.cluster.crash(leader);
    let late = 0;
    const off = h.cluster.onApply((p) => {
      if (p === leader) late++;
    });
    await sleep(300);
    off();
    assert.equal(late, 0);
  } finally {
    await h.close();
  }
});

test('link state survives a crash: a disconnected peer stays disconnected across restart until connect', async () => {
  const h = await Harness.start({ peers: 3 });
  try {
    const leader = await h.checkOneLeader();
    const victim = (leader + 1) % 3;
    h.cluster.disconnect(victim);
    await h.cluster.crash(victim);
    h.restarted(victim);
    await h.cluster.restart(victim);
    const idx = await h.one('only two', 2);
    await sleep(500);
    assert.equal(h.applied[victim]!.has(idx), false, 'a disconnected peer must not learn the entry');
    h.cluster.connect(victim);
    await h.one('all three', 3);
    assert.equal(h.applied[victim]!.get(idx), 'only two');
    h.checkNoErrors();
  } finally {
    await h.close();
  }
});

test('a whole cluster reopened from its dataDir has every committed entry', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'raftwork-reopen-'));
  try {
    const h = await Harness.start({ peers: 3, dataDir, sync: true });
    await h.checkOneLeader();
    const idx: number[] = [];
    for (let k = 0; k < 5; k++) idx.push(await h.one(`v${k}`, 3));
    await h.close();
    const h2 = await Harness.start({ peers: 3, dataDir, sync: true });
    try {
      await h2.checkOneLeader();
      await h2.one('after reopen', 3);
      for (let k = 0; k < 5; k++) assert.equal(h2.nCommitted(idx[k]!).command, `v${k}`);
      h2.checkNoErrors();
    } finally {
      await h2.close();
    }
    assert.ok((await readdir(dataDir)).includes('raftwork.json'), 'keepData defaults to true for a given dataDir');
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('bad options get errors that name the problem', async () => {
  await assert.rejects(Cluster.start({ peers: 0 }), /peers must be an integer from 1 to 15/);
  await assert.rejects(Cluster.start({ peers: 16 }), /peers must be an integer from 1 to 15/);
  await assert.rejects(Cluster.start({ peers: 3, electionTimeoutMs: [300, 300] }), InvalidArgumentError);
  await assert.rejects(Cluster.start({ peers: 3, heartbeatMs: 200 }), /heartbeatMs must be positive and below/);
  await assert.rejects(Cluster.start({ peers: 3, storage: 'disk' as never }), /storage must be 'lmdb' or 'memory'/);
  await assert.rejects(Cluster.start({ peers: 3, bogus: 1 } as never), /unknown option 'bogus'/);
});

test('a dataDir holding another cluster or garbage is refused and left untouched', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'raftwork-foreign-'));
  try {
    const c = await Cluster.start({ peers: 3, dataDir, sync: false });
    await c.close();
    await assert.rejects(Cluster.start({ peers: 5, dataDir }), (e: unknown) => e instanceof DataDirError && /3-peer cluster/.test(e.message));
    const garbage = join(dataDir, 'garbage');
    await mkdir(garbage);
    await writeFile(join(garbage, 'notes.txt'), 'my precious data');
    await assert.rejects(Cluster.start({ peers: 3, dataDir: garbage }), (e: unknown) => e instanceof DataDirError && /not a raftwork cluster/.test(e.message));
    assert.deepEqual(await readdir(garbage), ['notes.txt']);
    await writeFile(join(dataDir, 'raftwork.json'), '{not json');
    await assert.rejects(Cluster.start({ peers: 3, dataDir }), /corrupted/);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('calls with a bad peer index, or after close, are rejected without taking the cluster down', async () => {
  const c = await Cluster.start({ peers: 3, sync: false });
  await assert.rejects(c.propose(3, 'x'), /peer 3 is out of range; this cluster has peers 0..2/);
  await assert.rejects(c.propose(-1, 'x'), InvalidArgumentError);
  await assert.rejects(c.propose(0, () => 1), /structured-cloneable/);
  assert.throws(() => c.disconnect(7), /out of range/);
  assert.throws(() => c.partition([[0, 1], [1, 2]]), /two partition groups/);
  assert.throws(() => c.setNetwork({ dropRate: 2 }), InvalidArgumentError);
  await assert.rejects(c.snapshot(0, 10_000, new Uint8Array(1)), /above lastApplied/);
  const st = await c.state(0);
  assert.ok(st.term >= 0, 'still running after bad calls');
  await c.close();
  await assert.rejects(c.propose(0, 'x'), ClosedError);
  await assert.rejects(c.state(0), /the cluster is closed/);
  assert.throws(() => c.heal(), ClosedError);
  await c.close(); // twice is fine
});
