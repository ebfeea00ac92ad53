/**
 * openStore(): the embedded fault-tolerant key-value store, on a Cluster of peer workers each
 * hosting the KV service (service.ts), with clients in this thread (client.ts) and a supervisor
 * that restarts peers that die on their own (supervisor.ts).
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Cluster } from '../cluster/cluster.js';
import { DataDirError, InvalidArgumentError } from '../errors.js';
import { Rpc, KvClient, type ReadOptions, type ScanOptions, type Value } from './client.js';
import { StoreClosedError } from './errors.js';
import { DEFAULT_SERVICE_OPTIONS, type KvServiceOptions, type KvServiceStats } from './service.js';
import { MAX_STORED_VALUE_BYTES } from './state-machine.js';
import { Supervisor } from './supervisor.js';

export interface StoreOptions {
  /**
   * Where the peers keep their LMDB environments. A new or empty directory becomes a store; an
   * existing store opens with what it holds. Default: a new temporary directory, removed on close().
   */
  readonly dir?: string;
  /** How many peers (worker threads), 1 to 15. Default 3: survives one peer down. */
  readonly peers?: number;
  /** A peer compacts its log into a snapshot of the store when the log passes this. Default 64 MiB. */
  readonly maxLogBytes?: number;
  /** An operation that finds no leader with a quorum for this long fails with NoQuorumError. Default 5000. */
  readonly timeoutMs?: number;
  /** A request unanswered for this long is retried at another peer. Default 250. */
  readonly attemptMs?: number;
  /** The largest value (and append piece) a client sends, in bytes. Default 1 MiB, at most 16 MiB. */
  readonly maxValueBytes?: number;
  /** A client idle this long loses its session (exactly-once state). Default one hour. */
  readonly sessionTimeoutMs?: number;
  /**
   * fsync every write before acknowledging it (default true). false is much faster and survives
   * a crash of the process, not of the machine: for tests and caches.
   */
  readonly sync?: boolean;
  /** Keep dir on close. Default: true for a dir you gave, false for a temporary one. */
  readonly keepData?: boolean;
  /** Restart peers that die unexpectedly (default true). */
  readonly supervise?: boolean;
  /** Raft timing, passed to the Cluster. Defaults [150, 300] and 50. */
  readonly electionTimeoutMs?: readonly [number, number];
  readonly heartbeatMs?: number;
  /** Seeds the peers' election timing. */
  readonly seed?: number;
}

const KNOWN = [
  'dir',
  'peers',
  'maxLogBytes',
  'timeoutMs',
  'attemptMs',
  'maxValueBytes',
  'sessionTimeoutMs',
  'sync',
  'keepData',
  'supervise',
  'electionTimeoutMs',
  'heartbeatMs',
  'seed',
] as const;

/** The file that marks a raftwork cluster directory as holding a KV store. */
export const STORE_MARKER = 'raftwork-kv.json';

const SERVICE_URL = new URL('./service.js', import.meta.url);

/** Opens (or creates) a store and resolves once every peer has started. */
export async function openStore(options: StoreOptions = {}): Promise<Store> {
  const o = resolveStoreOptions(options);
  const existing = o.dir === undefined ? false : await checkDir(o.dir);
  const serviceOptions: KvServiceOptions = {
    ...DEFAULT_SERVICE_OPTIONS,
    maxLogBytes: o.maxLogBytes,
    sessionTimeoutMs: o.sessionTimeoutMs,
    clockIntervalMs: Math.min(1000, Math.floor(o.sessionTimeoutMs / 4)),
  };
  const cluster = await Cluster.start({
    peers: o.peers,
    ...(o.dir !== undefined ? { dataDir: o.dir } : {}),
    ...(o.keepData !== undefined ? { keepData: o.keepData } : {}),
    ...(o.electionTimeoutMs !== undefined ? { electionTimeoutMs: o.electionTimeoutMs } : {}),
    ...(o.heartbeatMs !== undefined ? { heartbeatMs: o.heartbeatMs } : {}),
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
    sync: o.sync,
    service: { module: SERVICE_URL, options: serviceOptions },
  });
  try {
    if (!existing && cluster.dataDir !== null) {
      await writeFile(join(cluster.dataDir, STORE_MARKER), JSON.stringify({ format: 1, kind: 'raftwork-kv' }, null, 2) + '\n', { flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
    }
    const store = new Store(cluster, o);
    await store.connectAll();
    return store;
  } catch (err) {
    await cluster.close().catch(() => undefined);
    throw err;
  }
}

interface ResolvedStoreOptions {
  readonly dir: string | undefined;
  readonly peers: number;
  readonly maxLogBytes: number;
  readonly timeoutMs: number;
  readonly attemptMs: number;
  readonly maxValueBytes: number;
  readonly sessionTimeoutMs: number;
  readonly sync: boolean;
  readonly keepData: boolean | undefined;
  readonly supervise: boolean;
  readonly electionTimeoutMs: readonly [number, number] | undefined;
  readonly heartbeatMs: number | undefined;
  readonly seed: number | undefined;
}

function resolveStoreOptions(o: StoreOptions): ResolvedStoreOptions {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new InvalidArgumentError('openStore needs an options object, e.g. { dir: "./data", peers: 3 }');
  for (const k of Object.keys(o)) {
    if (!(KNOWN as readonly string[]).includes(k)) throw new InvalidArgumentError(`openStore: unknown option '${k}'; the options are: ${KNOWN.join(', ')}`);
  }
  const int = (name: string, v: unknown, def: number, min: number, max: number): number => {
    if (v === undefined) return def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new InvalidArgumentError(`openStore: ${name} must be an integer from ${min} to ${max}, got ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`);
    }
    return v;
  };
  const bool = (name: string, v: unknown, def: boolean): boolean => {
    if (v === undefined) return def;
    if (typeof v !== 'boolean') throw new InvalidArgumentError(`openStore: ${name} must be true or false, got ${String(v)}`);
    return v;
  };
  if (o.dir !== undefined && (typeof o.dir !== 'string' || o.dir === '')) throw new InvalidArgumentError('openStore: dir must be a non-empty path string');
  const timeoutMs = int('timeoutMs', o.timeoutMs, 5000, 1, 3_600_000);
  const sessionTimeoutMs = int('sessionTimeoutMs', o.sessionTimeoutMs, DEFAULT_SERVICE_OPTIONS.sessionTimeoutMs, 1000, 2 ** 40);
  if (sessionTimeoutMs <= timeoutMs) {
    // A write retried until timeoutMs must find its session alive, or a retry of a write that
    // was applied (its answer lost) could not be told from one that was not.
    throw new InvalidArgumentError(`openStore: sessionTimeoutMs (${sessionTimeoutMs}) must be longer than timeoutMs (${timeoutMs})`);
  }
  return {
    dir: o.dir === undefined ? undefined : resolve(o.dir),
    peers: int('peers', o.peers, 3, 1, 15),
    maxLogBytes: int('maxLogBytes', o.maxLogBytes, DEFAULT_SERVICE_OPTIONS.maxLogBytes, 1024, 2 ** 40),
    timeoutMs,
    attemptMs: int('attemptMs', o.attemptMs, Math.min(250, timeoutMs), 1, 3_600_000),
    maxValueBytes: int('maxValueBytes', o.maxValueBytes, 1024 * 1024, 0, MAX_STORED_VALUE_BYTES),
    sessionTimeoutMs,
    sync: bool('sync', o.sync, true),
    keepData: o.keepData === undefined ? undefined : bool('keepData', o.keepData, false),
    supervise: bool('supervise', o.supervise, true),
    electionTimeoutMs: o.electionTimeoutMs,
    heartbeatMs: o.heartbeatMs,
    seed: o.seed,
  };
}

/**
 * Whether `dir` already holds a store. A raftwork cluster directory without the store's marker
 * belongs to something else (a plain Cluster): refuse it rather than read its log as commands.
 * Other cases (missing, empty, a file, foreign content) the Cluster checks with clear errors.
 */
async function checkDir(dir: string): Promise<boolean> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return false;
  }
  if (!names.includes('raftwork.json')) return false;
  if (!names.includes(STORE_MARKER)) {
    throw new DataDirError(
      `dir ${dir} holds a raftwork cluster that is not a KV store (it has no ${STORE_MARKER}); ` +
        'open it with Cluster.start({ dataDir }), or give openStore a new or empty directory',
    );
  }
  let marker: { kind?: unknown; format?: unknown };
  try {
    marker = JSON.parse(await readFile(join(dir, STORE_MARKER), 'utf8')) as typeof marker;
  } catch (err) {
    throw new DataDirError(`${join(dir, STORE_MARKER)} is unreadable (${(err as Error).message}); restore it from a backup or use a new dir`);
  }
  if (marker.kind !== 'raftwork-kv' || marker.format !== 1) {
    throw new DataDirError(`${join(dir, STORE_MARKER)} is not a raftwork KV store marker of a format this version knows (format 1)`);
  }
  return true;
}

export interface PeerStoreStats extends KvServiceStats {
  readonly peer: number;
}

/**
 * The store: its methods are those of a default client (one session); `client()` makes more.
 * Each method is linearizable; writes are applied exactly once even when retried.
 */
export class Store {
  /** The underlying Cluster: fault injection (crash, restart, partition, setNetwork) and stats. */
  readonly cluster: Cluster;
  /** Where the store lives (a temporary directory unless `dir` was given). */
  readonly dir: string | null;
  private readonly rpc: Rpc;
  private readonly main: KvClient;
  private readonly supervisor: Supervisor;
  private readonly limits: { maxValueBytes: number; timeoutMs: number; attemptMs: number };
  private closing: Promise<void> | null = null;

  /** @internal use openStore(). */
  constructor(cluster: Cluster, o: ResolvedStoreOptions) {
    this.cluster = cluster;
    this.dir = cluster.dataDir;
    this.limits = { maxValueBytes: o.maxValueBytes, timeoutMs: o.timeoutMs, attemptMs: o.attemptMs };
    this.rpc = new Rpc(cluster, this.limits);
    this.main = new KvClient(this.rpc, this.limits);
    this.supervisor = new Supervisor(
      cluster,
      (i) => this.rpc.connect(i),
      (i) => this.rpc.isConnected(i),
      (i, err) => console.error(`raftwork kv: peer ${i}:`, err),
      { pollMs: 50, minBackoffMs: 100, maxBackoffMs: 5000, restart: o.supervise },
    );
  }

  /** @internal */
  async connectAll(): Promise<void> {
    await Promise.all(Array.from({ length: this.cluster.peers }, (_, i) => this.rpc.connect(i)));
    this.supervisor.start();
  }

  /** Sets `key` to `value` (a string or a Uint8Array). */
  put(key: string, value: Value): Promise<void> {
    return this.main.put(key, value);
  }

  /** The value of `key`, as it was put (string or Uint8Array), or undefined. Linearizable unless asked otherwise. */
  get(key: string, options?: ReadOptions): Promise<Value | undefined> {
    return this.main.get(key, options);
  }

  /** Appends to `key`'s value (6.824's Append); a missing key counts as empty. */
  append(key: string, value: Value): Promise<void> {
    return this.main.append(key, value);
  }

  /** Removes `key`; resolves whether it existed. */
  delete(key: string): Promise<boolean> {
    return this.main.delete(key);
  }

  /** Sets `key` to `next` if it holds `expected` (undefined: if absent); resolves whether it did. */
  cas(key: string, expected: Value | undefined, next: Value): Promise<boolean> {
    return this.main.cas(key, expected, next);
  }

  /** [key, value] pairs in key order (UTF-8 byte order), optionally under a prefix. */
  scan(options?: ScanOptions): AsyncGenerator<[string, Value]> {
    return this.main.scan(options);
  }

  /** A new client with its own session (its own exactly-once sequence). */
  client(): KvClient {
    if (this.rpc.isClosed) throw new StoreClosedError('client()');
    return new KvClient(this.rpc, this.limits);
  }

  /** Each running peer's view: applied index, sessions, keys, log bytes, snapshots taken. */
  async stats(): Promise<PeerStoreStats[]> {
    if (this.rpc.isClosed) throw new StoreClosedError('stats()');
    const out: PeerStoreStats[] = [];
    for (let i = 0; i < this.cluster.peers; i++) {
      if (!this.cluster.isUp(i)) continue;
      try {
        const s = (await this.cluster.callService(i, { kind: 'stats' })) as KvServiceStats;
        out.push({ peer: i, ...s });
      } catch {
        /* went down meanwhile */
      }
    }
    return out;
  }

  /** Peers restarted by the supervisor after dying on their own. */
  get supervisedRestarts(): readonly number[] {
    return this.supervisor.restarts;
  }

  /** Fails operations in flight with StoreClosedError, stops every peer, and removes a temporary dir. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.supervisor.stop();
      this.rpc.close();
      await this.cluster.close();
    })();
    return this.closing;
  }
}
