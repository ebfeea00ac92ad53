/**
 * MemoryLogStore: the LogStore contract in memory, for tests, the simulator and
 * `storage: 'memory'`. A write "becomes durable" on a microtask, in issue order.
 *
 * Restarts: the durable state lives in a MemoryBacking that outlives the store. Open a new
 * store on the same backing (`new MemoryLogStore(backing)`) and it sees exactly the writes that
 * resolved. The newest store on a backing owns it; an older one (the "crashed" process) stops
 * committing, and `crash()` drops a store's in-flight writes explicitly.
 *
 * Atomicity, clone-on-write: a write builds the next state beside the current one and commits
 * by replacing `backing.state` with one assignment, so nobody can observe half a batch. The log
 * inside a state is a version (array, base, bounds) over an array that versions share: a
 * version only ever appends past its own end, and only when nothing else has appended there;
 * truncating copies. So appends cost O(entries), truncations and rebasing O(kept log),
 * amortised. Aux-table changes are validated while staging and applied in the same synchronous
 * step as the state swap; applying them cannot throw.
 */
import { InvalidArgumentError } from '../errors.js';
import type { Entry, HardState, LogIndex, Snapshot } from '../core/types.js';
import {
  ENTRY_OVERHEAD_BYTES,
  StorageError,
  type AuxRangeOptions,
  type AuxTable,
  type AuxWrites,
  type ClusterIdentity,
  type IdentityRequest,
  type LoadedState,
  type LogStore,
  type SnapshotChunk,
  type WriteBatch,
} from './log-store.js';
import {
  EMPTY_HARD_STATE,
  auxKeyBytes,
  checkAuxValue,
  checkChunkArgs,
  checkIdentity,
  checkIdentityRequest,
  checkTableName,
  newIdentity,
  validateBatch,
} from './internal.js';

/**
 * A version of the log. Entries snapIndex+1 .. lastIndex live at arr[index - base]. `arr` may
 * hold more elements past lastIndex - base: those belong to newer versions and are not ours.
 */
export interface LogVersion {
  readonly arr: Entry[];
  readonly base: number;
  readonly snapIndex: number;
  readonly lastIndex: number;
  /** Sum of data.length + ENTRY_OVERHEAD_BYTES over the kept entries. */
  readonly bytes: number;
}

/** One durable state; never mutated once built. */
export interface MemoryState {
  readonly log: LogVersion;
  readonly hardState: HardState;
  readonly snapshot: Snapshot | null;
  readonly identity: ClusterIdentity | null;
}

type AuxOp =
  | { readonly op: 'put'; readonly table: string; readonly key: string; readonly value: Uint8Array }
  | { readonly op: 'remove'; readonly table: string; readonly key: string }
  | { readonly op: 'clear'; readonly table: string };

/** Where a memory store's durable state lives; keep it to "restart" a peer. */
export class MemoryBacking {
  state: MemoryState = {
    log: { arr: [], base: 1, snapIndex: 0, lastIndex: 0, bytes: 0 },
    hardState: EMPTY_HARD_STATE,
    snapshot: null,
    identity: null,
  };
  /** Aux tables: name -> (key bytes as a latin1 string, which sorts like the bytes) -> value. */
  readonly tables = new Map<string, Map<string, Uint8Array>>();
  /** Writes committed so far (for tests). */
  commits = 0;
  /** The store that may commit here: the newest one opened on this backing. */
  owner: object | null = null;
}

export interface MemoryLogStoreOptions {
  /** Checked against (or stamped on) the backing, with the same rules as LmdbLogStore. */
  readonly identity?: IdentityRequest;
}

export class MemoryLogStore implements LogStore {
  readonly identity: ClusterIdentity | null;
  readonly backing: MemoryBacking;
  /** The state after every issued write, durable or not. */
  private pending: MemoryState;
  /** Settles when the last issued write is durable or dropped (crash, newer owner). */
  private lastSettled: Promise<void> = Promise.resolve();
  private closed = false;
  private crashed = false;
  private closing: Promise<void> = Promise.resolve();
  private readonly where: string;

  constructor(backing: MemoryBacking = new MemoryBacking(), options: MemoryLogStoreOptions = {}) {
    this.backing = backing;
    const req = options.identity;
    let identity = backing.state.identity;
    this.where = 'memory store' + (identity ? ` of peer ${identity.peerIndex}` : '');
    if (req !== undefined) {
      checkIdentityRequest(req);
      if (identity !== null) checkIdentity(this.where, identity, req);
      else {
        identity = newIdentity(req);
        backing.state = { ...backing.state, identity };
      }
    }
    this.identity = identity;
    backing.owner = this;
    this.pending = backing.state;
  }

  load(): Promise<LoadedState> {
    return this.guard('load', () => {
      const s = this.backing.state;
      return {
        hardState: s.hardState,
        snapshot: s.snapshot ? { index: s.snapshot.index, term: s.snapshot.term } : null,
        entries: slice(s.log, s.log.snapIndex + 1, s.log.lastIndex + 1),
      };
    });
  }

  write(batch: WriteBatch, aux?: AuxWrites): Promise<void> {
    return this.guard('write', () => {
      const cur = this.pending;
      validateBatch(this.where, cur.log, batch);
      const ops = stageAux(aux);
      let log = cur.log;
      if (batch.snapshot !== null) log = compactLog(log, batch.snapshot.index);
      if (batch.entries.length > 0) log = appendLog(log, batch.entries);
      const next: MemoryState = {
        log,
        hardState: batch.hardState ?? cur.hardState,
        snapshot: batch.snapshot ?? cur.snapshot,
        identity: cur.identity,
      };
      return this.commit(next, ops);
    });
  }

  compact(snapshot: Snapshot, aux?: AuxWrites): Promise<void> {
    return this.guard('compact', () => {
      const cur = this.pending;
      if (snapshot.index <= cur.log.snapIndex) return this.commit(cur, []);
      validateBatch(this.where, cur.log, { hardState: null, snapshot, entries: [] });
      const ops = stageAux(aux);
      return this.commit({ ...cur, log: compactLog(cur.log, snapshot.index), snapshot }, ops);
    });
  }

  transaction(aux: AuxWrites): Promise<void> {
    return this.guard('transaction', () => this.commit(this.pending, stageAux(aux)));
  }

  readSnapshot(): Promise<Snapshot | null> {
    return this.guard('readSnapshot', () => this.backing.state.snapshot);
  }

  readSnapshotChunk(offset: number, length: number): Promise<SnapshotChunk | null> {
    return this.guard('readSnapshotChunk', () => {
      checkChunkArgs(offset, length);
      const s = this.backing.state.snapshot;
      if (s === null) return null;
      if (offset > s.data.length) {
        throw new InvalidArgumentError(`${this.where}: snapshot chunk offset ${offset} is past its end (${s.data.length} bytes)`);
      }
      const data = s.data.slice(offset, Math.min(s.data.length, offset + length));
      return { index: s.index, term: s.term, size: s.data.length, offset, data };
    });
  }

  entries(lo: LogIndex, hi: LogIndex): Promise<Entry[]> {
    return this.guard('entries', () => {
      const log = this.backing.state.log;
      return slice(log, Math.max(lo, log.snapIndex + 1), Math.min(hi, log.lastIndex + 1));
    });
  }

  logBytes(): number {
    return this.pending.log.bytes;
  }

  openTable(name: string): AuxTable {
    checkTableName(name);
    return new MemoryAuxTable(name, this.backing);
  }

  /**
   * Simulates a crash of this store's process: writes not yet durable are lost (their promises
   * never settle) and the store refuses further calls. The backing keeps what was durable.
   */
  crash(): Promise<void> {
    this.crashed = true;
    this.closed = true;
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.closing = this.lastSettled;
    }
    return this.closing;
  }

  /** Runs `fn` unless closed; turns its throw into a rejection. */
  private guard<T>(what: string, fn: () => T | Promise<T>): Promise<T> {
    if (this.closed) {
      return Promise.reject(new StorageError('closed', `${this.where}: ${what}() after close(); open a new store`));
    }
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Commits `next` and the aux ops on a microtask, after every earlier write. */
  private commit(next: MemoryState, ops: readonly AuxOp[]): Promise<void> {
    this.pending = next;
    const backing = this.backing;
    let settle!: () => void;
    this.lastSettled = new Promise<void>((r) => (settle = r));
    return new Promise<void>((resolve) => {
      queueMicrotask(() => {
        settle();
        if (this.crashed || backing.owner !== this) return; // lost with the crash: never resolves
        backing.state = next;
        for (const op of ops) applyAux(backing, op);
        backing.commits++;
        resolve();
      });
    });
  }
}

class MemoryAuxTable implements AuxTable {
  constructor(
    readonly name: string,
    private readonly backing: MemoryBacking,
  ) {}

  get(key: string | Uint8Array): Uint8Array | undefined {
    return this.backing.tables.get(this.name)?.get(latin1(auxKeyBytes(key)));
  }

  range(options: AuxRangeOptions = {}): Array<[Uint8Array, Uint8Array]> {
    const map = this.backing.tables.get(this.name);
    if (!map) return [];
    const start = options.start === undefined ? undefined : latin1(auxKeyBytes(options.start));
    const end = options.end === undefined ? undefined : latin1(auxKeyBytes(options.end));
    const limit = options.limit ?? Infinity;
    const keys = [...map.keys()].filter((k) => (start === undefined || k >= start) && (end === undefined || k < end)).sort();
    const out: Array<[Uint8Array, Uint8Array]> = [];
    for (const k of keys) {
      if (out.length >= limit) break;
      out.push([Buffer.from(k, 'latin1'), map.get(k)!]);
    }
    return out;
  }
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** Runs the caller's aux callback, validating every change before anything commits. */
function stageAux(aux: AuxWrites | undefined): AuxOp[] {
  const ops: AuxOp[] = [];
  if (aux === undefined) return ops;
  aux({
    put(table, key, value) {
      checkAuxValue(value);
      ops.push({ op: 'put', table: table.name, key: latin1(auxKeyBytes(key)), value });
    },
    remove(table, key) {
      ops.push({ op: 'remove', table: table.name, key: latin1(auxKeyBytes(key)) });
    },
    clear(table) {
      ops.push({ op: 'clear', table: table.name });
    },
  });
  return ops;
}

function applyAux(backing: MemoryBacking, op: AuxOp): void {
  let map = backing.tables.get(op.table);
  if (!map) backing.tables.set(op.table, (map = new Map()));
  if (op.op === 'put') map.set(op.key, op.value);
  else if (op.op === 'remove') map.delete(op.key);
  else map.clear();
}

/** Entries lo <= index < hi of a version (the caller clamps to its bounds). */
function slice(v: LogVersion, lo: number, hi: number): Entry[] {
  if (hi <= lo) return [];
  return v.arr.slice(lo - v.base, hi - v.base);
}

function entryBytes(e: Entry): number {
  return e.data.length + ENTRY_OVERHEAD_BYTES;
}

/** The version with every entry >= entries[0].index replaced by `entries` (already validated). */
function appendLog(v: LogVersion, entries: readonly Entry[]): LogVersion {
  const first = entries[0]!.index;
  let bytes = v.bytes;
  for (let i = first; i <= v.lastIndex; i++) bytes -= entryBytes(v.arr[i - v.base]!);
  let arr = v.arr;
  let base = v.base;
  const inPlace = first === v.lastIndex + 1 && arr.length === v.lastIndex + 1 - base;
  if (!inPlace) {
    // Truncating, or a newer version (lost in a crash) already appended here: copy what we keep.
    arr = arr.slice(v.snapIndex + 1 - base, first - base);
    base = v.snapIndex + 1;
  }
  for (const e of entries) {
    arr.push(e);
    bytes += entryBytes(e);
  }
  return { arr, base, snapIndex: v.snapIndex, lastIndex: entries[entries.length - 1]!.index, bytes };
}

/** The version with every entry <= index dropped (index > v.snapIndex). */
function compactLog(v: LogVersion, index: number): LogVersion {
  const lastIndex = Math.max(v.lastIndex, index);
  if (lastIndex === index) return { arr: [], base: index + 1, snapIndex: index, lastIndex, bytes: 0 };
  let bytes = v.bytes;
  for (let i = v.snapIndex + 1; i <= index; i++) bytes -= entryBytes(v.arr[i - v.base]!);
  const dead = index + 1 - v.base;
  if (dead > 1024 && dead * 2 > v.arr.length) {
    // Most of the array is compacted away: copy the rest so the dead prefix can be collected.
    return { arr: v.arr.slice(dead, lastIndex + 1 - v.base), base: index + 1, snapIndex: index, lastIndex, bytes };
  }
  return { arr: v.arr, base: v.base, snapIndex: index, lastIndex, bytes };
}
