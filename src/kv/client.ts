/**
 * The store's clients, in the main thread.
 *
 * ## Transport
 *
 * One MessagePort per peer (Cluster.connectService), shared by every client of a store. All
 * requests issued to one peer in one event-loop turn go out as one buffer (codec.ts frames), and
 * the peer answers a turn's replies as one buffer: many concurrent operations cost one
 * postMessage each way, not one per operation. comlink is not on this path.
 *
 * ## Retries (as 6.824's kvraft Clerk)
 *
 * An operation goes to the peer believed to lead (the last one that served a leader-only
 * request, shared by all clients of the store). It moves on to another peer when the answer is
 * "not leader" (to the hinted leader, if any), when the leader lost the entry's index to another
 * leader ("retry"), or when no answer comes within attemptMs (lost request or reply, crashed
 * peer, cut-off leader). After trying every peer once without success it backs off a little, so
 * an election can finish. It fails with NoQuorumError after timeoutMs, saying which peers
 * answered lately and which are running.
 *
 * A write keeps its (clientId, seq) across retries, and the state machine's session table
 * applies it at most once, whatever the network duplicates or loses. A reply from any attempt
 * of an operation completes it; a "not leader" from an attempt that is no longer the current one
 * is ignored.
 */
import { randomBytes } from 'node:crypto';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { Cluster } from '../cluster/cluster.js';
import { InvalidArgumentError } from '../errors.js';
import {
  Consistency,
  Op,
  Reader,
  Req,
  Res,
  Result,
  SCAN_PAGE_LIMIT,
  Writer,
  encodeWrite,
  type ConsistencyCode,
  type Value,
  type WriteRequest,
} from './codec.js';
import { SlotSet, type Slotted } from '../cluster/slot-set.js';
import { RequestTable } from './call-table.js';
import { NoQuorumError, SessionExpiredError, SizeLimitError, StoreClosedError, TypeMismatchError } from './errors.js';
import { MAX_KEY_BYTES, MAX_STORED_VALUE_BYTES } from './state-machine.js';

export type { Value } from './codec.js';

/** How a read is served. */
export type ReadConsistency = 'linearizable' | 'lease' | 'stale';

export interface ReadOptions {
  /**
   * - 'linearizable' (default): the leader confirms with one heartbeat round that it still
   *   leads (ReadIndex) and serves once it has applied up to its commit index then. Sees every
   *   write acknowledged before the read began. Costs one round trip to a majority, shared by
   *   all reads that arrive in the same turn; never writes to the log.
   * - 'lease': the leader serves without a round while its lease holds (a majority confirmed it
   *   within the last election timeout, less a margin, and check-quorum keeps followers from
   *   electing another leader meanwhile). Linearizable as long as the peers' clocks advance at
   *   about the same rate (they share one machine here); cheaper than 'linearizable'.
   * - 'stale': any peer answers from what it has applied, at once. May miss recent writes, and
   *   two stale reads in a row may go back in time (they may reach different peers). Never
   *   sees a write that was not committed.
   */
  readonly consistency?: ReadConsistency;
}

export interface ScanOptions extends ReadOptions {
  /** Only keys starting with this prefix. Default '' (every key). */
  readonly prefix?: string;
  /** Pairs fetched per request. Default 256, at most 1000. */
  readonly pageSize?: number;
}

export interface ClientLimits {
  readonly maxValueBytes: number;
  readonly timeoutMs: number;
  readonly attemptMs: number;
}

/** The most writes a client has in flight; more wait for a slot. */
const MAX_INFLIGHT_WRITES = 1024;
/** How often the retry timer looks at the operations in flight (while there are any). */
const TICK_MS = 5;

/**
 * What an operation sends and how its answer reads: one small object per operation, no
 * closures. `encode` writes the request body after the type byte and request id; `decode`
 * reads a success reply (status and request id already read) or throws.
 */
interface OpSpec {
  /** For messages: 'put', 'get', ... */
  readonly name: string;
  readonly key: string;
  readonly type: number;
  /** Only the leader serves it (writes, linearizable and lease reads). */
  readonly leaderOnly: boolean;
  readonly write: boolean;
  encode(w: Writer): void;
  decode(status: number, r: Reader): unknown;
}

/** One operation, across its attempts. */
class Call implements Slotted {
  slot = -1;
  finished = false;
  /** The request id of the attempt in flight, 0 when none. */
  current = 0;
  peer = -1;
  attempts = 0;
  /** When the attempt in flight times out, or (current === 0) when to try again. */
  due = 0;
  firstReq = 0;
  moreReqs: number[] | null = null;

  constructor(
    readonly spec: OpSpec,
    readonly deadline: number,
    public next: number,
    readonly resolve: (v: unknown) => void,
    readonly reject: (e: Error) => void,
  ) {}

  get what(): string {
    return `${this.spec.name}(${show(this.spec.key)})`;
  }
}

/** The main thread's end of one peer's client port. */
class PeerConn {
  private readonly out = new Writer(4096);
  private scheduled = false;
  open = true;

  constructor(
    readonly peer: number,
    readonly port: MessagePort,
    onBatch: (peer: number, batch: Uint8Array) => void,
    onClose: (conn: PeerConn) => void,
  ) {
    port.on('message', (data: unknown) => {
      if (data instanceof Uint8Array) onBatch(peer, data);
    });
    port.on('close', () => {
      this.open = false;
      onClose(this);
    });
  }

  /** Queues one request frame; the frames queued together go out as one message. */
  send(reqId: number, spec: OpSpec): void {
    if (!this.open) return;
    const w = this.out;
    const at = w.reserveLength();
    w.u8(spec.type).uint(reqId);
    spec.encode(w);
    w.patchLength(at);
    if (!this.scheduled) {
      // After the microtasks already queued: when a reply batch resumes many callers at once,
      // their continuations queue together, and their next requests leave as one message.
      this.scheduled = true;
      queueMicrotask(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    if (!this.open || this.out.pos === 0) return;
    const buf = this.out.finish();
    this.out.reset();
    try {
      this.port.postMessage(buf, [buf.buffer]);
    } catch {
      this.open = false;
    }
  };

  close(): void {
    this.open = false;
    this.port.close();
  }
}

/** Requests and replies for every client of one store: connections, leader cache, retries. */
export class Rpc {
  readonly peers: number;
  private readonly conns: (PeerConn | null)[];
  private readonly heard: number[];
  /** Request id -> operation, for every attempt of every operation in flight (call-table.ts: why not a Map). */
  private readonly inflight = new RequestTable<Call>();
  /** Operations not finished (in flight, or waiting to retry). */
  private readonly active = new SlotSet<Call>();
  /** The tick's copy of `active` (reused: the tick runs every TICK_MS). */
  private readonly due: Call[] = [];
  private ticker: ReturnType<typeof setInterval> | null = null;
  private nextReq = 1;
  /** The peer believed to lead, or -1. */
  leader = -1;
  private closed = false;
  private readonly limits: ClientLimits;

  constructor(
    private readonly cluster: Cluster,
    limits: ClientLimits,
  ) {
    this.peers = cluster.peers;
    this.limits = limits;
    this.conns = new Array<PeerConn | null>(this.peers).fill(null);
    this.heard = new Array<number>(this.peers).fill(-Infinity);
  }

  /** Opens (or reopens, after a restart) the client port to peer i. */
  async connect(i: number): Promise<void> {
    const ch = new MessageChannel();
    const conn = new PeerConn(i, ch.port1, this.onBatch, (c) => {
      if (this.conns[c.peer] === c) this.conns[c.peer] = null;
    });
    try {
      await this.cluster.connectService(i, ch.port2);
    } catch (err) {
      conn.close();
      throw err;
    }
    if (this.closed) {
      conn.close();
      return;
    }
    const old = this.conns[i];
    this.conns[i] = conn;
    if (old && old !== conn) old.close();
  }

  isConnected(i: number): boolean {
    return this.conns[i]?.open === true;
  }

  /** Runs one operation to completion (or NoQuorumError after timeoutMs). */
  run<T>(spec: OpSpec): Promise<T> {
    if (this.closed) return Promise.reject(new StoreClosedError(`${spec.name}(${show(spec.key)})`));
    return new Promise<T>((resolve, reject) => {
      const now = performance.now();
      const call = new Call(spec, now + this.limits.timeoutMs, (Math.random() * this.peers) | 0, resolve as (v: unknown) => void, reject);
      this.active.add(call);
      if (this.ticker === null) this.ticker = setInterval(this.tick, TICK_MS);
      this.attempt(call, -1, now);
    });
  }

  private attempt(c: Call, hint: number, now: number): void {
    if (c.finished) return;
    if (this.closed) return this.fail(c, new StoreClosedError(c.what));
    if (now >= c.deadline) return this.fail(c, this.noQuorum(c));
    const peer = this.pick(c, hint);
    if (peer < 0) {
      // No connection at all (every peer down): look again in a while.
      c.current = 0;
      c.due = now + 50;
      return;
    }
    c.attempts++;
    const reqId = this.nextReq++;
    if (this.nextReq > 0x7fffffff) this.nextReq = 1;
    c.current = reqId;
    c.peer = peer;
    if (c.firstReq === 0) c.firstReq = reqId;
    else (c.moreReqs ??= []).push(reqId);
    c.due = Math.min(now + this.limits.attemptMs, c.deadline);
    this.inflight.set(reqId, c);
    this.conns[peer]!.send(reqId, c.spec);
  }

  /** Times out attempts and starts delayed retries; runs every TICK_MS while operations are active. */
  private readonly tick = (): void => {
    if (this.active.size === 0) {
      if (this.ticker !== null) clearInterval(this.ticker);
      this.ticker = null;
      return;
    }
    const now = performance.now();
    for (const c of this.active.snapshot(this.due)) {
      if (c.finished || c.due > now) continue;
      if (c.current !== 0) {
        // No answer within attemptMs: lost, or the peer cannot serve. Try another.
        if (this.leader === c.peer) this.leader = -1;
        this.retry(c, -1, now);
      } else this.attempt(c, -1, now);
    }
    this.due.length = 0;
  };

  /** The hinted leader, else the cached one, else the next connected peer in turn. */
  private pick(c: Call, hint: number): number {
    if (hint >= 0 && this.conns[hint]?.open) return hint;
    if (c.spec.leaderOnly && c.attempts === 0 && this.leader >= 0 && this.conns[this.leader]?.open) return this.leader;
    for (let k = 0; k < this.peers; k++) {
      const p = (c.next + k) % this.peers;
      if (this.conns[p]?.open) {
        c.next = (p + 1) % this.peers;
        return p;
      }
    }
    return -1;
  }

  private readonly onBatch = (peer: number, batch: Uint8Array): void => {
    this.heard[peer] = performance.now();
    const r = new Reader(batch);
    const end = r.end;
    try {
      while (r.pos < end) {
        const len = r.uint();
        const frameEnd = r.pos + len;
        if (frameEnd > end) throw new Error('truncated frame');
        r.end = frameEnd;
        this.onReply(peer, r);
        r.pos = frameEnd;
        r.end = end;
      }
    } catch (err) {
      console.error(`raftwork kv: malformed reply batch from peer ${peer}:`, err);
    }
  };

  private onReply(peer: number, r: Reader): void {
    const status = r.u8();
    const reqId = r.uint();
    const c = this.inflight.get(reqId);
    if (c === undefined || c.finished) return;
    switch (status) {
      case Res.NotLeader: {
        if (reqId !== c.current) return;
        let hint = r.uint() - 1;
        if (hint === peer || hint >= this.peers) hint = -1;
        if (this.leader === peer) this.leader = hint;
        this.retry(c, hint, performance.now());
        return;
      }
      case Res.Retry:
        if (reqId !== c.current) return;
        if (this.leader === peer) this.leader = -1;
        this.retry(c, -1, performance.now());
        return;
      case Res.Error: {
        let msg = 'malformed reply';
        try {
          msg = r.str();
        } catch {
          /* keep default */
        }
        this.fail(c, new Error(`${c.what}: peer ${peer} refused the request: ${msg} (a bug in raftwork)`));
        return;
      }
      default: {
        let value: unknown;
        try {
          value = c.spec.decode(status, r);
        } catch (err) {
          this.fail(c, new Error(`${c.what}: malformed reply from peer ${peer}: ${(err as Error).message}`));
          return;
        }
        if (c.spec.leaderOnly) this.leader = peer;
        this.done(c);
        c.resolve(value);
      }
    }
  }

  /** Next attempt: at once, unless every peer has had a try this round (then back off a little). */
  private retry(c: Call, hint: number, now: number): void {
    c.current = 0;
    if (hint >= 0 || c.attempts % this.peers !== 0) {
      this.attempt(c, hint, now);
      return;
    }
    const rounds = Math.floor(c.attempts / this.peers);
    c.due = now + Math.min(100, 5 * 2 ** Math.min(rounds, 5));
  }

  private done(c: Call): void {
    c.finished = true;
    this.active.delete(c);
    this.inflight.delete(c.firstReq);
    if (c.moreReqs !== null) for (const id of c.moreReqs) this.inflight.delete(id);
  }

  private fail(c: Call, err: Error): void {
    if (c.finished) return;
    this.done(c);
    c.reject(err);
  }

  private noQuorum(c: Call): NoQuorumError {
    const now = performance.now();
    const reachable: number[] = [];
    const running: number[] = [];
    for (let i = 0; i < this.peers; i++) {
      if (now - this.heard[i]! <= this.limits.timeoutMs) reachable.push(i);
      let up = false;
      try {
        up = this.cluster.isUp(i);
      } catch {
        /* closed */
      }
      if (up) running.push(i);
    }
    return new NoQuorumError(c.what, this.limits.timeoutMs, reachable, running, this.peers, c.spec.write ? 'unknown' : 'not-applied');
  }

  /** Fails every operation in flight with StoreClosedError and closes the ports. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.ticker !== null) clearInterval(this.ticker);
    this.ticker = null;
    for (const c of this.active.snapshot([])) this.fail(c, new StoreClosedError(c.what));
    for (const conn of this.conns) conn?.close();
    this.conns.fill(null);
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

// ------------------------------------------------------------------------------ operations

class GetOp implements OpSpec {
  readonly name = 'get';
  readonly type = Req.Get;
  readonly write = false;
  readonly leaderOnly: boolean;
  constructor(
    readonly key: string,
    readonly consistency: ConsistencyCode,
  ) {
    this.leaderOnly = consistency !== Consistency.Stale;
  }
  encode(w: Writer): void {
    w.u8(this.consistency).str(this.key);
  }
  decode(status: number, r: Reader): Value | undefined {
    if (status !== Res.Get) throw new Error(`unexpected reply ${status}`);
    return r.u8() === 0 ? undefined : r.value();
  }
}

class ScanOp implements OpSpec {
  readonly name = 'scan';
  readonly type = Req.Scan;
  readonly write = false;
  readonly leaderOnly: boolean;
  constructor(
    readonly key: string,
    readonly consistency: ConsistencyCode,
    readonly after: string | null,
    readonly pageSize: number,
  ) {
    this.leaderOnly = consistency !== Consistency.Stale;
  }
  encode(w: Writer): void {
    w.u8(this.consistency).str(this.key);
    if (this.after === null) w.u8(0);
    else w.u8(1).str(this.after);
    w.uint(this.pageSize);
  }
  decode(status: number, r: Reader): { pairs: Array<[string, Value]>; more: boolean } {
    if (status !== Res.Scan) throw new Error(`unexpected reply ${status}`);
    const more = r.u8() === 1;
    const pairs: Array<[string, Value]> = [];
    for (let n = r.uint(); n > 0; n--) {
      const k = r.bytes();
      pairs.push([Buffer.from(k.buffer, k.byteOffset, k.length).toString('utf8'), r.value()]);
    }
    return { pairs, more };
  }
}

class WriteOp implements OpSpec {
  readonly type = Req.Write;
  readonly write = true;
  readonly leaderOnly = true;
  readonly key: string;
  constructor(
    readonly name: string,
    private readonly client: KvClient,
    private readonly seq: number,
    private readonly req: WriteRequest,
  ) {
    this.key = req.key;
  }
  /** Encoded afresh at each attempt, with the client's latest ackedBelow. */
  encode(w: Writer): void {
    encodeWrite(w, this.client.id, this.seq, this.client.ackedBelow(), this.req);
  }
  decode(status: number, r: Reader): Result {
    if (status !== Res.Write) throw new Error(`unexpected reply ${status}`);
    return r.u8() as Result;
  }
}

/**
 * A client: its own session (a random id and a sequence number per write), so its writes are
 * applied exactly once. Methods may be called concurrently; each call is one operation,
 * linearizable with every other operation on the store.
 */
export class KvClient {
  /** This client's session id. */
  readonly id: number;
  private seq = 0;
  /** Seqs of writes issued and not yet answered (or given up on). */
  private readonly open = new Set<number>();
  /** The lowest seq that may still be open. */
  private low = 1;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly rpc: Rpc,
    private readonly limits: ClientLimits,
  ) {
    // 52 random bits: a safe integer, encoded as a varint.
    const b = randomBytes(8);
    this.id = (b.readUInt32BE(0) & 0xfffff) * 2 ** 32 + b.readUInt32BE(4) || 1;
  }

  /** Sets `key` to `value`. */
  put(key: string, value: Value): Promise<void> {
    try {
      this.checkKey('put', key);
      this.checkValue('put', key, value);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.write('put', { op: Op.Put, key, value }, noop);
  }

  /** Appends `value` to `key`'s value (a missing key counts as empty). Same type as the stored value. */
  append(key: string, value: Value): Promise<void> {
    try {
      this.checkKey('append', key);
      this.checkValue('append', key, value);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.write('append', { op: Op.Append, key, value }, noop);
  }

  /** Removes `key`; resolves whether it existed. */
  delete(key: string): Promise<boolean> {
    try {
      this.checkKey('delete', key);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.write('delete', { op: Op.Delete, key }, isTrue);
  }

  /**
   * Compare-and-set: sets `key` to `next` if its value equals `expected` (same type and bytes;
   * `undefined` expects the key to be absent). Resolves whether it did.
   */
  cas(key: string, expected: Value | undefined, next: Value): Promise<boolean> {
    try {
      this.checkKey('cas', key);
      if (expected !== undefined) this.checkValue('cas', key, expected, 'expected');
      this.checkValue('cas', key, next);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.write('cas', { op: Op.Cas, key, value: next, expected }, isTrue);
  }

  /** The value of `key` (a string or a Uint8Array, as it was put), or undefined. */
  get(key: string, options?: ReadOptions): Promise<Value | undefined> {
    let consistency: ConsistencyCode;
    try {
      this.checkKey('get', key);
      consistency = options === undefined ? Consistency.Linearizable : consistencyOf('get', key, options);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.rpc.run<Value | undefined>(new GetOp(key, consistency));
  }

  /**
   * Every [key, value] whose key starts with `prefix`, in byte order of the keys' UTF-8 (LMDB's
   * order). Fetched in pages; each page is read at the consistency asked for, so a scan that
   * runs while keys change sees each page as of a moment during the scan, not the whole range
   * at one instant.
   */
  async *scan(options: ScanOptions = {}): AsyncGenerator<[string, Value]> {
    const what = 'scan()';
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${what}: options must be an object like { prefix: 'user/' }`);
    const prefix = options.prefix ?? '';
    if (typeof prefix !== 'string') throw new InvalidArgumentError(`${what}: prefix must be a string, got ${typeof prefix}`);
    if (prefix !== '') this.checkKey('scan', prefix, 'prefix');
    const pageSize = options.pageSize ?? 256;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > SCAN_PAGE_LIMIT) {
      throw new InvalidArgumentError(`${what}: pageSize must be an integer from 1 to ${SCAN_PAGE_LIMIT}, got ${String(pageSize)}`);
    }
    const consistency = consistencyOf('scan', null, options);
    let after: string | null = null;
    for (;;) {
      const page: { pairs: Array<[string, Value]>; more: boolean } = await this.rpc.run(new ScanOp(prefix, consistency, after, pageSize));
      for (const p of page.pairs) yield p;
      if (!page.more || page.pairs.length === 0) return;
      after = page.pairs[page.pairs.length - 1]![0];
    }
  }

  /**
   * Runs a write under this client's session and resolves with `answer(result)`. Not an async
   * function, and the answer is mapped in the same reaction that takes the reply: two promise
   * reactions fewer per write than an async write() awaited and then mapped by a .then(). With
   * 64 clients, the main thread's work between a reply batch and the next request batch is on
   * every round of the log.
   */
  private write<T>(name: string, req: WriteRequest, answer: (r: Result) => T): Promise<T> {
    if (this.rpc.isClosed) return Promise.reject(new StoreClosedError(`${name}(${show(req.key)})`));
    if (this.open.size >= MAX_INFLIGHT_WRITES) {
      return new Promise<void>((r) => this.waiting.push(r)).then(() => this.write(name, req, answer));
    }
    const seq = ++this.seq;
    this.open.add(seq);
    return this.rpc.run<Result>(new WriteOp(name, this, seq, req)).then(
      (result) => {
        this.release(seq);
        return answer(checked(name, req.key, result));
      },
      (err: unknown) => {
        this.release(seq);
        throw err;
      },
    );
  }

  /** Answered, or given up on: either way this seq's result is no longer needed. */
  private release(seq: number): void {
    this.open.delete(seq);
    this.waiting.shift()?.();
  }

  /** @internal The lowest seq still waiting for an answer (results below it may be forgotten). */
  ackedBelow(): number {
    while (this.low <= this.seq && !this.open.has(this.low)) this.low++;
    return this.low;
  }

  private checkKey(op: string, key: unknown, name = 'key'): asserts key is string {
    if (typeof key === 'string' && key.length > 0 && key.length * 3 <= MAX_KEY_BYTES && isWellFormed(key)) return;
    const what = `${op}(${show(key)})`;
    if (typeof key !== 'string') throw new InvalidArgumentError(`${what}: the ${name} must be a string, got ${describe(key)}`);
    if (key.length === 0) throw new InvalidArgumentError(`${what}: the ${name} must not be empty`);
    if (!isWellFormed(key)) throw new InvalidArgumentError(`${what}: the ${name} holds a lone surrogate (not valid Unicode); it cannot be stored as UTF-8`);
    const n = Buffer.byteLength(key, 'utf8');
    if (n > MAX_KEY_BYTES) throw new SizeLimitError('key', n, MAX_KEY_BYTES, `${what}: the ${name} is ${n} bytes of UTF-8; the limit is ${MAX_KEY_BYTES}`);
  }

  private checkValue(op: string, key: string, value: unknown, name = 'value'): asserts value is Value {
    let n: number;
    const max = this.limits.maxValueBytes;
    if (typeof value === 'string') n = value.length * 3 > max ? Buffer.byteLength(value, 'utf8') : value.length;
    else if (value instanceof Uint8Array) n = value.length;
    else throw new InvalidArgumentError(`${op}(${show(key)}): the ${name} must be a string or a Uint8Array, got ${describe(value)}`);
    if (n > max) throw new SizeLimitError('value', n, max, `${op}(${show(key)}): the ${name} is ${n} bytes; the limit is maxValueBytes = ${max}`);
  }
}

function noop(): void {}

/** A write's result, or the error it stands for. */
function checked(name: string, key: string, result: Result): Result {
  switch (result) {
    case Result.Ok:
    case Result.True:
    case Result.False:
      return result;
    case Result.TypeMismatch:
      throw new TypeMismatchError(key);
    case Result.TooLarge:
      throw new SizeLimitError('value', MAX_STORED_VALUE_BYTES + 1, MAX_STORED_VALUE_BYTES, `${name}(${show(key)}): the value would grow past ${MAX_STORED_VALUE_BYTES} bytes, the largest the store keeps; nothing was written`);
    case Result.SessionExpired:
      throw new SessionExpiredError(`${name}(${show(key)})`);
    default:
      throw new Error(`${name}(${show(key)}): unexpected result ${String(result)} (a bug in raftwork)`);
  }
}

function isTrue(r: Result): boolean {
  return r === Result.True;
}

/** `key` null: the operation takes no key (scan). The error's label is built only on the error paths: a get calls this every time. */
function consistencyOf(op: string, key: string | null, options: ReadOptions): ConsistencyCode {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${label(op, key)}: options must be an object like { consistency: 'lease' }`);
  switch (options.consistency ?? 'linearizable') {
    case 'linearizable':
      return Consistency.Linearizable;
    case 'lease':
      return Consistency.Lease;
    case 'stale':
      return Consistency.Stale;
    default:
      throw new InvalidArgumentError(`${label(op, key)}: consistency must be 'linearizable', 'lease' or 'stale', got ${JSON.stringify(options.consistency)}`);
  }
}

function label(op: string, key: string | null): string {
  return `${op}(${key === null ? '' : show(key)})`;
}

function show(key: unknown): string {
  if (typeof key !== 'string') return describe(key);
  return JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}...` : key);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return `an object (${(v as object).constructor?.name ?? 'Object'})`;
  return `${typeof v}${typeof v === 'number' || typeof v === 'boolean' ? ` ${String(v)}` : ''}`;
}

function isWellFormed(s: string): boolean {
  const f = (s as { isWellFormed?: () => boolean }).isWellFormed;
  if (typeof f === 'function') return f.call(s);
  return Buffer.from(s, 'utf8').toString('utf8') === s;
}
