import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DataDirError } from '../errors.js';
import { probeLmdbStores, type ProbeError } from '../storage/lmdb-probe.js';

/** The manifest at the top of a cluster's data directory: what cluster the peers' stores belong to. */
export interface ClusterManifest {
  readonly format: 1;
  readonly kind: 'raftwork-cluster';
  readonly clusterId: string;
  readonly peers: number;
}

export interface DataDir {
  readonly path: string;
  readonly clusterId: string;
  /** Remove it on close. */
  readonly temporary: boolean;
  peerDir(i: number): string;
}

const MANIFEST = 'raftwork.json';

/**
 * Opens (or creates) a cluster's data directory. A new or empty directory gets a manifest with a
 * fresh cluster id; an existing one must hold a raftwork manifest for the same number of peers.
 * Never deletes or rewrites anything it did not create.
 */
export async function prepareDataDir(dataDir: string | undefined, peers: number, keepData: boolean | undefined): Promise<DataDir> {
  if (dataDir === undefined) {
    const path = await mkdtemp(join(tmpdir(), 'raftwork-'));
    const clusterId = randomUUID();
    await writeManifest(path, { format: 1, kind: 'raftwork-cluster', clusterId, peers });
    return make(path, clusterId, keepData !== true);
  }
  const path = resolve(dataDir);
  let names: string[];
  try {
    names = await readdir(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      await mkdir(path, { recursive: true });
      names = [];
    } else if (code === 'ENOTDIR') {
      throw new DataDirError(`dataDir ${path} is a file, not a directory; pass a directory path`);
    } else throw new DataDirError(`cannot read dataDir ${path}: ${(err as Error).message}`);
  }
  if (names.length === 0) {
    const clusterId = randomUUID();
    await writeManifest(path, { format: 1, kind: 'raftwork-cluster', clusterId, peers });
    return make(path, clusterId, keepData === false);
  }
  if (!names.includes(MANIFEST)) {
    throw new DataDirError(
      `dataDir ${path} is not empty and holds no ${MANIFEST}: it is not a raftwork cluster directory. ` +
        'Pass a new or empty directory, or the directory of an existing raftwork cluster.',
    );
  }
  let manifest: ClusterManifest;
  try {
    manifest = JSON.parse(await readFile(join(path, MANIFEST), 'utf8')) as ClusterManifest;
  } catch (err) {
    throw new DataDirError(`${join(path, MANIFEST)} is unreadable or corrupted (${(err as Error).message}); restore it from a backup or use a new dataDir`);
  }
  if (manifest.kind !== 'raftwork-cluster' || manifest.format !== 1 || typeof manifest.clusterId !== 'string') {
    throw new DataDirError(`${join(path, MANIFEST)} is not a raftwork cluster manifest of a format this version knows (format 1)`);
  }
  if (manifest.peers !== peers) {
    throw new DataDirError(
      `dataDir ${path} holds a ${manifest.peers}-peer cluster but was opened with peers: ${peers}; ` +
        `open it with peers: ${manifest.peers}, or use a new dataDir`,
    );
  }
  return make(path, manifest.clusterId, keepData === false);
}

export async function removeDataDir(dir: DataDir): Promise<void> {
  if (dir.temporary) await rm(dir.path, { recursive: true, force: true });
}

function make(path: string, clusterId: string, temporary: boolean): DataDir {
  return { path, clusterId, temporary, peerDir: (i) => join(path, `peer-${i}`) };
}

async function writeManifest(path: string, m: ClusterManifest): Promise<void> {
  await writeFile(join(path, MANIFEST), JSON.stringify(m, null, 2) + '\n', { flag: 'wx' });
}

/**
 * Reads every peer store of `dir` in a child process before any worker opens one
 * (storage/lmdb-probe.ts says why: a damaged file would crash this process). Rejects with a
 * DataDirError naming the damaged peer; changes nothing.
 */
export async function probePeerStores(dir: DataDir, peers: number): Promise<void> {
  const paths = Array.from({ length: peers }, (_, i) => dir.peerDir(i));
  try {
    await probeLmdbStores(paths);
  } catch (err) {
    const i = paths.indexOf((err as ProbeError).store ?? '');
    throw new DataDirError(`${i >= 0 ? `peer ${i}: ` : ''}${(err as Error).message}`, { cause: err });
  }
}
