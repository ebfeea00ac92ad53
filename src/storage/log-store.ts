/**
 * What a peer keeps durable: its hard state (currentTerm, votedFor), its log after the last
 * snapshot, the snapshot itself, and the identity of the cluster it belongs to.
 *
 * Two implementations share this contract and one conformance suite
 * (test/storage/conformance.ts): LmdbLogStore (durable, the default) and MemoryLogStore (tests,
 * `storage: 'memory'`).
 *
 * The log as stored, with S the snapshot index and L the last index:
 *
 *     snapshot (index S, term, data)   entries S+1 ... L, contiguous, no gaps
 *     ─────────────────────────────┬──────────────────────────────────────────
 *                                  S
 *
 * Ordering contract: writes (write, compact, transaction) apply and become durable in the order
 * they were issued, each all-or-nothing, and their promises resolve in that order, each only
 * once that write and every earlier one is durable. A caller may issue the next write before the
 * previous one resolves (pipelining). Reads (load, entries, readSnapshot, aux tables) see the
 * writes that have resolved; they may or may not see writes still in flight.
 *
 * Buffers handed to a write must not be changed until the write resolves (LMDB copies them on
 * its write thread; the memory store keeps them).
 */
import { RaftworkError } from '../errors.js';
import type { Entry, HardState, LogIndex, Snapshot, SnapshotMeta } from '../core/types.js';

/** The cluster a store belongs to, stored on first open and checked on every later open. */
export interface ClusterIdentity {
  readonly clusterId: string;
  readonly peers: number;
  readonly peerIndex: number;
  readonly format: 1;
}

/**
 * The identity a caller opens a store with. `clusterId` may be left out: a new store then gets a
 * random one, and an existing store's id is not checked.
 */
export interface IdentityRequest {
  readonly clusterId?: string;
  readonly peers: number;
  readonly peerIndex: number;
  readonly format?: 1;
}

/** One atomic write: the persisting half of a core Ready. */
export interface WriteBatch {
  readonly hardState: HardState | null;
  /** Stored, and every entry at or below snapshot.index dropped; later entries are kept. */
  readonly snapshot: Snapshot | null;
  /** Every stored entry at or after entries[0].index is replaced by these. */
  readonly entries: readonly Entry[];
}

/** What the core needs at start. */
export interface LoadedState {
  readonly hardState: HardState;
  readonly snapshot: SnapshotMeta | null;
  /** The entries after the snapshot, in index order, without gaps. */
  readonly entries: Entry[];
}

/** A slice of the stored snapshot, for streaming it (InstallSnapshot) without loading it whole. */
export interface SnapshotChunk {
  /** Which snapshot the bytes belong to: a streamer restarts if this changes between chunks. */
  readonly index: LogIndex;
  readonly term: number;
  /** Total size of the snapshot's data in bytes. */
  readonly size: number;
  readonly offset: number;
  /** At most the requested length; shorter at the end. Empty when offset === size. */
  readonly data: Uint8Array;
}

/**
 * Extra tables in the same store as the log, for a higher layer (the KV state machine): their
 * writes can ride in the same atomic, durable transaction as a snapshot (compact, write) so the
 * applied state and the log never disagree after a crash. Keys are bytes (a string key is its
 * UTF-8 bytes, at most MAX_AUX_KEY_BYTES); iteration is in byte order.
 */
export interface AuxTable {
  readonly name: string;
  /** The durable value, or undefined. Sees resolved writes only. */
  get(key: string | Uint8Array): Uint8Array | undefined;
  /** [key, value] pairs with start <= key < end in byte order, at most `limit` of them. */
  range(options?: AuxRangeOptions): Array<[Uint8Array, Uint8Array]>;
}

export interface AuxRangeOptions {
  readonly start?: string | Uint8Array;
  readonly end?: string | Uint8Array;
  readonly limit?: number;
}

/** Collects aux-table changes for one transaction; they apply in call order. */
export interface AuxWriter {
  put(table: AuxTable, key: string | Uint8Array, value: Uint8Array): void;
  remove(table: AuxTable, key: string | Uint8Array): void;
  /** Removes every key of the table. */
  clear(table: AuxTable): void;
}

/** Called synchronously, once, while the transaction is being assembled. */
export type AuxWrites = (writer: AuxWriter) => void;

/** The largest aux key LMDB accepts with its default page size. */
export const MAX_AUX_KEY_BYTES = 1978;

export interface LogStore {
  /** The stored identity (null only for a memory store opened without one). */
  readonly identity: ClusterIdentity | null;

  /** Hard state ({0, -1} when none was stored), snapshot metadata, and the entries after it. */
  load(): Promise<LoadedState>;

  /**
   * One atomic transaction; resolves once durable (fsync'ed), after every earlier write.
   * Order inside: hard state; snapshot (store it, drop entries <= its index); entries (drop
   * every entry >= entries[0].index, then store them); aux writes.
   * Rejects with StorageError('invalid-write') if the batch would leave a gap or is malformed;
   * nothing is written then.
   */
  write(batch: WriteBatch, aux?: AuxWrites): Promise<void>;

  /**
   * The service's own snapshot at snapshot.index: store it and drop entries <= index in one
   * durable transaction, with `aux` in the same transaction. A snapshot at or below the current
   * one is ignored (aux is not run either); it resolves after earlier writes.
   */
  compact(snapshot: Snapshot, aux?: AuxWrites): Promise<void>;

  /** The stored snapshot, whole, or null. */
  readSnapshot(): Promise<Snapshot | null>;

  /** Up to `length` bytes of the stored snapshot's data from `offset`, or null when none is stored. */
  readSnapshotChunk(offset: number, length: number): Promise<SnapshotChunk | null>;

  /** The stored entries with lo <= index < hi (only those that exist), in order. */
  entries(lo: LogIndex, hi: LogIndex): Promise<Entry[]>;

  /**
   * Approximate bytes of log kept: sum over kept entries of data length + ENTRY_OVERHEAD_BYTES.
   * Counts writes already issued, durable or not; excludes the snapshot.
   */
  logBytes(): number;

  /** An aux table in this store (created when first written). Names: [A-Za-z0-9_.:-]{1,64}. */
  openTable(name: string): AuxTable;

  /** Aux writes alone, as one durable transaction ordered with the other writes. */
  transaction(aux: AuxWrites): Promise<void>;

  /** Waits for issued writes, then releases the store. Later calls reject with StorageError('closed'). */
  close(): Promise<void>;

  /**
   * Simulates a crash (a peer's crash() in tests and the cluster): from this moment nothing more
   * is acknowledged (promises of writes not yet resolved never settle; the writes themselves may
   * or may not become durable, as in a real crash) and later calls are refused. Resolves when
   * the storage engine has nothing of this store in flight, so its thread can be terminated
   * safely. For LMDB, call this before worker.terminate(): see LmdbLogStore.crash().
   */
  crash(): Promise<void>;
}

/** Per-entry overhead counted by logBytes(): the stored header (kind, term) and the key. */
export const ENTRY_OVERHEAD_BYTES = 17;

export type StorageErrorReason =
  /** The directory belongs to another cluster, cluster size or peer. */
  | 'identity-mismatch'
  /** The directory holds something that is not a raftwork store. */
  | 'not-a-store'
  /** A stored record cannot be decoded, or the log breaks its invariants. */
  | 'corrupted'
  /** The store was written by a raftwork format this version does not know. */
  | 'unknown-format'
  /** The caller asked for a write that would break the log's invariants (a bug upstream). */
  | 'invalid-write'
  /** The store is closed. */
  | 'closed'
  /** The directory is already open in this thread. */
  | 'in-use'
  /** An earlier write failed; the store refuses further writes until reopened. */
  | 'failed'
  /** The underlying storage reported an error. */
  | 'io';

/** Every error the storage layer raises on purpose. Says what is wrong and what to do. */
export class StorageError extends RaftworkError {
  override name = 'StorageError';
  constructor(
    readonly reason: StorageErrorReason,
    message: string,
    options?: ErrorOptions,
  ) {
    super('ESTORAGE', message, options);
  }
}
