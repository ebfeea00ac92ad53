import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, readdir, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from '../../src/cluster/cluster.js';
import { DataDirError } from '../../src/errors.js';
import { openStore } from '../../src/kv/store.js';
import { StorageError } from '../../src/storage/log-store.js';

/**
 * Every file under `dir` with its bytes, to show a refused directory was left as it was; but
 * lock.mdb, LMDB's table of readers, which any open of the environment rewrites.
 */
async function contents(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const name of await readdir(dir, { recursive: true })) {
    const p = join(dir, name);
    if ((await stat(p)).isFile() && !name.endsWith('lock.mdb')) out.set(name, await readFile(p));
  }
  return out;
}

test('a peer store cut short is refused with a DataDirError naming the peer, the process lives, and nothing is changed', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'raftwork-damaged-'));
  const backup = `${dataDir}-backup`;
  try {
    const c = await Cluster.start({ peers: 3, dataDir, sync: false });
    let leader = -1;
    for (let tries = 0; tries < 200 && leader < 0; tries++) {
      for (let i = 0; i < 3 && leader < 0; i++) if ((await c.state(i)).isLeader) leader = i;
      if (leader < 0) await new Promise((r) => setTimeout(r, 25));
    }
    assert.ok(leader >= 0, 'no leader');
    const applied = new Map<number, number>();
    c.onApply((peer) => applied.set(peer, (applied.get(peer) ?? 0) + 1));
    const r = await c.proposeBatch(leader, Array.from({ length: 500 }, (_, k) => 'x'.repeat(200) + k));
    assert.ok(r.isLeader);
    for (let tries = 0; tries < 400 && [0, 1, 2].some((i) => (applied.get(i) ?? 0) < 500); tries++) await new Promise((res) => setTimeout(res, 10));
    await c.close();
    await cp(dataDir, backup, { recursive: true });

    const victim = (leader + 1) % 3;
    await truncate(join(dataDir, `peer-${victim}`, 'data.mdb'), 8192);
    const before = await contents(dataDir);
    await assert.rejects(
      Cluster.start({ peers: 3, dataDir }),
      (e: unknown) =>
        e instanceof DataDirError &&
        e.message.startsWith(`peer ${victim}: raftwork store ${join(dataDir, `peer-${victim}`)} is damaged`) &&
        /restore this peer's directory from a backup/.test(e.message) &&
        e.cause instanceof StorageError &&
        (e.cause as StorageError).reason === 'corrupted',
    );
    assert.deepEqual(await contents(dataDir), before, 'a refused directory was changed');

    // Restored from the copy, every peer opens and has the 500 entries.
    await rm(dataDir, { recursive: true, force: true });
    await cp(backup, dataDir, { recursive: true });
    const again = await Cluster.start({ peers: 3, dataDir, sync: false });
    try {
      for (let i = 0; i < 3; i++) assert.ok((await again.state(i)).lastLogIndex >= 501, `peer ${i} lost entries`);
    } finally {
      await again.close();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
    await rm(backup, { recursive: true, force: true });
  }
});

test('openStore refuses a store whose peer directory is damaged, naming the peer', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'raftwork-damaged-kv-'));
  try {
    const store = await openStore({ dir, peers: 3, sync: false });
    for (let k = 0; k < 50; k++) await store.put(`key/${k}`, 'v'.repeat(500));
    await store.close();
    await truncate(join(dir, 'peer-0', 'data.mdb'), 8192);
    await assert.rejects(openStore({ dir, peers: 3 }), (e: unknown) => e instanceof DataDirError && /^peer 0: raftwork store .* is damaged/.test(e.message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
