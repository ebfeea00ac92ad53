import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, truncateSync, writeFileSync, writeSync, closeSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open as openLmdb } from 'lmdb';
import { probeLmdbStores, type ProbeError } from '../../src/storage/lmdb-probe.js';
import { StorageError } from '../../src/storage/log-store.js';

const root = mkdtempSync(join(tmpdir(), 'raftwork-probe-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

/** An LMDB environment with two named databases of 300 records of 1 KiB each (many pages). */
async function environment(): Promise<string> {
  const path = join(root, `env${n++}`);
  const env = openLmdb({ path, maxDbs: 8, noSync: true });
  for (const name of ['one', 'two']) {
    const db = env.openDB({ name, encoding: 'binary' });
    for (let i = 0; i < 300; i++) void db.put(i, Buffer.alloc(1024, i & 0xff));
  }
  await env.flushed;
  await env.close();
  rmSync(join(path, 'lock.mdb'), { force: true });
  return path;
}

function overwrite(file: string, from: number, bytes: Buffer): void {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, from);
  } finally {
    closeSync(fd);
  }
}

async function refused(paths: string[]): Promise<ProbeError> {
  try {
    await probeLmdbStores(paths);
  } catch (err) {
    assert.ok(err instanceof StorageError, `not a StorageError: ${String(err)}`);
    return err as ProbeError;
  }
  assert.fail(`the probe accepted ${paths.join(', ')}`);
}

test('a whole environment is read to its last record and accepted', async () => {
  const path = await environment();
  const [r] = await probeLmdbStores([path]);
  assert.equal(r!.path, path);
  assert.equal(r!.databases, 2);
  assert.equal(r!.records, 600);
  assert.equal(r!.bytes, 600 * 1024);
});

test('a data.mdb cut short is refused as damaged, with the crash named, and left as it was', async () => {
  const path = await environment();
  const data = join(path, 'data.mdb');
  truncateSync(data, 8192); // the two meta pages, nothing they point to
  const before = readFileSync(data);
  const e = await refused([path]);
  assert.equal(e.reason, 'corrupted');
  assert.equal(e.store, path);
  assert.match(e.message, /is damaged: reading it crashed LMDB \(SIG(BUS|SEGV)\)/);
  assert.match(e.message, /restore this peer's directory from a backup/);
  assert.deepEqual(readFileSync(data), before, 'the file was changed');
  assert.equal(existsSync(join(path, 'lock.mdb')), false, 'the lock file the probe made was left behind');
});

test('a data.mdb overwritten past its meta pages is refused as damaged', async () => {
  const path = await environment();
  const data = join(path, 'data.mdb');
  const size = statSync(data).size;
  overwrite(data, 8192, Buffer.alloc(size - 8192)); // zeros: LMDB reports a page of the wrong type
  const e = await refused([path]);
  assert.equal(e.reason, 'corrupted');
  assert.match(e.message, /is damaged: (LMDB cannot read it \(MDB_CORRUPTED|reading it crashed LMDB)/);

  const path2 = await environment();
  const data2 = join(path2, 'data.mdb');
  const garbage = Buffer.alloc(statSync(data2).size - 8192);
  for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919) & 0xff;
  overwrite(data2, 8192, garbage);
  assert.equal((await refused([path2])).reason, 'corrupted');
});

test('of several environments, the damaged one is named; a lock file that was there stays', async () => {
  const good = await environment();
  const bad = await environment();
  truncateSync(join(bad, 'data.mdb'), 8192);
  writeFileSync(join(bad, 'lock.mdb'), '');
  const e = await refused([good, bad]);
  assert.equal(e.store, bad);
  assert.ok(e.message.includes(`raftwork store ${bad} is damaged`), e.message);
  assert.ok(existsSync(join(bad, 'lock.mdb')), 'a lock file that was there before was removed');
});

test('directories without an LMDB data.mdb are not probed (the store refuses a foreign file itself, and makes an empty one new)', async () => {
  const empty = join(root, `empty${n++}`);
  mkdirSync(empty);
  const emptyFile = join(root, `emptyfile${n++}`);
  mkdirSync(emptyFile);
  writeFileSync(join(emptyFile, 'data.mdb'), '');
  const foreign = join(root, `foreign${n++}`);
  mkdirSync(foreign);
  writeFileSync(join(foreign, 'data.mdb'), 'not lmdb at all');
  assert.deepEqual(await probeLmdbStores([empty, emptyFile, foreign, join(root, 'missing')]), []);
  assert.equal(existsSync(join(foreign, 'lock.mdb')), false);
});
