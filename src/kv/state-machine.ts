/**
 * The replicated key-value state machine, one per peer, inside the peer's worker.
 *
 * ## State, and where it lives
 *
 * Three aux tables in the peer's own LogStore (its LMDB environment):
 *
 *     kv.data       key (UTF-8 bytes) -> stored value (tag byte + bytes, codec.ts)
 *     kv.sessions   clientId (8 bytes, big-endian) -> session (see below)
 *     kv.meta       'state' -> applied index and term, the cluster clock, the last session sweep
 *
 * The changes of consecutive apply() calls are written together, as aux writes holding the data
 * changes, the sessions they touched and the new applied index, in one storage transaction:
 * usually the transaction of a log write of the peer's, 0.5-1 s after the first of those applies
 * (takeAux(), so the applied state costs no commit or fsync of its own), else a transaction of
 * their own 1 s after it (flush()).
 * So the durable state is always the state after some applied index,
 * and a restarted peer tells the core that index (open() -> appliedIndex) instead of replaying
 * the log from its snapshot; it replays only what was applied in the last second or so.
 * Ordering: the LogStore makes writes durable in issue order, and the driver applies an entry
 * only after it has issued the log write that holds it (the entry may not be durable here yet:
 * it is committed, so durable on a majority), so the stored applied index never runs ahead of
 * the local durable log.
 *
 * Reads must see every applied write, but a transaction is visible in LMDB only once it has
 * committed. Until then its writes sit in `overlay` (key -> value or tombstone, tagged with the
 * transaction that writes them); a key leaves the overlay when that transaction resolves,
 * unless a later one wrote it again. get() looks in the overlay, then in the table. Scans read
 * the table alone after waiting for every issued transaction (whenFlushed), which shows some
 * applied index at or after the one the scan waited for: each transaction is a whole batch, so
 * the table always holds a consistent prefix of the applied log.
 *
 * ## Sessions: exactly-once writes (section 6.3 of Ongaro's thesis)
 *
 * Each client has a random id and numbers its writes 1, 2, 3, ...; it may have many in flight.
 * Each write also carries `ackedBelow`, the lowest seq the client still waits on. A session
 * keeps the result of every applied seq >= ackedBelow; so:
 *   - a seq below ackedBelow is a duplicate of something already answered: Stale, nothing done;
 *   - a seq with a kept result is a retry: that result again, nothing done;
 *   - otherwise the write is applied and its result kept.
 * Results are one byte (gets never enter the log), so a session costs a few bytes per write in
 * flight. A write arriving for an unknown session from a client that has had answers before
 * (ackedBelow > 1) means the session expired: SessionExpired, not applied.
 *
 * Sessions expire deterministically, by the cluster clock: the leader proposes a CLOCK entry
 * (its wall clock and the session timeout) at most once a second while it has writes; every peer
 * takes max(clock, entry) as the time, stamps each session it touches with it, and removes
 * sessions idle for longer than the timeout. Nothing here reads a local clock.
 *
 * ## Snapshots
 *
 * snapshotData() serializes the whole state (sessions and data, at the current applied index);
 * restore() replaces the tables with a snapshot's content in one transaction. While that
 * transaction is in flight the overlay holds the complete new state and the table is ignored.
 */
import type { Entry, Snapshot } from '../core/types.js';
import type { AuxTable, AuxWriter, LogStore } from '../storage/log-store.js';
import type { PiggybackAux } from '../peer/driver.js';
import { ReadCache } from './read-cache.js';
import {
  CodecError,
  Op,
  Reader,
  Result,
  Writer,
  compareBytes,
  decodeCommand,
  prefixEnd,
  type WriteCommand,
} from './codec.js';

/** The largest key, in UTF-8 bytes (LMDB's limit is 1978 with its default page size). */
export const MAX_KEY_BYTES = 1024;
/** The largest value the state machine stores (an append beyond it fails with TooLarge). */
export const MAX_STORED_VALUE_BYTES = 16 * 1024 * 1024;
/**
 * The applied state is written at most this long after an apply, in a transaction of its own
 * (flush()); from half of it on, it rides in the peer's next log write instead (takeAux()).
 * Why a second: each of these writes rewrites every page its keys touch, so a store whose writes
 * fall on a working set of pages writes those pages once per interval, whatever the rate. With
 * 100 ms, one log write in ten on a busy peer carried ~100 KB of them (1,024 hot keys) and the
 * rounds behind it waited: 64-client puts went from 14.4k to 16.1-19.5k/s at 1 s (npm run
 * profile -- --kv). The price is replay after a restart: at most a second of the log, or the
 * bounds below.
 */
export const FLUSH_DELAY_MS = 1000;
const PIGGYBACK_AFTER_MS = FLUSH_DELAY_MS / 2;
/** ... or at once when this many entries or bytes of commands are waiting. */
const FLUSH_ENTRIES = 65536;
const FLUSH_BYTES = 4 * 1024 * 1024;
/** The read cache's bounds (read-cache.ts). */
const CACHE_KEYS = 65536;
const CACHE_BYTES = 16 * 1024 * 1024;
const CACHE_VALUE_BYTES = 16 * 1024;
/** Format of the meta record and snapshots. */
const FORMAT = 1;

interface Session {
  ackedBelow: number;
  lastActive: number;
  readonly results: Map<number, Result>;
}

interface OverlayEntry {
  readonly value: Uint8Array | null;
  readonly ver: number;
}

export interface ApplyObserver {
  /** The result of the write at `index` (not called for no-ops and clock entries). */
  (index: number, term: number, result: Result, cmd: WriteCommand): void;
}

export class KvFormatError extends Error {
  override name = 'KvFormatError';
}

export class KvStateMachine {
  private readonly store: LogStore;
  private readonly data: AuxTable;
  private readonly sessionsTable: AuxTable;
  private readonly meta: AuxTable;
  readonly sessions = new Map<number, Session>();
  /** The last applied log index and its term. */
  applied = 0;
  appliedTerm = 0;
  /**
   * The cluster clock (ms) and how long a session may stay idle (by that clock) before it is
   * removed, both from the last CLOCK entry applied.
   */
  clock = 0;
  sessionTimeoutMs = 0;
  private lastSweep = 0;

  private readonly overlay = new Map<string, OverlayEntry>();
  /** The applied values of keys read lately; kept current by every applied write. */
  private readonly cache = new ReadCache(CACHE_KEYS, CACHE_BYTES, CACHE_VALUE_BYTES);
  /** The version of a restore still in flight (the table is stale until it lands), else 0. */
  private replacing = 0;
  private ver = 0;
  private flushed: Promise<void> = Promise.resolve();
  /** Applied changes not yet issued to storage (they are in the overlay): the next transaction. */
  private pendingChanges = new Map<string, Uint8Array | null>();
  private pendingTouched = new Set<number>();
  private pendingRemoved = new Set<number>();
  private pendingEntries = 0;
  private pendingBytes = 0;
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  /** When the oldest change not yet stored was applied (performance.now()). */
  private pendingSince = 0;
  private stopped = false;
  private readonly onFatal: (err: unknown) => void;
  private badCommands = 0;
  /** Puts reported but not yet set, within one apply() (see there). */
  private readonly deferredKeys: string[] = [];
  private readonly deferredValues: Uint8Array[] = [];

  constructor(store: LogStore, onFatal: (err: unknown) => void) {
    this.store = store;
    this.onFatal = onFatal;
    this.data = store.openTable('kv.data');
    this.sessionsTable = store.openTable('kv.sessions');
    this.meta = store.openTable('kv.meta');
    const m = this.meta.get('state');
    if (m !== undefined) {
      const r = new Reader(m);
      const format = r.u8();
      if (format !== FORMAT) throw new KvFormatError(`this peer's KV state has format ${format}; this version reads format ${FORMAT}`);
      this.applied = r.uint();
      this.appliedTerm = r.uint();
      this.clock = r.uint();
      this.sessionTimeoutMs = r.uint();
      this.lastSweep = r.uint();
    }
    for (const [k, v] of this.sessionsTable.range()) this.sessions.set(idFromKey(k), decodeSession(new Reader(v)));
  }

  /** Commands that failed to decode and were skipped (a foreign or corrupted log). */
  get skipped(): number {
    return this.badCommands;
  }

  // ------------------------------------------------------------------------------ apply

  /**
   * Applies committed entries, in order, and reports each write's result. The changes join the
   * batch waiting to be written (see flush()); reads see them at once, through the overlay.
   *
   * With `decided` (the leader, answering its clients): a put's result needs only its session
   * and its sizes, never the data, so the puts' data are set aside while their results are
   * reported; `decided()` is called once (the replies so far leave) before that data is applied:
   * at the first command whose result reads the data (append, delete, cas), from which on the
   * batch is applied as it comes, or else at the end. The apply itself
   * then runs while the clients already work on their next calls: 64-client puts gained 10-35%
   * (npm run profile -- --kv, alternated). Nothing else runs between the two steps: they are one
   * synchronous call, so no read can see the data missing.
   */
  apply(entries: readonly Entry[], observe: ApplyObserver | null, decided: (() => void) | null = null): void {
    if (entries.length === 0) return;
    const ver = this.ver + 1;
    const changes = this.pendingChanges;
    let deferring = observe !== null && decided !== null;
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]!;
      this.applied = e.index;
      this.appliedTerm = e.term;
      this.pendingEntries++;
      if (e.kind !== 0) continue;
      this.pendingBytes += e.data.length;
      let cmd;
      try {
        cmd = decodeCommand(e.data);
      } catch (err) {
        // Deterministic on every peer: the same bytes fail the same way.
        if (this.badCommands++ === 0) console.error(`raftwork kv: skipping undecodable entry ${e.index}: ${(err as Error).message}`);
        continue;
      }
      if (cmd.op === Op.Clock) {
        if (cmd.ms > this.clock) this.clock = cmd.ms;
        this.sessionTimeoutMs = cmd.timeoutMs;
        this.maybeSweep(this.pendingTouched, this.pendingRemoved);
        continue;
      }
      if (deferring && cmd.op !== Op.Put) {
        // This one reads the data: everything before it must be in place first.
        deferring = false;
        decided!();
        this.setDeferred(changes, ver);
      }
      const result = this.applyWrite(cmd, changes, ver, deferring);
      if (result !== Result.Stale && result !== Result.SessionExpired) this.pendingTouched.add(cmd.clientId);
      observe?.(e.index, e.term, result, cmd);
    }
    if (deferring) {
      decided!();
      this.setDeferred(changes, ver);
    }
    if (this.pendingEntries >= FLUSH_ENTRIES || this.pendingBytes >= FLUSH_BYTES) this.flush();
    else if (this.flushTimer === null) {
      this.pendingSince = performance.now();
      this.flushTimer = setTimeout(() => this.flush(), FLUSH_DELAY_MS);
    }
  }

  /** The puts whose results apply() has reported but whose data it has not set yet, in order. */
  private setDeferred(changes: Map<string, Uint8Array | null>, ver: number): void {
    const keys = this.deferredKeys;
    const values = this.deferredValues;
    for (let k = 0; k < keys.length; k++) this.set(changes, keys[k]!, values[k]!, ver);
    keys.length = 0;
    values.length = 0;
  }

  /**
   * Writes the changes applied since the last flush, the sessions they touched and the applied
   * index, as one transaction of their own. On a busy peer takeAux() has handed them to a log
   * write by then, which stores them in its transaction at no cost of its own; this runs
   * FLUSH_DELAY_MS after the first apply not yet stored when no log write took it (an idle
   * peer), sooner when a batch grows large, and before a scan reads the table. Why not a transaction per
   * apply: the log is what makes a committed write durable; the applied state only spares a
   * restart the replay. A durable LMDB commit per apply (two fsyncs) would hold up the next log
   * append behind it on every write.
   */
  flush(): void {
    const staged = this.takePending();
    if (staged !== null) staged.landed(this.store.transaction(staged.aux));
  }

  /**
   * The changes applied since the last flush, as aux writes for the transaction of the log write
   * the peer is about to issue (PeerService.takeAux); null when nothing is pending. Reads keep
   * seeing them through the overlay until that write lands.
   */
  takeAux(): PiggybackAux | null {
    // Not at every log write: the changes of many applies together dirty far fewer pages than
    // the same changes spread over many transactions (each rewrites the leaf pages it touches).
    if (this.pendingEntries === 0 || performance.now() - this.pendingSince < PIGGYBACK_AFTER_MS) return null;
    return this.takePending();
  }

  private takePending(): PiggybackAux | null {
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.pendingEntries === 0 || this.stopped) return null;
    const changes = this.pendingChanges;
    const touched = this.pendingTouched;
    const removed = this.pendingRemoved;
    this.pendingChanges = new Map();
    this.pendingTouched = new Set();
    this.pendingRemoved = new Set();
    this.pendingEntries = 0;
    this.pendingBytes = 0;
    return this.stage(this.ver + 1, changes, touched, removed, false);
  }

  /** No more writes (the peer is stopping): what is not flushed is replayed from the log next time. */
  stop(): void {
    this.stopped = true;
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
  }

  private applyWrite(cmd: WriteCommand, changes: Map<string, Uint8Array | null>, ver: number, defer: boolean): Result {
    let s = this.sessions.get(cmd.clientId);
    if (s === undefined) {
      if (cmd.ackedBelow > 1) return Result.SessionExpired;
      s = { ackedBelow: 1, lastActive: this.clock, results: new Map() };
      this.sessions.set(cmd.clientId, s);
    }
    s.lastActive = this.clock;
    const forget = cmd.ackedBelow > s.ackedBelow;
    if (forget) s.ackedBelow = cmd.ackedBelow;
    let result: Result;
    if (cmd.seq < s.ackedBelow) result = Result.Stale;
    else {
      const kept = s.results.get(cmd.seq);
      if (kept !== undefined) result = kept;
      else {
        result = this.execute(cmd, changes, ver, defer);
        s.results.set(cmd.seq, result);
      }
    }
    // Forgotten after the new result is in, not before: a client with one write at a time
    // would otherwise empty its map on every write, and V8 reallocates a Map that empties.
    if (forget) s.results.forEach(forgetAcked, s);
    return result;
  }

  /** `defer`: a put's data goes to the deferred list (apply() sets it after reporting); only puts may defer. */
  private execute(cmd: WriteCommand, changes: Map<string, Uint8Array | null>, ver: number, defer: boolean): Result {
    const keyBytes = Buffer.byteLength(cmd.key, 'utf8');
    if (keyBytes === 0 || keyBytes > MAX_KEY_BYTES) return Result.TooLarge;
    switch (cmd.op) {
      case Op.Put:
        if (cmd.value!.length - 1 > MAX_STORED_VALUE_BYTES) return Result.TooLarge;
        if (defer) {
          this.deferredKeys.push(cmd.key);
          this.deferredValues.push(cmd.value!);
        } else this.set(changes, cmd.key, cmd.value, ver);
        return Result.Ok;
      case Op.Append: {
        const piece = cmd.value!;
        const cur = this.read(cmd.key);
        if (cur === undefined) {
          if (piece.length - 1 > MAX_STORED_VALUE_BYTES) return Result.TooLarge;
          this.set(changes, cmd.key, piece, ver);
          return Result.Ok;
        }
        if (cur[0] !== piece[0]) return Result.TypeMismatch;
        if (cur.length + piece.length - 2 > MAX_STORED_VALUE_BYTES) return Result.TooLarge;
        const next = new Uint8Array(cur.length + piece.length - 1);
        next.set(cur, 0);
        next.set(piece.subarray(1), cur.length);
        this.set(changes, cmd.key, next, ver);
        return Result.Ok;
      }
      case Op.Delete: {
        const existed = this.read(cmd.key) !== undefined;
        if (existed) this.set(changes, cmd.key, null, ver);
        return existed ? Result.True : Result.False;
      }
      case Op.Cas: {
        const cur = this.read(cmd.key);
        const matches = cmd.expected === null ? cur === undefined : cur !== undefined && compareBytes(cur, cmd.expected) === 0;
        if (!matches) return Result.False;
        if (cmd.value!.length - 1 > MAX_STORED_VALUE_BYTES) return Result.TooLarge;
        this.set(changes, cmd.key, cmd.value, ver);
        return Result.True;
      }
      default:
        return unreachable(cmd.op);
    }
  }

  /** One applied change: into the next flush, the overlay reads see, and the read cache. */
  private set(changes: Map<string, Uint8Array | null>, key: string, v: Uint8Array | null, ver: number): void {
    changes.set(key, v);
    this.overlay.set(key, { value: v, ver });
    this.cache.update(key, v);
  }

  private maybeSweep(touched: Set<number>, removed: Set<number>): void {
    const ttl = this.sessionTimeoutMs;
    if (ttl <= 0 || this.clock - this.lastSweep < Math.max(1, ttl / 8)) return;
    this.lastSweep = this.clock;
    for (const [id, s] of this.sessions) {
      if (this.clock - s.lastActive > ttl) {
        this.sessions.delete(id);
        touched.delete(id);
        removed.add(id);
      }
    }
  }

  /** Writes a staged change in a transaction of its own. */
  private persist(ver: number, changes: Map<string, Uint8Array | null>, touched: Set<number>, removed: Set<number>, replace: boolean): void {
    const staged = this.stage(ver, changes, touched, removed, replace);
    staged.landed(this.store.transaction(staged.aux));
  }

  /**
   * The aux writes that store `changes` (and the sessions and the applied index as of now), and
   * what to do once the transaction carrying them lands: drop the overlay entries it covers.
   * Versions are staged in order and the peer's writes land in issue order, so a later version
   * never lands before an earlier one.
   */
  private stage(ver: number, changes: Map<string, Uint8Array | null>, touched: Set<number>, removed: Set<number>, replace: boolean): PiggybackAux {
    this.ver = ver;
    const state = this.encodeState();
    const aux = (w: AuxWriter): void => {
      if (replace) {
        w.clear(this.data);
        w.clear(this.sessionsTable);
      }
      for (const [k, v] of changes) {
        if (v === null) w.remove(this.data, k);
        else w.put(this.data, k, v);
      }
      for (const id of touched) {
        const s = this.sessions.get(id);
        if (s !== undefined) w.put(this.sessionsTable, idKey(id), encodeSession(s));
      }
      for (const id of removed) w.remove(this.sessionsTable, idKey(id));
      w.put(this.meta, 'state', state);
    };
    return { aux, landed: (p) => this.landed(p, ver, changes) };
  }

  private landed(p: Promise<void>, ver: number, changes: Map<string, Uint8Array | null>): void {
    this.flushed = p.then(
      () => {
        if (this.replacing === ver) this.replacing = 0;
        for (const k of changes.keys()) {
          const o = this.overlay.get(k);
          if (o !== undefined && o.ver === ver) this.overlay.delete(k);
        }
      },
      (err: unknown) => {
        // The applied state can no longer be made durable in order: stop this peer; it
        // restarts from what is durable.
        this.onFatal(err);
      },
    );
  }

  private encodeState(): Uint8Array {
    return new Writer(48).u8(FORMAT).uint(this.applied).uint(this.appliedTerm).uint(this.clock).uint(this.sessionTimeoutMs).uint(this.lastSweep).finish();
  }

  // ------------------------------------------------------------------------------ reads

  /** The stored form (tag + bytes) of `key`'s value at the applied index, or undefined. */
  read(key: string): Uint8Array | undefined {
    const o = this.overlay.get(key);
    if (o !== undefined) return o.value ?? undefined;
    if (this.replacing !== 0) return undefined;
    if (key.length === 0 || (key.length * 3 > MAX_KEY_BYTES && Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES)) return undefined;
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached ?? undefined;
    const v = this.data.get(key);
    this.cache.fill(key, v ?? null);
    return v;
  }

  /** Writes what is pending, and resolves once it has landed (the tables show at least the current state). */
  whenFlushed(): Promise<void> {
    this.flush();
    return this.flushed;
  }

  /**
   * Up to `limit` pairs (or about maxBytes) with keys starting with `prefix` and after `after`,
   * in byte order, from the table. Call after whenFlushed(). `more` says whether pairs remain.
   */
  scanTable(prefix: string, after: string | null, limit: number, maxBytes: number): { pairs: Array<[Uint8Array, Uint8Array]>; more: boolean } {
    const p = Buffer.from(prefix, 'utf8');
    let start: Uint8Array | undefined = p.length > 0 ? p : undefined;
    if (after !== null) {
      const a = Buffer.from(after, 'utf8');
      const afterStart = Buffer.concat([a, Buffer.from([0])]);
      if (start === undefined || compareBytes(afterStart, start) > 0) start = afterStart;
    }
    const end = prefixEnd(p);
    const opts: { start?: Uint8Array; end?: Uint8Array; limit: number } = { limit: limit + 1 };
    if (start !== undefined) opts.start = start;
    if (end !== null) opts.end = end;
    const rows = this.data.range(opts);
    const pairs: Array<[Uint8Array, Uint8Array]> = [];
    let bytes = 0;
    for (const row of rows) {
      if (pairs.length >= limit || (pairs.length > 0 && bytes + row[0].length + row[1].length > maxBytes)) return { pairs, more: true };
      pairs.push(row);
      bytes += row[0].length + row[1].length;
    }
    return { pairs, more: false };
  }

  /** Number of keys (from the table; approximate while writes are in flight). */
  keyCount(): number {
    return this.data.range().length;
  }

  // ------------------------------------------------------------------------------ snapshots

  /**
   * The whole state at the applied index, as snapshot bytes. Canonical: sessions by id, pairs by
   * key bytes, results by seq, so two peers at one applied index produce the same bytes.
   */
  snapshotData(): Uint8Array {
    const w = new Writer(1024);
    w.u8(FORMAT).uint(this.clock).uint(this.sessionTimeoutMs).uint(this.lastSweep);
    const ids = [...this.sessions.keys()].sort((a, b) => a - b);
    w.uint(ids.length);
    for (const id of ids) {
      w.uint(id);
      writeSession(w, this.sessions.get(id)!);
    }
    const pairs: Array<[Uint8Array, Uint8Array]> = [];
    if (this.replacing === 0) {
      for (const [k, v] of this.data.range()) {
        if (!this.overlay.has(Buffer.from(k.buffer, k.byteOffset, k.length).toString('utf8'))) pairs.push([k, v]);
      }
    }
    for (const [k, o] of this.overlay) if (o.value !== null) pairs.push([Buffer.from(k, 'utf8'), o.value]);
    pairs.sort((a, b) => compareBytes(a[0], b[0]));
    w.uint(pairs.length);
    for (const [k, v] of pairs) w.bytes(k).bytes(v);
    return w.finish();
  }

  /** Replaces the whole state with a snapshot's (installed from the leader). */
  restore(snapshot: Snapshot): void {
    const r = new Reader(snapshot.data);
    const format = r.u8();
    if (format !== FORMAT) throw new KvFormatError(`snapshot format ${format}; this version reads format ${FORMAT}`);
    const clock = r.uint();
    const timeout = r.uint();
    const lastSweep = r.uint();
    const sessions = new Map<number, Session>();
    for (let n = r.uint(); n > 0; n--) {
      const id = r.uint();
      sessions.set(id, decodeSession(r));
    }
    // What was applied and not yet written is replaced by the snapshot's state.
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.pendingChanges = new Map();
    this.pendingTouched = new Set();
    this.pendingRemoved = new Set();
    this.pendingEntries = 0;
    this.pendingBytes = 0;
    const ver = this.ver + 1;
    const changes = new Map<string, Uint8Array | null>();
    this.overlay.clear();
    this.cache.clear();
    for (let n = r.uint(); n > 0; n--) {
      const key = r.str();
      const value = r.bytes();
      changes.set(key, value);
      this.overlay.set(key, { value, ver });
    }
    if (!r.done) throw new CodecError('trailing bytes in snapshot');
    this.sessions.clear();
    for (const [id, s] of sessions) this.sessions.set(id, s);
    this.clock = clock;
    this.sessionTimeoutMs = timeout;
    this.lastSweep = lastSweep;
    this.applied = snapshot.index;
    this.appliedTerm = snapshot.term;
    this.replacing = ver;
    this.persist(ver, changes, new Set(sessions.keys()), new Set(), true);
  }
}

// ------------------------------------------------------------------------------ sessions

/** Map.forEach callback (with the session as `this`): drops a result its client has acknowledged. */
function forgetAcked(this: Session, _r: Result, seq: number): void {
  if (seq < this.ackedBelow) this.results.delete(seq);
}

function writeSession(w: Writer, s: Session): void {
  w.uint(s.lastActive).uint(s.ackedBelow).uint(s.results.size);
  const seqs = [...s.results.keys()].sort((a, b) => a - b);
  for (const seq of seqs) w.uint(seq).u8(s.results.get(seq)!);
}

function encodeSession(s: Session): Uint8Array {
  const w = new Writer(16 + s.results.size * 4);
  writeSession(w, s);
  return w.finish();
}

function decodeSession(r: Reader): Session {
  const lastActive = r.uint();
  const ackedBelow = r.uint();
  const results = new Map<number, Result>();
  for (let n = r.uint(); n > 0; n--) {
    const seq = r.uint();
    results.set(seq, r.u8() as Result);
  }
  return { lastActive, ackedBelow, results };
}

function idKey(id: number): Uint8Array {
  const b = Buffer.allocUnsafe(8);
  b.writeUInt32BE(Math.floor(id / 2 ** 32), 0);
  b.writeUInt32BE(id >>> 0, 4);
  return b;
}

function idFromKey(k: Uint8Array): number {
  const b = Buffer.from(k.buffer, k.byteOffset, k.length);
  return b.readUInt32BE(0) * 2 ** 32 + b.readUInt32BE(4);
}

function unreachable(x: never): never {
  throw new Error(`unknown op ${String(x)}`);
}
