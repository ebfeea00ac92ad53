import { InvalidArgumentError } from '../errors.js';
import type { PeerTiming } from '../peer/protocol.js';

export const MAX_PEERS = 15;

export interface ClusterOptions {
  /** How many peers, 1 to 15. */
  readonly peers: number;
  /** 'lmdb' (default): durable, one LMDB environment per peer. 'memory': nothing survives a crash. */
  readonly storage?: 'lmdb' | 'memory';
  /** Where the peers' LMDB directories live. Default: a new temporary directory. */
  readonly dataDir?: string;
  /** Keep dataDir on close. Default: true for a dataDir you gave, false for a temporary one. */
  readonly keepData?: boolean;
  /** The election timeout is drawn per term from [min, max). Default [150, 300]. */
  readonly electionTimeoutMs?: readonly [number, number];
  /**
   * How often a leader sends heartbeats (empty AppendEntries). Default 50. A leader that has had
   * no work for an election timeout heartbeats at twice that, still below the shortest timeout.
   */
  readonly heartbeatMs?: number;
  /**
   * fsync every write (default true). false runs LMDB without syncing: much faster, and a crash
   * of the machine (not of a worker) can lose acknowledged writes. For tests that do not test durability.
   */
  readonly sync?: boolean;
  /** A leader cut off from a majority steps down after an election timeout. Default true. */
  readonly checkQuorum?: boolean;
  /** Seeds the peers' election-timeout generators, for reproducible timing choices. */
  readonly seed?: number;
  /**
   * Advanced: a replicated service to run inside every peer worker instead of streaming entries
   * to onApply (the KV store uses this). `module` is the URL of a module exporting
   * `createService(): PeerService` (src/peer/service.ts); `options` reach it as structured clone.
   */
  readonly service?: { readonly module: string | URL; readonly options?: unknown };
}

export interface ResolvedOptions {
  readonly peers: number;
  readonly storage: 'lmdb' | 'memory';
  readonly dataDir: string | undefined;
  readonly keepData: boolean | undefined;
  readonly sync: boolean;
  readonly timing: PeerTiming;
  readonly seed: number;
  readonly service: { readonly module: string; readonly options: unknown } | null;
}

/** Checks every option and turns timeouts into ticks; throws an InvalidArgumentError that says what to change. */
export function resolveOptions(o: ClusterOptions | undefined): ResolvedOptions {
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('Cluster.start needs an options object, e.g. { peers: 3 }');
  const known = new Set(['peers', 'storage', 'dataDir', 'keepData', 'electionTimeoutMs', 'heartbeatMs', 'sync', 'checkQuorum', 'seed', 'service']);
  for (const k of Object.keys(o)) {
    if (!known.has(k)) throw new InvalidArgumentError(`unknown option '${k}'; the options are: ${[...known].join(', ')}`);
  }
  if (!Number.isInteger(o.peers) || o.peers < 1 || o.peers > MAX_PEERS) {
    throw new InvalidArgumentError(`peers must be an integer from 1 to ${MAX_PEERS}, got ${String(o.peers)}`);
  }
  const storage = o.storage ?? 'lmdb';
  if (storage !== 'lmdb' && storage !== 'memory') throw new InvalidArgumentError(`storage must be 'lmdb' or 'memory', got ${String(storage)}`);
  if (o.dataDir !== undefined && (typeof o.dataDir !== 'string' || o.dataDir === '')) {
    throw new InvalidArgumentError('dataDir must be a non-empty path string');
  }
  if (o.dataDir !== undefined && storage === 'memory') throw new InvalidArgumentError("dataDir is for storage 'lmdb'; storage 'memory' keeps nothing on disk");
  const [emin, emax] = o.electionTimeoutMs ?? [150, 300];
  const hb = o.heartbeatMs ?? 50;
  if (!(Number.isFinite(emin) && Number.isFinite(emax) && emin > 0 && emax > emin)) {
    throw new InvalidArgumentError(`electionTimeoutMs must be [min, max] with 0 < min < max, got ${JSON.stringify(o.electionTimeoutMs)}`);
  }
  if (!(Number.isFinite(hb) && hb > 0 && hb < emin)) {
    throw new InvalidArgumentError(`heartbeatMs must be positive and below the election timeout's minimum (${emin}), got ${String(hb)}`);
  }
  // A tick small enough to resolve both timers; the core counts in ticks.
  const tickMs = Math.max(1, Math.min(10, Math.floor(hb / 2), Math.floor(emin / 10)));
  const electionTicks = Math.max(2, Math.round(emin / tickMs));
  const timing: PeerTiming = {
    tickMs,
    electionTicks,
    maxElectionTicks: Math.max(electionTicks + 1, Math.round(emax / tickMs)),
    heartbeatTicks: Math.max(1, Math.min(electionTicks - 1, Math.round(hb / tickMs))),
    checkQuorum: o.checkQuorum ?? true,
  };
  if (o.seed !== undefined && !Number.isInteger(o.seed)) throw new InvalidArgumentError(`seed must be an integer, got ${String(o.seed)}`);
  let service: ResolvedOptions['service'] = null;
  if (o.service !== undefined) {
    const m = o.service?.module;
    if (!(typeof m === 'string' || m instanceof URL)) throw new InvalidArgumentError('service.module must be a module URL (string or URL)');
    service = { module: m.toString(), options: o.service.options ?? null };
  }
  return {
    service,
    peers: o.peers,
    storage,
    dataDir: o.dataDir,
    keepData: o.keepData,
    sync: o.sync ?? true,
    timing,
    seed: o.seed ?? Math.floor(Math.random() * 2 ** 31),
  };
}
