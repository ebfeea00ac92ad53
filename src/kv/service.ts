/**
 * The KV store as a PeerService: what runs inside each peer worker (Cluster.start({ service })).
 *
 * It owns the peer's KvStateMachine, serves the store's clients over one MessagePort per client
 * connection (one per Store and peer), proposes their writes, and answers reads.
 *
 *   writes:  a request carries the log command as encoded by the client. The leader proposes
 *            every write that arrived in one event-loop turn with one proposeBatch (one log
 *            append, one fsync), remembers (index, term) -> (port, request id), and answers
 *            when that index applies: with the result if the entry there has its term, with
 *            Retry if another leader's entry took the index. Retries of a write already
 *            applied are answered from the session table without proposing again.
 *   reads:   linearizable reads that arrive in one turn share one ReadIndex round; each is
 *            served once the state machine has applied the index the round confirmed.
 *            Lease reads use the leader's lease instead of a round; stale reads are served at
 *            once from whatever this peer has applied.
 *   faults:  every request and reply goes through ClientFaults (the cluster's drop, duplicate,
 *            delay and reordering settings), so clients see the network the peers see.
 *   compaction: after an apply, if the log holds more than maxLogBytes, the state at the
 *            applied index becomes the snapshot and the log is compacted up to it.
 */
import { createHash } from 'node:crypto';
import type { MessagePort } from 'node:worker_threads';
import type { RaftStatus } from '../core/raft.js';
import type { Entry, Snapshot } from '../core/types.js';
import type { PeerService, ServiceContext } from '../peer/service.js';
import type { PiggybackAux } from '../peer/driver.js';
import { ClientFaults } from './faults.js';
import {
  Consistency,
  Op,
  Reader,
  Req,
  Res,
  Result,
  SCAN_PAGE_BYTES,
  SCAN_PAGE_LIMIT,
  Writer,
  decodeCommand,
  encodeClock,
  frame,
  isLinearizableRead,
  splitFrames,
  type ConsistencyCode,
} from './codec.js';
import { KvStateMachine } from './state-machine.js';

/** What openStore() passes to every peer's service (structured clone). */
export interface KvServiceOptions {
  readonly maxLogBytes: number;
  readonly sessionTimeoutMs: number;
  /** How often a leader with writes proposes a CLOCK entry. */
  readonly clockIntervalMs: number;
}

export const DEFAULT_SERVICE_OPTIONS: KvServiceOptions = {
  maxLogBytes: 64 * 1024 * 1024,
  sessionTimeoutMs: 60 * 60 * 1000,
  clockIntervalMs: 1000,
};

/** Requests to Cluster.callService(i, request) this service answers. */
export type KvServiceCall =
  | { readonly kind: 'stats' }
  /** Takes a snapshot now and compacts the log up to the applied index. */
  | { readonly kind: 'snapshot' }
  /** Stores the applied state now (it is otherwise stored up to 1 s after an apply); resolves once durable. */
  | { readonly kind: 'flush' }
  /** The applied index and a hash of the whole state there (equal on peers at one index). */
  | { readonly kind: 'digest' }
  /** Fault injection for tests: the worker dies as if from a bug (an uncaught error or an exit). */
  | { readonly kind: 'fail'; readonly how: 'exit' | 'throw' };

export interface KvServiceStats {
  readonly appliedIndex: number;
  readonly appliedTerm: number;
  /** The applied index this incarnation started from (from LMDB): what a restart did not replay. */
  readonly openedAt: number;
  readonly sessions: number;
  readonly keys: number;
  readonly logBytes: number;
  readonly clock: number;
  readonly snapshots: number;
  readonly skippedCommands: number;
}

interface Waiter {
  readonly conn: Conn;
  readonly reqId: number;
}

interface PendingWrite extends Waiter {
  readonly term: number;
}

interface ReadWaiter {
  readonly index: number;
  run(): void;
}

/** A get, or one page of a scan (key: the prefix), waiting to be served. */
class ReadReq {
  constructor(
    private readonly service: KvService,
    readonly conn: Conn,
    readonly reqId: number,
    readonly key: string,
    readonly scan: boolean,
    readonly after: string | null,
    readonly limit: number,
  ) {}

  run(): void {
    // A scan reads the table: first let every applied change land there.
    if (this.scan) void this.service.flushed().then(() => this.service.serveRead(this));
    else this.service.serveRead(this);
  }
}

/** One client connection: a port, and the replies of this turn packed into one buffer. */
class Conn {
  readonly out = new Writer(4096);
  private scheduled = false;
  closed = false;

  constructor(
    readonly port: MessagePort,
    private readonly faults: ClientFaults,
  ) {}

  /** The reply buffer to write a frame into directly, or null when faults apply (use reply()). */
  replyWriter(): Writer | null {
    if (this.closed || this.faults.active) return null;
    this.schedule();
    return this.out;
  }

  /** Queues one reply frame, through the network's faults. */
  reply(body: (w: Writer) => void): void {
    if (this.closed) return;
    if (!this.faults.active) {
      frame(this.out, body);
      this.schedule();
      return;
    }
    const tmp = new Writer(64);
    body(tmp);
    const bytes = tmp.finish();
    this.faults.deliver(() => {
      if (this.closed) return;
      frame(this.out, (w) => w.raw(bytes));
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }

  /** Posts the replies queued so far (the scheduled flush then finds nothing to do). */
  flushNow(): void {
    this.flush();
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.closed || this.out.pos === 0) return;
    const buf = this.out.finish();
    this.out.reset();
    try {
      this.port.postMessage(buf, [buf.buffer]);
    } catch {
      this.closed = true;
    }
  };
}

export class KvService implements PeerService {
  private ctx!: ServiceContext;
  private sm!: KvStateMachine;
  private opts: KvServiceOptions = DEFAULT_SERVICE_OPTIONS;
  private faults!: ClientFaults;
  private readonly conns = new Set<Conn>();

  private proposals: Uint8Array[] = [];
  private proposalWaiters: (Waiter | null)[] = [];
  private readonly pending = new Map<number, PendingWrite>();
  private linReads: ReadReq[] = [];
  /** The ReadIndex round receive() started for the linearizable reads of the batch it handles. */
  private earlyRound: Promise<number> | null = null;
  private batchStatus: RaftStatus | null = null;
  private readWaiters: ReadWaiter[] = [];
  private turnScheduled = false;
  private lastClock = 0;
  private compacting = false;
  private snapshots = 0;
  private openedAt = 0;
  private readErrors = 0;
  /** Bytes of log since the last compaction, as far as this service knows (-1: not yet asked). */
  private logEstimate = -1;
  private timer: ReturnType<typeof setInterval> | null = null;
  private closed = false;

  async open(ctx: ServiceContext): Promise<{ appliedIndex: number }> {
    this.ctx = ctx;
    this.opts = { ...DEFAULT_SERVICE_OPTIONS, ...((ctx.options ?? {}) as Partial<KvServiceOptions>) };
    this.faults = new ClientFaults(ctx.faults);
    this.sm = new KvStateMachine(ctx.store, (err) => this.fatal(err));
    this.timer = setInterval(() => this.housekeeping(), 50);
    this.openedAt = this.sm.applied;
    return { appliedIndex: this.sm.applied };
  }

  // ------------------------------------------------------------------------------ apply side

  apply(entries: readonly Entry[]): void {
    const waiting = this.pending.size > 0;
    // The replies leave as soon as the results are known, before the puts' data is applied
    // (KvStateMachine.apply): the clients' next calls are made while this peer finishes applying.
    this.sm.apply(entries, waiting ? this.answerWrite : null, waiting ? this.repliesDecided : null);
    if (waiting && this.pending.size > 0) {
      // Entries that carried no write of ours in this term (a no-op, a clock, another leader's
      // entry, one that failed to decode) leave their waiters here: the client retries.
      for (const e of entries) {
        const w = this.pending.get(e.index);
        if (w === undefined) continue;
        this.pending.delete(e.index);
        retry(w);
      }
    }
    this.runReadWaiters();
    this.maybeCompact(entries);
    this.flushReplies();
  }

  private readonly repliesDecided = (): void => this.flushReplies();

  /** The state machine's observer: answers the write applied at `index`, if this peer proposed it then. */
  private readonly answerWrite = (index: number, term: number, result: Result): void => {
    const w = this.pending.get(index);
    if (w === undefined || w.term !== term) return; // another term's entry took the index: retried above
    this.pending.delete(index);
    const out = w.conn.replyWriter();
    if (out === null) {
      w.conn.reply((o) => o.u8(Res.Write).uint(w.reqId).u8(result));
      return;
    }
    const at = out.reserveLength();
    out.u8(Res.Write).uint(w.reqId).u8(result);
    out.patchLength(at);
  };

  /** The applied state not yet stored rides in the peer's next log write (see KvStateMachine.takeAux). */
  takeAux(): PiggybackAux | null {
    return this.sm.takeAux();
  }

  restore(snapshot: Snapshot): void {
    this.sm.restore(snapshot);
    this.logEstimate = -1;
    // Writes we proposed at or below the snapshot will never be applied here one by one: the
    // client retries, and the restored session table answers if they were applied.
    for (const [index, w] of this.pending) {
      if (index <= snapshot.index) {
        this.pending.delete(index);
        retry(w);
      }
    }
    this.runReadWaiters();
  }

  private runReadWaiters(): void {
    if (this.readWaiters.length === 0) return;
    const applied = this.sm.applied;
    const keep: ReadWaiter[] = [];
    const ready: ReadWaiter[] = [];
    for (const w of this.readWaiters) (w.index <= applied ? ready : keep).push(w);
    this.readWaiters = keep;
    for (const w of ready) w.run();
  }

  private waitApplied(index: number, w: { run(): void }): void {
    if (this.sm.applied >= index) w.run();
    else this.readWaiters.push({ index, run: () => w.run() });
  }

  /**
   * Compacts when the log passes maxLogBytes. ctx.logBytes() walks the log, so it is asked only
   * when the bytes applied since the last compaction (counted here, as the core counts them:
   * data + 24 per entry) say the limit may have been passed.
   */
  private maybeCompact(entries: readonly Entry[]): void {
    if (this.logEstimate < 0) this.logEstimate = this.ctx.logBytes();
    else for (const e of entries) this.logEstimate += e.data.length + 24;
    if (this.compacting || this.closed || this.logEstimate <= this.opts.maxLogBytes) return;
    this.logEstimate = this.ctx.logBytes();
    if (this.logEstimate <= this.opts.maxLogBytes) return;
    this.compacting = true;
    // Not from inside the driver's flush: on the next turn, at whatever index is applied then.
    setImmediate(() => void this.compactNow().finally(() => (this.compacting = false)));
  }

  private async compactNow(): Promise<void> {
    if (this.closed) return;
    const index = this.sm.applied;
    const data = this.sm.snapshotData();
    try {
      const r = await this.ctx.snapshot(index, data);
      if (r.ok) {
        this.snapshots++;
        this.logEstimate = this.ctx.logBytes();
      }
      else console.error(`raftwork kv peer ${this.ctx.id}: snapshot at ${index} refused: ${r.reason}`);
    } catch (err) {
      if (!this.closed) console.error(`raftwork kv peer ${this.ctx.id}: snapshot at ${index} failed:`, err);
    }
  }

  // ------------------------------------------------------------------------------ clients

  connect(port: MessagePort): void {
    const conn = new Conn(port, this.faults);
    this.conns.add(conn);
    port.on('message', (data: unknown) => {
      try {
        this.receive(conn, data);
      } catch (err) {
        console.error(`raftwork kv peer ${this.ctx.id}: a client batch failed:`, err);
      }
    });
    port.on('close', () => {
      conn.closed = true;
      this.conns.delete(conn);
    });
  }

  private receive(conn: Conn, data: unknown): void {
    if (this.closed || !(data instanceof Uint8Array)) return;
    this.faults.refresh();
    let frames: Uint8Array[];
    try {
      frames = splitFrames(data);
    } catch {
      return; // a malformed batch: nothing in it can be answered
    }
    // One status for the whole batch (it cannot change while the batch is handled).
    const st = (this.batchStatus = this.ctx.status());
    // A batch with linearizable reads starts their ReadIndex round before anything in it is
    // decoded, so the heartbeats travel while the leader decodes. A round that begins after the
    // reads arrived confirms them (and every read queued before it).
    if (st.role === 'leader' && this.earlyRound === null && frames.some(isLinearizableRead)) {
      this.earlyRound = this.ctx.readIndex();
      this.ctx.flush();
    }
    try {
      for (const f of frames) this.faults.deliver(() => this.handle(conn, f));
    } finally {
      this.batchStatus = null;
    }
    // Propose this batch's writes and start its read round now rather than a turn later.
    if (this.turnScheduled) this.endOfTurn();
    if (this.earlyRound !== null) {
      // None of the batch's reads joined it (the network faults held them back, or a frame
      // was malformed): those held back take a later round.
      this.earlyRound.catch(() => undefined);
      this.earlyRound = null;
    }
    this.flushReplies();
  }

  private status(): RaftStatus {
    return this.batchStatus ?? this.ctx.status();
  }

  /** Posts every connection's queued replies now. */
  private flushReplies(): void {
    for (const c of this.conns) c.flushNow();
  }

  private handle(conn: Conn, f: Uint8Array): void {
    if (this.closed) return;
    let reqId = 0;
    try {
      const r = new Reader(f);
      const type = r.u8();
      reqId = r.uint();
      switch (type) {
        case Req.Write:
          this.handleWrite(conn, reqId, r.rest());
          return;
        case Req.Get: {
          const consistency = r.u8() as ConsistencyCode;
          this.read(new ReadReq(this, conn, reqId, r.str(), false, null, 0), consistency);
          return;
        }
        case Req.Scan: {
          const consistency = r.u8() as ConsistencyCode;
          const prefix = r.str();
          const after = r.u8() === 1 ? r.str() : null;
          const limit = Math.max(1, Math.min(SCAN_PAGE_LIMIT, r.uint()));
          this.read(new ReadReq(this, conn, reqId, prefix, true, after, limit), consistency);
          return;
        }
        default:
          conn.reply((w) => w.u8(Res.Error).uint(reqId).str(`unknown request type ${type}`));
      }
    } catch (err) {
      conn.reply((w) => w.u8(Res.Error).uint(reqId).str(`malformed request: ${(err as Error).message}`));
    }
  }

  private handleWrite(conn: Conn, reqId: number, cmd: Uint8Array): void {
    const c = decodeCommand(cmd);
    if (c.op === Op.Clock) throw new Error('clients cannot propose clock entries');
    // A retry of a write already applied here: answer from the session table.
    const s = this.sm.sessions.get(c.clientId);
    if (s !== undefined) {
      const known = c.seq < s.ackedBelow ? Result.Stale : s.results.get(c.seq);
      if (known !== undefined) {
        conn.reply((w) => w.u8(Res.Write).uint(reqId).u8(known));
        return;
      }
    }
    const st = this.status();
    if (st.role !== 'leader') {
      notLeader(conn, reqId, st.leaderId);
      return;
    }
    this.proposals.push(cmd); // a view of the client's batch until endOfTurn packs the turn's writes
    this.proposalWaiters.push({ conn, reqId });
    this.scheduleTurn();
  }

  /** Serves a read at the consistency asked for. */
  private read(rd: ReadReq, consistency: ConsistencyCode): void {
    switch (consistency) {
      case Consistency.Stale:
        rd.run();
        return;
      case Consistency.Lease: {
        const r = this.ctx.leaseRead();
        if (r.ok) {
          this.waitApplied(r.index, rd);
          return;
        }
        // No valid lease (a new leader, or one that has not heard from a majority lately):
        // a leader falls back to a ReadIndex round; anyone else points at the leader.
        if (this.status().role !== 'leader') {
          notLeader(rd.conn, rd.reqId, r.reason === 'not-leader' ? (r.leaderHint === this.ctx.id ? -1 : r.leaderHint) : -1);
          return;
        }
        this.linReads.push(rd);
        this.scheduleTurn();
        return;
      }
      case Consistency.Linearizable: {
        const st = this.status();
        if (st.role !== 'leader') {
          notLeader(rd.conn, rd.reqId, st.leaderId);
          return;
        }
        this.linReads.push(rd);
        this.scheduleTurn();
        return;
      }
      default:
        rd.conn.reply((w) => w.u8(Res.Error).uint(rd.reqId).str(`unknown consistency ${String(consistency)}`));
    }
  }

  /** @internal ReadReq: serves a get or a scan page from the state machine. */
  serveRead(rd: ReadReq): void {
    if (this.closed) return;
    // A read that fails here (storage closed under a crash in progress) gets no answer: the
    // client retries at another peer. Answering with an error would fail the operation.
    try {
      if (!rd.scan) {
        const v = this.sm.read(rd.key);
        const w = rd.conn.replyWriter();
        if (w !== null) {
          // The common case, no faults: write the reply in place.
          const at = w.reserveLength();
          w.u8(Res.Get).uint(rd.reqId);
          if (v === undefined) w.u8(0);
          else w.u8(1).bytes(v);
          w.patchLength(at);
          return;
        }
        rd.conn.reply((out) => {
          out.u8(Res.Get).uint(rd.reqId);
          if (v === undefined) out.u8(0);
          else out.u8(1).bytes(v);
        });
        return;
      }
      const page = this.sm.scanTable(rd.key, rd.after, rd.limit, SCAN_PAGE_BYTES);
      rd.conn.reply((w) => {
        w.u8(Res.Scan).uint(rd.reqId).u8(page.more ? 1 : 0).uint(page.pairs.length);
        for (const [k, v] of page.pairs) w.bytes(k).bytes(v);
      });
    } catch (err) {
      if (this.readErrors++ === 0 && !/closed/.test((err as Error).message)) console.error(`raftwork kv peer ${this.ctx.id}: a read failed (not answered):`, (err as Error).message);
    }
  }

  /** @internal */
  flushed(): Promise<void> {
    return this.sm.whenFlushed();
  }

  private scheduleTurn(): void {
    if (this.turnScheduled) return;
    this.turnScheduled = true;
    setImmediate(this.endOfTurn);
  }

  /** Proposes this turn's writes as one batch and starts one ReadIndex round for its reads. */
  private readonly endOfTurn = (): void => {
    if (!this.turnScheduled) return;
    this.turnScheduled = false;
    if (this.closed) return;
    if (this.proposals.length > 0) {
      const proposals = packed(this.proposals);
      const waiters = this.proposalWaiters;
      this.proposals = [];
      this.proposalWaiters = [];
      const now = Date.now();
      if (now - this.lastClock >= this.opts.clockIntervalMs) {
        this.lastClock = now;
        // A session's last activity is stamped with the clock of the latest CLOCK entry, which
        // lags real time by up to one interval: expire after the timeout plus that interval.
        proposals.unshift(encodeClock(now, this.opts.sessionTimeoutMs + this.opts.clockIntervalMs));
        waiters.unshift(null);
      }
      const r = this.ctx.proposeBatch(proposals);
      if (r.ok) {
        for (let k = 0; k < waiters.length; k++) {
          const w = waiters[k];
          if (w) this.pending.set(r.index + k, { conn: w.conn, reqId: w.reqId, term: r.term });
        }
        // The appends leave and the write starts now, not at the driver's immediate a loop
        // iteration later.
        this.ctx.flush();
      } else {
        const hint = r.reason === 'not-leader' ? r.leaderHint : -1;
        for (const w of waiters) if (w) notLeader(w.conn, w.reqId, hint);
      }
    }
    if (this.linReads.length > 0) {
      const reads = this.linReads;
      this.linReads = [];
      const round = this.earlyRound ?? this.ctx.readIndex();
      this.earlyRound = null;
      round.then(
        (index) =>
          this.waitApplied(index, {
            run: () => {
              for (const rd of reads) rd.run();
              this.flushReplies();
            },
          }),
        (err: unknown) => {
          const hint = typeof (err as { leaderHint?: unknown }).leaderHint === 'number' ? (err as { leaderHint: number }).leaderHint : -1;
          for (const rd of reads) notLeader(rd.conn, rd.reqId, hint === this.ctx.id ? -1 : hint);
        },
      );
    }
  };

  /** Every 50 ms: writes proposed in a term this peer no longer leads will never be answered here. */
  private housekeeping(): void {
    if (this.pending.size === 0) return;
    const st = this.ctx.status();
    for (const [index, w] of this.pending) {
      if (st.role !== 'leader' || st.term !== w.term) {
        this.pending.delete(index);
        retry(w);
      }
    }
  }

  // ------------------------------------------------------------------------------ control

  async call(request: unknown): Promise<unknown> {
    const req = request as KvServiceCall;
    switch (req?.kind) {
      case 'stats':
        return {
          appliedIndex: this.sm.applied,
          appliedTerm: this.sm.appliedTerm,
          openedAt: this.openedAt,
          sessions: this.sm.sessions.size,
          keys: this.sm.keyCount(),
          logBytes: this.ctx.logBytes(),
          clock: this.sm.clock,
          snapshots: this.snapshots,
          skippedCommands: this.sm.skipped,
        } satisfies KvServiceStats;
      case 'snapshot':
        await this.compactNow();
        return null;
      case 'flush':
        await this.sm.whenFlushed();
        return null;
      case 'digest':
        return { appliedIndex: this.sm.applied, digest: createHash('sha256').update(this.sm.snapshotData()).digest('hex') };
      case 'fail':
        // A little later, so this call's reply gets out first.
        setTimeout(() => {
          if (req.how === 'exit') process.exit(3);
          throw new Error('injected failure (kv service call { kind: "fail" })');
        }, 20);
        return null;
      default:
        throw new Error(`unknown kv service call ${JSON.stringify(request)}`);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.faults?.close();
    for (const c of this.conns) {
      c.closed = true;
      c.port.close();
    }
    this.conns.clear();
    await this.sm?.whenFlushed();
    this.sm?.stop();
  }

  private fatal(err: unknown): void {
    if (this.closed) return;
    console.error(`raftwork kv peer ${this.ctx.id}: stopping: the applied state could not be stored:`, err);
    process.exit(70);
  }
}

function notLeader(conn: Conn, reqId: number, hint: number): void {
  conn.reply((w) => w.u8(Res.NotLeader).uint(reqId).uint(hint + 1));
}

/**
 * The commands copied into one buffer, as views of it. The log keeps them until compaction:
 * views of the clients' batches would keep those whole, and a copy each would cost every
 * command an ArrayBuffer of its own (V8 tracks each, at every scavenge, until it is freed).
 */
function packed(cmds: Uint8Array[]): Uint8Array[] {
  let total = 0;
  for (let k = 0; k < cmds.length; k++) total += cmds[k]!.length;
  const slab = new Uint8Array(total);
  let at = 0;
  for (let k = 0; k < cmds.length; k++) {
    const c = cmds[k]!;
    slab.set(c, at);
    cmds[k] = slab.subarray(at, at + c.length);
    at += c.length;
  }
  return cmds;
}

function retry(w: Waiter): void {
  w.conn.reply((out) => out.u8(Res.Retry).uint(w.reqId));
}

export function createService(): PeerService {
  return new KvService();
}
