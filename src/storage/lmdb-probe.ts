/**
 * probeLmdbStores: reads peers' LMDB environments in a child process before any worker opens them.
 *
 * LMDB trusts its file: a data.mdb cut short (a copy that stopped, a full disk) or overwritten
 * inside still opens, and the first read of a page past the end of the file raises SIGBUS, a
 * wild page number SIGSEGV. In a worker thread that kills the whole process, the embedding
 * program with it. So Cluster.start lets one child process read every record first
 * (lmdb-probe-child.ts, the environments one after another: one Node start-up for the cluster);
 * if it dies or LMDB reports an error, that peer's directory is refused with an error that says
 * so, and left as it was.
 *
 * Only directories that hold an LMDB data.mdb are probed. A peer restarted within a running
 * Cluster is not: its file was written by this process, through LMDB, and a worker's
 * termination cannot cut it short.
 */
import { spawn } from 'node:child_process';
import { existsSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StorageError } from './log-store.js';
import { hasLmdbHeader } from './lmdb-store.js';

const CHILD = fileURLToPath(new URL('./lmdb-probe-child.js', import.meta.url));

/** A probe that has not finished by then is stopped, and the stores refused as unverified. */
export const PROBE_TIMEOUT_MS = 120_000;

/** A refused store: the StorageError, with the directory it is about (null: not one in particular). */
export type ProbeError = StorageError & { readonly store: string | null };

function probeError(store: string | null, e: StorageError): ProbeError {
  return Object.assign(e, { store });
}

export interface ProbeResult {
  readonly path: string;
  readonly databases: number;
  readonly records: number;
  readonly bytes: number;
}

interface ChildLine {
  readonly checking?: string;
  readonly ok?: boolean;
  readonly path?: string | null;
  readonly error?: string;
  readonly databases?: number;
  readonly records?: number;
  readonly bytes?: number;
}

/**
 * Resolves with what was read of each environment in `paths` once every record of every one
 * could be read. A directory with no data.mdb, an empty one, or one that is not LMDB at all is
 * skipped (LmdbLogStore.open refuses the last more plainly). Rejects with a ProbeError, a
 * StorageError whose `store` names the directory: 'corrupted' when reading it crashed LMDB or
 * LMDB reported an error; 'io' when the probe could not run or did not finish. Never changes a
 * directory: a lock.mdb that the probe's read-only open created is removed again when a store
 * is refused.
 */
export function probeLmdbStores(paths: readonly string[], timeoutMs = PROBE_TIMEOUT_MS): Promise<ProbeResult[]> {
  const todo = paths.filter((p) => {
    const data = join(p, 'data.mdb');
    // An empty data.mdb (a peer stopped as LMDB created it) holds nothing to read, and LMDB's
    // read-write open makes a new environment of it; its read-only open would crash on it.
    return existsSync(data) && statSync(data).size > 0 && hasLmdbHeader(data);
  });
  if (todo.length === 0) return Promise.resolve([]);
  const hadLock = new Map(todo.map((p) => [p, existsSync(join(p, 'lock.mdb'))]));
  return new Promise<ProbeResult[]>((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, ...todo], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => (err += b.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const refuse = (e: ProbeError): void => {
      for (const [p, had] of hadLock) {
        const lock = join(p, 'lock.mdb');
        if (had || !existsSync(lock)) continue;
        try {
          unlinkSync(lock);
        } catch {
          // best effort: the refusal says what is wrong either way
        }
      }
      reject(e);
    };
    child.on('error', (e) => {
      clearTimeout(timer);
      refuse(probeError(null, new StorageError('io', `raftwork stores ${todo.join(', ')}: cannot check them (${e.message})`, { cause: e })));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const lines: ChildLine[] = [];
      for (const l of out.split('\n')) {
        if (l.trim() === '') continue;
        try {
          lines.push(JSON.parse(l) as ChildLine);
        } catch {
          // a line cut short by a crash
        }
      }
      const results: ProbeResult[] = [];
      for (const l of lines) if (l.ok === true && typeof l.path === 'string') results.push({ path: l.path, databases: l.databases ?? 0, records: l.records ?? 0, bytes: l.bytes ?? 0 });
      if (code === 0 && results.length === todo.length) {
        resolve(results);
        return;
      }
      const last = [...lines].reverse().find((l) => l.checking !== undefined)?.checking ?? todo[0]!;
      const where = `raftwork store ${last}`;
      if (signal === 'SIGKILL' && code === null) {
        refuse(probeError(last, new StorageError('io', `${where}: reading it did not finish within ${timeoutMs} ms, so it was not opened; check the disk, then start again`)));
        return;
      }
      const reported = lines.find((l) => l.error !== undefined)?.error;
      const how =
        signal !== null
          ? `reading it crashed LMDB (${signal})`
          : reported !== undefined
            ? `LMDB cannot read it (${reported})`
            : `reading it failed (exit ${code}${err ? `: ${err.trim().split('\n').pop()}` : ''})`;
      refuse(
        probeError(
          last,
          new StorageError(
            'corrupted',
            `${where} is damaged: ${how}; its data.mdb is cut short or overwritten. Nothing was changed: restore this peer's directory from a backup`,
          ),
        ),
      );
    });
  });
}
