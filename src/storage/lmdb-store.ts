/**
 * LmdbLogStore: a peer's durable log, hard state, snapshot and identity in one LMDB
 * environment (one directory per peer), on lmdb-js.
 *
 * ## When does an lmdb-js write become durable? (lmdb-js 3.5.6, Linux; read and measured)
 *
 * How writes flow (write.js, src/writer.cpp): every asynchronous write (put, remove, clearAsync,
 * transaction callbacks) is appended to an instruction buffer. With eventTurnBatching (the
 * default) everything issued in one event-loop turn is one LMDB transaction, executed on a libuv
 * thread by WriteWorker::Write(). A write's promise resolves when JS sees the TXN_COMMITTED flag
 * on its transaction, and Write() sets that flag only after mdb_txn_commit() has returned.
 * Transactions are resolved strictly in order (write.js resolveWrites walks a linked list and
 * stops at the first unfinished one). Puts of one transaction share one promise.
 *
 * What mdb_txn_commit() does before returning depends on `overlappingSync`, which lmdb-js turns
 * ON by default on every OS but Windows (open.js: `overlappingSync: noSync || readOnly ? false :
 * os != 'win32'`):
 *   - overlappingSync: false: the transaction starts without MDB_NOSYNC, so commit writes the
 *     pages, fdatasync()s the data file, then writes the meta page through a second descriptor
 *     opened O_DSYNC. Returns after both: `await put()` means durable, as the README promises.
 *   - overlappingSync: true: the transaction starts with MDB_NOSYNC. Commit writes the pages and
 *     a meta page marked "not yet flushed" without syncing, makes the transaction visible and
 *     releases the writer lock (so the next transaction can be written while this one syncs),
 *     then, under a separate sync mutex, fdatasync()s and writes the flushed meta O_DSYNC.
 *     In 3.5.6 all of that still happens inside mdb_txn_commit(), so the promise again resolves
 *     after the sync. But the README's contract for this mode is weaker ("The write actions
 *     return a promise for when they are committed"; durability is `db.flushed` or
 *     `separateFlushed`), and other threads/processes can read the data before it is durable.
 *   - `db.committed` is the current transaction's promise; `db.flushed` is
 *     Promise.all([flushPromise || committed, lastSyncTxnFlush]), flushPromise existing only with
 *     overlappingSync (resolved when the worker completes, the same moment in 3.5.6).
 *   - putSync/transactionSync commit on the calling thread; they also fsync before returning in
 *     both modes in 3.5.6 (and block the event loop for it; we never use them on the hot path).
 * Evidence: strace -f with a 50 ms delay injected into every fdatasync (`-e
 * inject=fdatasync:delay_enter=50000`) and a marker write() before each write is issued and
 * after its promise resolves: for put, transaction, committed, flushed, putSync and
 * transactionSync, in both modes, the "resolved" marker always follows the fdatasync of the data
 * file and the O_DSYNC meta write. test/storage/lmdb-durability.test.ts repeats that check on
 * this store (20 ms delays), with two controls that must fail it: `sync: false`, and a child
 * that acknowledges each write when it issues it. (So MEASURED.md's "resolves at commit, before
 * it is durable" describes the README's contract for overlappingSync, not what 3.5.6 does.)
 *
 * ## What this store chooses
 *   - overlappingSync: false, set explicitly and checked after open (durability()): durable on
 *     resolve is then the documented behaviour, not an accident of the current commit code.
 *     Measured on this 2-core VM (with the earlier one-put-per-entry log layout, 256 entries of
 *     64 B per write, 16 writes in flight, 4 alternating runs each): 500 k-1.03 M entries/s
 *     without overlapping, 460-910 k with it; one small write p50 350-440 us either way (a bare
 *     write+fdatasync: 100-140 us; LMDB syncs twice per commit, data then meta). No difference
 *     beyond the noise.
 *   - eventTurnBatching: true, set explicitly. write() issues every operation of a batch
 *     synchronously (puts and removes, never a sync transaction) and returns the promise of the
 *     last one: the batch is in one transaction, and all write() calls made in the same
 *     event-loop turn coalesce into that transaction and one fsync. The peer driver drains a
 *     whole turn into one Ready anyway; this also coalesces write + compact issued together.
 *     Writes issued in later turns while a commit is running join the next transaction: with
 *     16 writes in flight a transaction carried 16 writes (measured with getStats().lastTxnId).
 *   - `sync: false` maps to noSync: no fsync at all. Tests that do not test durability only.
 *   - Crashing a peer: call crash() before worker.terminate() (see there: lmdb-js does not
 *     survive a worker terminated mid-write).
 *
 * ## Layout (named databases in one environment)
 *   raftwork.meta      'identity' (JSON), 'hardState' and 'snapshot' (small binary records)
 *   raftwork.segments  the log: key: index of the segment's first entry (a number,
 *                      ordered-binary); value: a segment of entries, see below
 *   raftwork.snapshot  key: chunk number; value: up to SNAPSHOT_CHUNK_BYTES of the snapshot data
 *   aux.<name>         the aux tables of openTable(), binary keys and values
 * Snapshots are chunked so a large one can be streamed (readSnapshotChunk) without loading it
 * whole, and so LMDB never needs hundreds of contiguous overflow pages for one value.
 * An older layout kept one record per entry in 'raftwork.log'; open() refuses a store whose
 * 'raftwork.log' holds entries (StorageError 'unknown-format') and does not migrate it.
 *
 * ## Log segments
 * A write() stores its entries as one LMDB value, a segment (several when they would exceed
 * SEGMENT_MAX_BYTES), not as one put per entry: lmdb-js's own work per put (instruction
 * encoding, key writing, resolution) plus ours was ~450 ns per entry on the peer's thread.
 * Measured on this 2-core VM (200 sequential durable writes of 1024 entries of 64 B, p50, runs
 * alternated while another benchmark shared the machine): one put per entry 1.2-1.9 ms
 * (0.3-0.6 M entries/s), segments 0.6-1.0 ms (0.9-1.6 M entries/s); with sync: false
 * 0.8-1.1 ms against 0.2-0.26 ms. A one-entry write is ~0.3 ms p50 either way (the two syncs of
 * a commit). Filling a segment costs ~37 ns per entry. A segment value, big-endian:
 *
 *     segment := version u8 (SEGMENT_VERSION = 1)  count u32 (>= 1)  entry{count}
 *     entry   := kind u8  term f64  length u32  data[length]
 *
 * The segment at key k holds entries k .. k+count-1. Terms are f64, as in the hard state and
 * snapshot records: every term is a safe integer (validateBatch checks), which a double holds
 * exactly.
 *
 * Writes are pipelined and LMDB reads see only committed data, so the write path never reads a
 * segment back to rewrite it. The stored segments, in key order, make up the log by one rule:
 * a segment's effective range ends where the next segment begins (the last one's at its own
 * last entry), and entries at or below the snapshot index are skipped.
 *
 *     stored     [1 ........................... 100]         first write: one segment at 1
 *                               [50 ..... 60]                 a conflicting write from 50 on
 *     the log    [1 ......... 49][50 ..... 60]                1..60; 61..100 went with the rest
 *
 *   - A write of entries first..last removes every segment whose key is >= first (the keys,
 *     in-flight ones included, are kept in memory: `segments`) and puts its own segment(s) at
 *     first; an earlier segment that still holds entries >= first is shadowed by it.
 *   - A snapshot at S (in write() or compact()) removes the segments whose effective range lies
 *     entirely at or below S; the one straddling S stays, and reads skip its entries <= S. A write
 *     starting at S+1 removes the segments it leaves entirely at or below S the same way.
 * open() checks the result (readLog): the first segment starts at or below S+1, every segment
 * has an entry above S in its effective range, and each one reaches the next one's key.
 */
import { existsSync, readdirSync, statSync, openSync, readSync, closeSync, unlinkSync } from 'node:fs';
import { resolve as resolvePath, join } from 'node:path';
import { open as openLmdb, type Database, type RootDatabase } from 'lmdb';
import { FileReserve } from './file-reserve.js';
import { InvalidArgumentError } from '../errors.js';
import type { Entry, EntryKind, HardState, LogIndex, Snapshot, SnapshotMeta } from '../core/types.js';
import {
  ENTRY_OVERHEAD_BYTES,
  StorageError,
  type AuxRangeOptions,
  type AuxTable,
  type AuxWriter,
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
  corrupted,
  corruptedRecord,
  encodeIdentity,
  newIdentity,
  parseIdentity,
  validateBatch,
  type LogBounds,
} from './internal.js';

export interface LmdbLogStoreOptions {
  /** The peer's own directory; created if missing. */
  readonly path: string;
  /** Stamped on a new store, checked against an existing one. */
  readonly identity: IdentityRequest;
  /** true (default): every write is fsync'ed before it resolves. false: no fsync (tests only). */
  readonly sync?: boolean;
  /** Initial LMDB map size in bytes (default 256 MiB); LMDB grows it when full. */
  readonly mapSize?: number;
  /**
   * true (default): keep zero-filled space allocated past the data file's end, so durable
   * commits do not grow the file (see FileReserve). Ignored with `sync: false`.
   */
  readonly reserve?: boolean;
}

/** The lmdb-js settings in effect, as lmdb-js resolved them after open. */
export interface LmdbDurability {
  readonly overlappingSync: boolean;
  readonly noSync: boolean;
  readonly eventTurnBatching: boolean;
}

/** Snapshot data is stored in chunks of this many bytes. */
export const SNAPSHOT_CHUNK_BYTES = 64 * 1024;

/**
 * A write's entries are split into segments of at most this many bytes of value (one entry
 * larger than this gets a segment of its own). Why a cap: a value larger than about half a page
 * goes to overflow pages, and LMDB needs them contiguous: it searches its free list for a run of
 * that many free pages (mdb_page_alloc), which gets slower and fails more often as the free
 * list fragments, and then grows the file instead (the reason snapshots are chunked at 64 KiB).
 * Why 128 KiB (32 pages of 4 KiB): a full batch of 1024 small commands (1024 x 64 B is 78 KiB
 * stored) is still one value, so the per-put cost is spread over ~1000 entries, while the run
 * of contiguous pages stays short.
 */
export const SEGMENT_MAX_BYTES = 128 * 1024;

/** The version byte that starts every segment value. */
export const SEGMENT_VERSION = 1;

const DB_META = 'raftwork.meta';
const DB_SEGMENTS = 'raftwork.segments';
/** The log of the older layout, one record per entry: refused at open when it holds any. */
const DB_LEGACY_LOG = 'raftwork.log';
const DB_SNAPSHOT = 'raftwork.snapshot';
const AUX_PREFIX = 'aux.';
const KEY_IDENTITY = 'identity';
const KEY_HARD_STATE = 'hardState';
const KEY_SNAPSHOT = 'snapshot';
const ALLOWED_FILES = new Set(['data.mdb', 'lock.mdb']);
/** Segment value header: version (u8), entry count (u32 BE). */
const SEGMENT_HEADER = 5;
/** Header of each entry in a segment: kind (u8), term (f64 BE), data length (u32 BE). */
const ENTRY_HEADER = 13;
const RECORD_VERSION = 1;
/** LMDB's meta page magic (MDB_MAGIC 0xBEEFC0DE), little-endian, within a data file's first bytes. */
const LMDB_MAGIC = Buffer.from([0xde, 0xc0, 0xef, 0xbe]);

/** Directories open in this thread; a second open of one would break the write bookkeeping. */
const openPaths = new Set<string>();

interface StoredSnapshotMeta extends SnapshotMeta {
  readonly size: number;
  readonly chunks: number;
  readonly chunkSize: number;
}

type LmdbAuxOp =
  | { readonly op: 'put'; readonly db: Database<Buffer, Buffer>; readonly key: Buffer; readonly value: Uint8Array }
  | { readonly op: 'remove'; readonly db: Database<Buffer, Buffer>; readonly key: Buffer }
  | { readonly op: 'clear'; readonly db: Database<Buffer, Buffer> };

export class LmdbLogStore implements LogStore {
  readonly identity: ClusterIdentity;
  readonly path: string;
  private readonly root: RootDatabase;
  private readonly meta: Database<Buffer, string>;
  /** The log segments (see "Log segments" above). */
  private readonly log: Database<Buffer, number>;
  private readonly snap: Database<Buffer, number>;
  private readonly tables = new Map<string, LmdbAuxTable>();
  private readonly where: string;

  // Bookkeeping of the log as of every issued write (durable or not); see LogBounds.
  private snapIndex: number;
  private lastIndex: number;
  private snapChunks: number;
  private readonly sizes = new SizeDeque();
  private bytes = 0;
  /** Keys of the stored segments, ascending, as of every issued write. */
  private readonly segments = new KeyDeque();

  /** The log read at open, handed to the first load() if nothing was written before it. */
  private opened: LoadedState | null;
  private lastWrite: Promise<void> = Promise.resolve();
  /** The lmdb-js promise of the last issued write: settles when LMDB is done with it. */
  private lastIssued: Promise<unknown> = Promise.resolve();
  private failure: unknown = null;
  private closed = false;
  private crashed = false;
  private closing: Promise<void> | null = null;
  /** Zeroed space ahead of LMDB's pages (durable stores only). */
  private reserve: FileReserve | null = null;
  /** Bytes of values issued to LMDB so far (the reserve's hint of how fast the file grows). */
  private issuedBytes = 0;

  private constructor(init: {
    path: string;
    root: RootDatabase;
    meta: Database<Buffer, string>;
    log: Database<Buffer, number>;
    snap: Database<Buffer, number>;
    identity: ClusterIdentity;
    loaded: LoadedState;
    segmentKeys: readonly number[];
    snapChunks: number;
    where: string;
  }) {
    this.path = init.path;
    this.root = init.root;
    this.meta = init.meta;
    this.log = init.log;
    this.snap = init.snap;
    this.identity = init.identity;
    this.where = init.where;
    this.opened = init.loaded;
    this.snapIndex = init.loaded.snapshot?.index ?? 0;
    this.snapChunks = init.snapChunks;
    for (const e of init.loaded.entries) {
      const size = e.data.length + ENTRY_OVERHEAD_BYTES;
      this.sizes.push(size);
      this.bytes += size;
    }
    const n = init.loaded.entries.length;
    this.lastIndex = n > 0 ? init.loaded.entries[n - 1]!.index : this.snapIndex;
    for (const k of init.segmentKeys) this.segments.push(k);
  }

  /**
   * Opens (or creates) the store in `path`. Throws StorageError when the directory holds
   * something else, another cluster's or peer's store, or corrupted records; it then changes
   * nothing in the directory.
   */
  static async open(options: LmdbLogStoreOptions): Promise<LmdbLogStore> {
    if (typeof options.path !== 'string' || options.path.length === 0) {
      throw new InvalidArgumentError('LmdbLogStore.open: path must be a non-empty string');
    }
    checkIdentityRequest(options.identity);
    const path = resolvePath(options.path);
    const where = `raftwork store ${path}`;
    if (openPaths.has(path)) {
      throw new StorageError('in-use', `${where} is already open in this thread; close() it before opening it again`);
    }
    const hadLock = inspectDirectory(path, where);
    const sync = options.sync ?? true;
    let root: RootDatabase;
    try {
      root = openLmdb({
        path,
        maxDbs: 64,
        overlappingSync: false,
        noSync: !sync,
        eventTurnBatching: true,
        mapSize: options.mapSize ?? 256 * 1024 * 1024,
      });
    } catch (err) {
      if (!hadLock) removeQuietly(join(path, 'lock.mdb'));
      throw new StorageError('not-a-store', `${where}: LMDB cannot open it (${(err as Error).message}); point dataDir at a raftwork directory or an empty one`, { cause: err });
    }
    openPaths.add(path);
    try {
      const store = await LmdbLogStore.init(root, path, where, options.identity);
      const d = store.durability();
      if (d.overlappingSync || d.noSync === sync || !d.eventTurnBatching) {
        throw new StorageError('io', `${where}: lmdb-js did not apply the durability settings (${JSON.stringify(d)}); is this directory open elsewhere in this process?`);
      }
      // Without fsync, growing the file costs a commit nothing: reserve only for durable stores.
      if (sync && options.reserve !== false) store.reserve = FileReserve.open(root, join(path, 'data.mdb'));
      return store;
    } catch (err) {
      openPaths.delete(path);
      await root.close().catch(() => undefined);
      if (!hadLock && err instanceof StorageError && err.reason !== 'io') removeQuietly(join(path, 'lock.mdb'));
      throw err;
    }
  }

  private static async init(root: RootDatabase, path: string, where: string, req: IdentityRequest): Promise<LmdbLogStore> {
    // Look before creating anything: an LMDB environment that is not ours must stay untouched.
    let names: string[];
    try {
      names = [...root.getKeys()].map((k) => String(k));
    } catch (err) {
      throw new StorageError('not-a-store', `${where} holds an LMDB environment raftwork cannot read (${(err as Error).message}); point dataDir at a raftwork directory or an empty one`, { cause: err });
    }
    const foreign = names.filter((n) => n !== DB_META && n !== DB_SEGMENTS && n !== DB_LEGACY_LOG && n !== DB_SNAPSHOT && !n.startsWith(AUX_PREFIX));
    if (foreign.length > 0 || (names.length > 0 && !names.includes(DB_META))) {
      throw new StorageError(
        'not-a-store',
        `${where} holds an LMDB environment that is not a raftwork store (it has ${describe(foreign.length > 0 ? foreign : names)}); point dataDir at a raftwork directory or an empty one`,
      );
    }
    if (names.includes(DB_LEGACY_LOG) && root.openDB<Buffer, number>(DB_LEGACY_LOG, { encoding: 'binary' }).getKeysCount() > 0) {
      throw new StorageError(
        'unknown-format',
        `${where} was written by an older raftwork store format (one record per log entry in '${DB_LEGACY_LOG}'); this version keeps the log in segments ('${DB_SEGMENTS}') and does not convert old stores: open it with the raftwork version that wrote it, or move it aside and start this peer on a fresh dataDir so the cluster catches it up`,
      );
    }
    const meta = root.openDB<Buffer, string>(DB_META, { encoding: 'binary' });
    const log = root.openDB<Buffer, number>(DB_SEGMENTS, { encoding: 'binary' });
    const snap = root.openDB<Buffer, number>(DB_SNAPSHOT, { encoding: 'binary' });

    let identity: ClusterIdentity;
    const idBytes = meta.getBinary(KEY_IDENTITY);
    if (idBytes === undefined) {
      if (meta.getKeysCount() > 0 || log.getKeysCount() > 0 || snap.getKeysCount() > 0) {
        throw corruptedRecord(where, 'identity', 'it is missing while the store holds data');
      }
      identity = newIdentity(req);
      await meta.put(KEY_IDENTITY, encodeIdentity(identity));
    } else {
      identity = parseIdentity(where, idBytes);
      checkIdentity(where, identity, req);
    }

    const hsBytes = meta.getBinary(KEY_HARD_STATE);
    const hardState = hsBytes === undefined ? EMPTY_HARD_STATE : decodeHardState(where, hsBytes);
    const smBytes = meta.getBinary(KEY_SNAPSHOT);
    const sm = smBytes === undefined ? null : decodeSnapshotMeta(where, smBytes);
    const { entries, segmentKeys } = readLog(where, log, sm?.index ?? 0, sm?.term ?? 0);
    const loaded: LoadedState = { hardState, snapshot: sm ? { index: sm.index, term: sm.term } : null, entries };
    return new LmdbLogStore({ path, root, meta, log, snap, identity, loaded, segmentKeys, snapChunks: sm?.chunks ?? 0, where });
  }

  /** The LMDB root database (environment), for diagnostics. Use openTable()/transaction() to write. */
  get env(): RootDatabase {
    return this.root;
  }

  /** The durability settings lmdb-js applied (overlappingSync must be false, noSync !sync). */
  durability(): LmdbDurability {
    const r = this.root as unknown as { overlappingSync?: boolean; noSync?: boolean; eventTurnBatching?: boolean };
    return {
      overlappingSync: r.overlappingSync === true,
      noSync: r.noSync === true,
      eventTurnBatching: r.eventTurnBatching !== false,
    };
  }

  load(): Promise<LoadedState> {
    return this.guard('load', () => {
      const opened = this.opened;
      if (opened !== null) {
        this.opened = null;
        return opened;
      }
      const hsBytes = this.meta.getBinary(KEY_HARD_STATE);
      const smBytes = this.meta.getBinary(KEY_SNAPSHOT);
      const sm = smBytes === undefined ? null : decodeSnapshotMeta(this.where, smBytes);
      return {
        hardState: hsBytes === undefined ? EMPTY_HARD_STATE : decodeHardState(this.where, hsBytes),
        snapshot: sm ? { index: sm.index, term: sm.term } : null,
        entries: readLog(this.where, this.log, sm?.index ?? 0, sm?.term ?? 0).entries,
      };
    });
  }

  write(batch: WriteBatch, aux?: AuxWrites): Promise<void> {
    return this.guardWrite('write', () => {
      validateBatch(this.where, this.bounds(), batch);
      const auxOps = this.stageAux(aux);
      return () => {
        this.opened = null;
        let p: Promise<unknown> | undefined;
        if (batch.hardState !== null) p = this.meta.put(KEY_HARD_STATE, encodeHardState(batch.hardState));
        if (batch.snapshot !== null) p = this.putSnapshot(batch.snapshot);
        if (batch.entries.length > 0) p = this.putEntries(batch.entries);
        for (const op of auxOps) p = this.issueAux(op);
        return p;
      };
    });
  }

  compact(snapshot: Snapshot, aux?: AuxWrites): Promise<void> {
    return this.guardWrite('compact', () => {
      if (snapshot.index <= this.snapIndex) return null;
      validateBatch(this.where, this.bounds(), { hardState: null, snapshot, entries: [] });
      const auxOps = this.stageAux(aux);
      return () => {
        this.opened = null;
        let p = this.putSnapshot(snapshot);
        for (const op of auxOps) p = this.issueAux(op);
        return p;
      };
    });
  }

  transaction(aux: AuxWrites): Promise<void> {
    return this.guardWrite('transaction', () => {
      const auxOps = this.stageAux(aux);
      return () => {
        let p: Promise<unknown> | undefined;
        for (const op of auxOps) p = this.issueAux(op);
        return p;
      };
    });
  }

  readSnapshot(): Promise<Snapshot | null> {
    return this.guard('readSnapshot', () => {
      const sm = this.storedSnapshotMeta();
      if (sm === null) return null;
      return { index: sm.index, term: sm.term, data: this.readSnapshotBytes(sm, 0, sm.size) };
    });
  }

  readSnapshotChunk(offset: number, length: number): Promise<SnapshotChunk | null> {
    return this.guard('readSnapshotChunk', () => {
      checkChunkArgs(offset, length);
      const sm = this.storedSnapshotMeta();
      if (sm === null) return null;
      if (offset > sm.size) {
        throw new InvalidArgumentError(`${this.where}: snapshot chunk offset ${offset} is past its end (${sm.size} bytes)`);
      }
      const end = Math.min(sm.size, offset + length);
      return { index: sm.index, term: sm.term, size: sm.size, offset, data: this.readSnapshotBytes(sm, offset, end) };
    });
  }

  entries(lo: LogIndex, hi: LogIndex): Promise<Entry[]> {
    return this.guard('entries', () => {
      const out: Entry[] = [];
      const from = Math.max(lo, this.snapIndex + 1);
      if (!(hi > from)) return out;
      // Start at the segment holding `from`, as the issued writes have it. LMDB shows only the
      // committed ones, whose segments there may differ (a write in flight); but any committed
      // segment starting at or below `from` is a right place to start, since the segments after
      // it are read in order under the shadowing rule. So check the first one found, and only
      // when it starts after `from` (or is missing) look LMDB up for the one before.
      const k = this.segments.floor(from);
      if (k > 0 && this.readSegments(k, from, hi, out, true)) return out;
      let start = from;
      for (const key of this.log.getKeys({ start: from, reverse: true, limit: 1 })) start = key;
      this.readSegments(start, from, hi, out, false);
      return out;
    });
  }

  logBytes(): number {
    return this.bytes;
  }

  openTable(name: string): AuxTable {
    checkTableName(name);
    if (this.closed) throw new StorageError('closed', `${this.where}: openTable() after close(); open the store again`);
    let t = this.tables.get(name);
    if (!t) {
      // Creating a named database runs a synchronous LMDB transaction; that is fine here, between
      // writes: it can only split lmdb-js's event-turn batch between two write() calls, never
      // inside one (each write() issues all of its operations without yielding).
      t = new LmdbAuxTable(name, this.root.openDB<Buffer, Buffer>(AUX_PREFIX + name, { encoding: 'binary', keyEncoding: 'binary' }), this);
      this.tables.set(name, t);
    }
    return t;
  }

  close(): Promise<void> {
    if (this.closing === null) {
      this.closed = true;
      this.closing = this.lastWrite
        .catch(noop)
        .then(() => this.release());
    }
    return this.closing;
  }

  /**
   * Simulates a crash of this peer, for tests and the cluster's crash(): from now on nothing is
   * acknowledged (promises of writes not yet resolved never settle, though LMDB may still land
   * them, as a real crash may) and every call is refused. Resolves once LMDB holds nothing of
   * this store in flight and the environment is closed, so the thread can then be terminated.
   *
   * Why not just worker.terminate()? lmdb-js 3.5.6 does not survive a worker being terminated
   * while it writes: its writer thread waits forever for the end of an event-turn batch the
   * dead thread was assembling (terminate() then never completes and the environment's write
   * lock stays held), or a native call made during termination aborts the whole process
   * ("FATAL ERROR: Error::ThrowAsJavaScriptException napi_throw" from startWriting).
   */
  crash(): Promise<void> {
    if (this.closing === null) {
      this.closed = true;
      this.crashed = true;
      this.closing = this.lastIssued.then(noop, noop).then(() => this.release());
    }
    return this.closing;
  }

  private async release(): Promise<void> {
    try {
      await this.root.close();
    } finally {
      this.reserve?.close();
      openPaths.delete(this.path);
    }
  }

  // ---- internals ----

  private bounds(): LogBounds {
    return { snapIndex: this.snapIndex, lastIndex: this.lastIndex };
  }

  private guard<T>(what: string, fn: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new StorageError('closed', `${this.where}: ${what}() after close(); open the store again`));
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * One write, in two steps. `prepare` validates and stages (it may throw: nothing was issued,
   * the call just rejects) and returns `issue`, or null for nothing to write. `issue` issues
   * every LMDB operation of the write synchronously, so they share one transaction, and returns
   * the promise of the last (undefined if none). The result is tracked in write order.
   */
  private guardWrite(what: string, prepare: () => (() => Promise<unknown> | undefined) | null): Promise<void> {
    if (this.closed) return Promise.reject(new StorageError('closed', `${this.where}: ${what}() after close(); open the store again`));
    if (this.failure !== null) {
      return Promise.reject(
        new StorageError('failed', `${this.where}: ${what}() refused: an earlier write failed (${errorText(this.failure)}); close and reopen the store`, {
          cause: this.failure,
        }),
      );
    }
    let issue: (() => Promise<unknown> | undefined) | null;
    try {
      issue = prepare();
    } catch (err) {
      return Promise.reject(err);
    }
    let p: Promise<unknown> | undefined;
    try {
      p = issue?.();
    } catch (err) {
      // Something threw while operations were being issued: part of a batch may commit, and
      // the bookkeeping may disagree with the disk. Refuse further writes.
      this.failure = err;
      return Promise.reject(new StorageError('io', `${this.where}: ${what}() failed while issuing LMDB operations (${errorText(err)}); close and reopen the store`, { cause: err }));
    }
    // Each write settles after the one before it, even when they share a transaction (and so a
    // commit promise) or this one wrote nothing: resolutions come in issue order.
    const prev = this.lastWrite;
    if (p !== undefined) {
      this.lastIssued = p;
      this.reserve?.onWrite(this.issuedBytes);
    }
    const w =
      p === undefined
        ? prev.then(() => (this.crashed ? NEVER : undefined))
        : p.then(
            () => (this.crashed ? NEVER : prev),
            (err: unknown) => {
              this.failure ??= err;
              throw new StorageError('io', `${this.where}: ${what}() failed to commit (${errorText(err)}); close and reopen the store`, { cause: err });
            },
          );
    this.lastWrite = w;
    return w;
  }

  /**
   * Issues the removal of the segments left entirely at or below the snapshot, then the chunks
   * and the meta record of snapshot `s`.
   */
  private putSnapshot(s: Snapshot): Promise<unknown> {
    const upto = Math.min(s.index, this.lastIndex);
    if (upto > this.snapIndex) this.bytes -= this.sizes.dropFront(upto - this.snapIndex);
    this.snapIndex = s.index;
    this.lastIndex = Math.max(this.lastIndex, s.index);
    this.dropCoveredSegments();
    const size = s.data.length;
    this.issuedBytes += size;
    const chunks = Math.ceil(size / SNAPSHOT_CHUNK_BYTES);
    for (let k = 0; k < chunks; k++) {
      this.snap.put(k, s.data.subarray(k * SNAPSHOT_CHUNK_BYTES, Math.min(size, (k + 1) * SNAPSHOT_CHUNK_BYTES)) as Buffer);
    }
    for (let k = chunks; k < this.snapChunks; k++) this.snap.remove(k);
    this.snapChunks = chunks;
    return this.meta.put(KEY_SNAPSHOT, encodeSnapshotMeta({ index: s.index, term: s.term, size, chunks, chunkSize: SNAPSHOT_CHUNK_BYTES }));
  }

  /**
   * Issues the removal of every segment at or after entries[0].index and the puts of the new
   * segments (split at SEGMENT_MAX_BYTES). Cost per segment: one Buffer, one DataView, one put;
   * per entry: a copy of its data and its sizes, nothing allocated.
   */
  private putEntries(entries: readonly Entry[]): Promise<unknown> {
    const log = this.log;
    const segments = this.segments;
    const n = entries.length;
    const first = entries[0]!.index;
    // Truncation: the segments from `first` on go (the put below replaces one at `first`); an
    // earlier segment holding entries >= first is shadowed by the new one (see the top).
    const cut = segments.lowerBound(first);
    for (let i = cut; i < segments.length; i++) {
      const key = segments.at(i);
      if (key !== first) log.remove(key);
    }
    segments.truncate(cut);
    if (first <= this.lastIndex) this.bytes -= this.sizes.truncate(first - this.snapIndex - 1);
    let p: Promise<unknown> | undefined;
    let k = 0;
    while (k < n) {
      // Entries k..j-1 go into one segment: as many as fit in SEGMENT_MAX_BYTES, at least one.
      let size = SEGMENT_HEADER + ENTRY_HEADER + entries[k]!.data.length;
      let j = k + 1;
      while (j < n) {
        const next = size + ENTRY_HEADER + entries[j]!.data.length;
        if (next > SEGMENT_MAX_BYTES) break;
        size = next;
        j++;
      }
      const buf = Buffer.allocUnsafe(size);
      const view = new DataView(buf.buffer, buf.byteOffset, size);
      view.setUint8(0, SEGMENT_VERSION);
      view.setUint32(1, j - k);
      let off = SEGMENT_HEADER;
      for (let i = k; i < j; i++) {
        const e = entries[i]!;
        const len = e.data.length;
        view.setUint8(off, e.kind);
        view.setFloat64(off + 1, e.term);
        view.setUint32(off + 9, len);
        buf.set(e.data, off + ENTRY_HEADER);
        off += ENTRY_HEADER + len;
        this.sizes.push(len + ENTRY_OVERHEAD_BYTES);
        this.bytes += len + ENTRY_OVERHEAD_BYTES;
      }
      const key = entries[k]!.index;
      this.issuedBytes += size;
      p = log.put(key, buf);
      segments.push(key);
      k = j;
    }
    this.lastIndex = entries[n - 1]!.index;
    // A write starting right after the snapshot leaves the segments before it all at or below it.
    if (first === this.snapIndex + 1) p = this.dropCoveredSegments() ?? p;
    return p!;
  }

  /**
   * Issues the removal of the front segments whose effective range lies entirely at or below
   * the snapshot index: all of them when the log holds nothing after the snapshot; otherwise
   * those followed by a segment that starts at or below snapIndex + 1. Returns the promise of
   * the last remove (undefined if none).
   */
  private dropCoveredSegments(): Promise<unknown> | undefined {
    const segments = this.segments;
    let drop = 0;
    if (this.lastIndex <= this.snapIndex) drop = segments.length;
    else while (drop + 1 < segments.length && segments.at(drop + 1) <= this.snapIndex + 1) drop++;
    let p: Promise<unknown> | undefined;
    for (let i = 0; i < drop; i++) p = this.log.remove(segments.at(i));
    segments.dropFront(drop);
    return p;
  }

  /**
   * Appends to `out` the entries with from <= index < hi of the committed segments from key
   * `start` on, under the shadowing rule. With `mustCover`, does nothing and returns false
   * unless the first segment found starts at or below `from` (so none before it is needed).
   */
  private readSegments(start: number, from: number, hi: number, out: Entry[], mustCover: boolean): boolean {
    let prevKey = 0;
    let prev: Buffer | undefined;
    for (const { key, value } of this.log.getRange({ start, end: hi })) {
      if (prev === undefined) {
        if (mustCover && key > from) return false;
      } else {
        decodeSegment(this.where, prevKey, prev, from, key, out);
      }
      prevKey = key;
      prev = value;
    }
    if (prev === undefined) return !mustCover;
    decodeSegment(this.where, prevKey, prev, from, hi, out);
    return true;
  }

  private issueAux(op: LmdbAuxOp): Promise<unknown> {
    if (op.op === 'remove') return op.db.remove(op.key);
    if (op.op === 'clear') return op.db.clearAsync();
    this.issuedBytes += op.key.length + op.value.length;
    return op.db.put(op.key, op.value as Buffer);
  }

  private stageAux(aux: AuxWrites | undefined): LmdbAuxOp[] {
    const ops: LmdbAuxOp[] = [];
    if (aux === undefined) return ops;
    const owned = (t: AuxTable): LmdbAuxTable => {
      if (!(t instanceof LmdbAuxTable) || t.owner !== this) {
        throw new InvalidArgumentError(`aux table ${t.name} was not opened with openTable() on this store`);
      }
      return t;
    };
    const writer: AuxWriter = {
      put(table, key, value) {
        checkAuxValue(value);
        ops.push({ op: 'put', db: owned(table).db, key: asBuffer(auxKeyBytes(key)), value });
      },
      remove(table, key) {
        ops.push({ op: 'remove', db: owned(table).db, key: asBuffer(auxKeyBytes(key)) });
      },
      clear(table) {
        ops.push({ op: 'clear', db: owned(table).db });
      },
    };
    aux(writer);
    return ops;
  }

  private storedSnapshotMeta(): StoredSnapshotMeta | null {
    const b = this.meta.getBinary(KEY_SNAPSHOT);
    return b === undefined ? null : decodeSnapshotMeta(this.where, b);
  }

  /** Bytes [from, to) of the stored snapshot, read synchronously (one read snapshot of LMDB). */
  private readSnapshotBytes(sm: StoredSnapshotMeta, from: number, to: number): Uint8Array {
    const out = new Uint8Array(to - from);
    if (to <= from) return out;
    const cs = sm.chunkSize;
    for (let k = Math.floor(from / cs); k * cs < to; k++) {
      const chunk = this.snap.getBinary(k);
      const expected = Math.min(cs, sm.size - k * cs);
      if (chunk === undefined || chunk.length !== expected) {
        throw corruptedRecord(this.where, `snapshot chunk ${k}`, chunk === undefined ? 'it is missing' : `it has ${chunk.length} bytes, ${expected} expected`);
      }
      const lo = Math.max(from, k * cs);
      const hi = Math.min(to, (k + 1) * cs);
      out.set(chunk.subarray(lo - k * cs, hi - k * cs), lo - from);
    }
    return out;
  }
}

class LmdbAuxTable implements AuxTable {
  constructor(
    readonly name: string,
    readonly db: Database<Buffer, Buffer>,
    readonly owner: LmdbLogStore,
  ) {}

  get(key: string | Uint8Array): Uint8Array | undefined {
    return this.db.getBinary(asBuffer(auxKeyBytes(key)));
  }

  range(options: AuxRangeOptions = {}): Array<[Uint8Array, Uint8Array]> {
    const out: Array<[Uint8Array, Uint8Array]> = [];
    const limit = options.limit ?? Infinity;
    if (limit <= 0) return out;
    const q: { start?: Buffer; end?: Buffer } = {};
    if (options.start !== undefined) q.start = asBuffer(auxKeyBytes(options.start));
    if (options.end !== undefined) q.end = asBuffer(auxKeyBytes(options.end));
    for (const { key, value } of this.db.getRange(q)) {
      out.push([key, value]);
      if (out.length >= limit) break;
    }
    return out;
  }
}

function noop(): void {}

/** What a crashed store's pending writes resolve to: nothing, ever. */
const NEVER: Promise<void> = new Promise<void>(noop);

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function describe(names: readonly string[]): string {
  const shown = names.slice(0, 5).map((n) => JSON.stringify(n));
  return (names.length > 5 ? [...shown, `and ${names.length - 5} more`] : shown).join(', ');
}

function removeQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // it was not there or cannot be removed: nothing of the user's is at stake
  }
}

/**
 * Checks the directory before LMDB touches it. Returns whether lock.mdb already existed (so a
 * failed open removes only a lock file it created itself).
 */
function inspectDirectory(path: string, where: string): boolean {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new StorageError('io', `${where}: cannot inspect it (${errorText(err)})`, { cause: err });
  }
  if (!st.isDirectory()) {
    throw new StorageError('not-a-store', `${where} is a file, not a directory; point dataDir at a directory (raftwork keeps one per peer)`);
  }
  const names = readdirSync(path);
  const foreign = names.filter((n) => !ALLOWED_FILES.has(n));
  if (foreign.length > 0) {
    throw new StorageError(
      'not-a-store',
      `${where} is not a raftwork store: it holds ${describe(foreign)}, and a raftwork store holds only data.mdb and lock.mdb; point dataDir at a raftwork directory or an empty one`,
    );
  }
  const data = join(path, 'data.mdb');
  if (existsSync(data) && !hasLmdbHeader(data)) {
    throw new StorageError('not-a-store', `${where}: its data.mdb is not an LMDB file; point dataDir at a raftwork directory or an empty one`);
  }
  return existsSync(join(path, 'lock.mdb'));
}

/** Whether the file is empty or starts like an LMDB data file (its first meta page's magic). */
export function hasLmdbHeader(file: string): boolean {
  const head = Buffer.alloc(64);
  const fd = openSync(file, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  return n === 0 || head.subarray(0, n).indexOf(LMDB_MAGIC) >= 0;
}

/**
 * Reads and checks the whole log: the effective entries of every segment (see "Log segments"),
 * contiguous from snapIndex+1, terms not decreasing. Returns them and the segment keys.
 */
function readLog(where: string, log: Database<Buffer, number>, snapIndex: number, snapTerm: number): { entries: Entry[]; segmentKeys: number[] } {
  const out: Entry[] = [];
  const segmentKeys: number[] = [];
  let expect = snapIndex + 1;
  let term = snapTerm;
  let prevKey = 0;
  let prev: Buffer | undefined;
  const take = (key: number, value: Buffer, next: number): void => {
    if (key > expect) {
      const before =
        segmentKeys.length > 0
          ? `the segment before it, at ${segmentKeys[segmentKeys.length - 1]}, ends at ${expect - 1}`
          : snapIndex > 0
            ? `the snapshot ends at ${snapIndex}`
            : 'the log starts at entry 1';
      throw corruptSegment(where, key, `entry ${expect} is missing before it (${before})`);
    }
    const n0 = out.length;
    const end = decodeSegment(where, key, value, expect, next, out);
    const effectiveEnd = Math.min(end, next);
    if (effectiveEnd <= expect) {
      throw corruptSegment(
        where,
        key,
        `it holds nothing after the snapshot index ${snapIndex}: its entries ${key}..${effectiveEnd - 1}${effectiveEnd < end ? ` (the next segment starts at ${next})` : ''} are at or below it, and compaction should have removed it`,
      );
    }
    for (let i = n0; i < out.length; i++) {
      const e = out[i]!;
      if (e.term < term) throw corruptSegment(where, key, `entry ${e.index} has term ${e.term}, below the term ${term} before it`);
      term = e.term;
    }
    expect = effectiveEnd;
    segmentKeys.push(key);
  };
  for (const { key, value } of log.getRange({})) {
    if (typeof key !== 'number' || !Number.isSafeInteger(key) || key < 1) {
      throw corruptedRecord(where, `log segment key ${String(key)}`, 'it is not a log index');
    }
    if (prev !== undefined) take(prevKey, prev, key);
    prevKey = key;
    prev = value;
  }
  if (prev !== undefined) take(prevKey, prev, Infinity);
  return { entries: out, segmentKeys };
}

/**
 * Checks the whole segment at `key` (header, every entry's framing, no trailing bytes) and
 * appends its entries with from <= index < to to `out`, checking their kind and term; the data
 * are views into `value`. Returns one past the segment's last index.
 */
function decodeSegment(where: string, key: number, value: Buffer, from: number, to: number, out: Entry[]): number {
  const len = value.length;
  if (len < SEGMENT_HEADER) throw corruptSegment(where, key, `it is ${len} bytes, shorter than its ${SEGMENT_HEADER}-byte header`);
  const view = new DataView(value.buffer, value.byteOffset, len);
  const version = view.getUint8(0);
  if (version !== SEGMENT_VERSION) {
    throw corruptSegment(where, key, `its format version is ${version}; this raftwork reads segment version ${SEGMENT_VERSION}`);
  }
  const count = view.getUint32(1);
  if (count === 0) throw corruptSegment(where, key, 'its header says it holds no entries');
  let off = SEGMENT_HEADER;
  for (let j = 0; j < count; j++) {
    const index = key + j;
    if (off + ENTRY_HEADER > len) {
      throw corruptSegment(where, key, `it is truncated: entry ${index} (${j + 1} of ${count}) starts at byte ${off}, and its ${ENTRY_HEADER}-byte header runs past the value's ${len} bytes`);
    }
    const size = view.getUint32(off + 9);
    const dataEnd = off + ENTRY_HEADER + size;
    if (dataEnd > len) {
      throw corruptSegment(where, key, `it is truncated: entry ${index} (${j + 1} of ${count}) has ${size} bytes of data, ending at byte ${dataEnd}, past the value's ${len} bytes`);
    }
    if (index >= from && index < to) {
      const kind = view.getUint8(off);
      const term = view.getFloat64(off + 1);
      if ((kind !== 0 && kind !== 1) || !Number.isSafeInteger(term) || term < 0) {
        throw corruptSegment(where, key, `entry ${index} has kind ${kind} and term ${term}`);
      }
      out.push({ index, term, kind: kind as EntryKind, data: new Uint8Array(value.buffer, value.byteOffset + off + ENTRY_HEADER, size) });
    }
    off = dataEnd;
  }
  if (off !== len) {
    throw corruptSegment(where, key, `it has ${len - off} bytes after its last entry ${key + count - 1}`);
  }
  return key + count;
}

function corruptSegment(where: string, key: number, what: string): StorageError {
  return corrupted(where, `the log segment starting at entry ${key} is corrupted (${what})`);
}

/** Hard state: version u8, currentTerm f64 BE, votedFor i32 BE (13 bytes). */
function encodeHardState(hs: HardState): Buffer {
  const b = Buffer.allocUnsafe(13);
  b[0] = RECORD_VERSION;
  b.writeDoubleBE(hs.currentTerm, 1);
  b.writeInt32BE(hs.votedFor, 9);
  return b;
}

function decodeHardState(where: string, b: Buffer): HardState {
  if (b.length !== 13 || b[0] !== RECORD_VERSION) throw corruptedRecord(where, 'hard state', `${b.length} bytes, version ${b[0]}`);
  const currentTerm = b.readDoubleBE(1);
  const votedFor = b.readInt32BE(9);
  if (!Number.isSafeInteger(currentTerm) || currentTerm < 0 || votedFor < -1) {
    throw corruptedRecord(where, 'hard state', `currentTerm ${currentTerm}, votedFor ${votedFor}`);
  }
  return { currentTerm, votedFor };
}

/** Snapshot meta: version u8, index f64, term f64, size f64, chunks u32, chunkSize u32 (33 bytes). */
function encodeSnapshotMeta(m: StoredSnapshotMeta): Buffer {
  const b = Buffer.allocUnsafe(33);
  b[0] = RECORD_VERSION;
  b.writeDoubleBE(m.index, 1);
  b.writeDoubleBE(m.term, 9);
  b.writeDoubleBE(m.size, 17);
  b.writeUInt32BE(m.chunks, 25);
  b.writeUInt32BE(m.chunkSize, 29);
  return b;
}

function decodeSnapshotMeta(where: string, b: Buffer): StoredSnapshotMeta {
  if (b.length !== 33 || b[0] !== RECORD_VERSION) throw corruptedRecord(where, 'snapshot', `${b.length} bytes, version ${b[0]}`);
  const m = {
    index: b.readDoubleBE(1),
    term: b.readDoubleBE(9),
    size: b.readDoubleBE(17),
    chunks: b.readUInt32BE(25),
    chunkSize: b.readUInt32BE(29),
  };
  const ok =
    Number.isSafeInteger(m.index) &&
    m.index >= 0 &&
    Number.isSafeInteger(m.term) &&
    m.term >= 0 &&
    Number.isSafeInteger(m.size) &&
    m.size >= 0 &&
    m.chunkSize > 0 &&
    m.chunks === Math.ceil(m.size / m.chunkSize);
  if (!ok) throw corruptedRecord(where, 'snapshot', JSON.stringify(m));
  return m;
}

/**
 * Sizes of the kept entries, oldest first, so logBytes() stays exact without reading LMDB when
 * the log is truncated or compacted. Four bytes per entry.
 */
class SizeDeque {
  private buf = new Uint32Array(1024);
  private head = 0;
  private len = 0;

  push(size: number): void {
    if (this.head + this.len === this.buf.length) {
      if (this.head > this.buf.length / 2) {
        this.buf.copyWithin(0, this.head, this.head + this.len);
      } else {
        const next = new Uint32Array(this.buf.length * 2);
        next.set(this.buf.subarray(this.head, this.head + this.len));
        this.buf = next;
      }
      this.head = 0;
    }
    this.buf[this.head + this.len++] = size;
  }

  /** Keeps the first `keep` sizes; returns the sum of the removed ones. */
  truncate(keep: number): number {
    let sum = 0;
    for (let i = keep; i < this.len; i++) sum += this.buf[this.head + i]!;
    if (keep < this.len) this.len = Math.max(0, keep);
    return sum;
  }

  /** Removes the first `n` sizes (at most all); returns their sum. */
  dropFront(n: number): number {
    const k = Math.min(n, this.len);
    let sum = 0;
    for (let i = 0; i < k; i++) sum += this.buf[this.head + i]!;
    this.head += k;
    this.len -= k;
    if (this.len === 0) this.head = 0;
    return sum;
  }
}

/**
 * The keys of the stored segments, ascending: appended at the end, cut from the end
 * (truncation) and dropped from the front (compaction). Eight bytes per segment.
 */
class KeyDeque {
  private buf = new Float64Array(64);
  private head = 0;
  private len = 0;

  get length(): number {
    return this.len;
  }

  /** The i-th key, 0 <= i < length. */
  at(i: number): number {
    return this.buf[this.head + i]!;
  }

  /** Appends `key`, which must be above every key held. */
  push(key: number): void {
    if (this.head + this.len === this.buf.length) {
      if (this.head > this.buf.length / 2) {
        this.buf.copyWithin(0, this.head, this.head + this.len);
      } else {
        const next = new Float64Array(this.buf.length * 2);
        next.set(this.buf.subarray(this.head, this.head + this.len));
        this.buf = next;
      }
      this.head = 0;
    }
    this.buf[this.head + this.len++] = key;
  }

  /** The position of the first key >= `x` (length if none). */
  lowerBound(x: number): number {
    let lo = 0;
    let hi = this.len;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.buf[this.head + mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The largest key <= `x`, or 0 if none (keys are >= 1). */
  floor(x: number): number {
    let lo = 0;
    let hi = this.len;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.buf[this.head + mid]! <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo > 0 ? this.buf[this.head + lo - 1]! : 0;
  }

  /** Keeps the first `keep` keys. */
  truncate(keep: number): void {
    if (keep < this.len) this.len = Math.max(0, keep);
  }

  /** Removes the first `n` keys (at most all). */
  dropFront(n: number): void {
    const k = Math.min(n, this.len);
    this.head += k;
    this.len -= k;
    if (this.len === 0) this.head = 0;
  }
}
