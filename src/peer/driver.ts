import type { RaftCore, RaftStatus } from '../core/raft.js';
import {
  MsgType,
  type Entry,
  type HardState,
  type LogIndex,
  type Message,
  type ProposeResult,
  type Ready,
  type Snapshot,
  type StepResult,
} from '../core/types.js';
import type { AuxWrites } from '../storage/log-store.js';
import { NotLeaderError } from './service.js';
import { SnapshotReceiver, SnapshotSender } from './snapshot-stream.js';

/** What the driver needs from durable storage (src/storage's LogStore has it). */
export interface DriverStore {
  /**
   * One atomic write, with the service's aux writes if any in the same transaction; resolves
   * once durable. Writes become durable, and resolve, in issue order.
   */
  write(batch: { hardState: HardState | null; snapshot: Snapshot | null; entries: readonly Entry[] }, aux?: AuxWrites): Promise<void>;
  /** Stores the service's snapshot and drops the log up to it, durably. */
  compact(snapshot: Snapshot): Promise<void>;
}

/** Where messages go: the transport endpoint. */
export interface Wire {
  send(msgs: readonly Message[]): void;
  flush(): void;
}

/** The state machine side: committed entries and snapshots, in order. */
export interface ApplySink {
  entries(committed: readonly Entry[]): void;
  snapshot(snapshot: Snapshot): void;
  /**
   * The state the sink has applied and not yet stored, to ride in the transaction of the log
   * write about to be issued (so storing it costs no commit and no fsync of its own); null when
   * there is none. `landed` gets that write's promise.
   */
  takeAux?(): PiggybackAux | null;
}

/** Aux writes that ride in a log write's transaction, and who to tell when that write lands. */
export interface PiggybackAux {
  readonly aux: AuxWrites;
  landed(write: Promise<void>): void;
}

/**
 * Optional stage timestamps for the profiler (src/profile/stage-log.ts implements it). Off (null)
 * by default, which costs one null check per Ready and per durable write, never one per entry.
 */
export interface StageProbe {
  ready(r: Ready): void;
  durable(r: Ready): void;
}

interface PendingRead {
  resolve(index: LogIndex): void;
  reject(err: Error): void;
}

export interface DriverOptions {
  readonly core: RaftCore;
  readonly store: DriverStore;
  readonly wire: Wire;
  readonly sink: ApplySink;
  /** Real milliseconds per core tick. */
  readonly tickMs: number;
  /** The snapshot the store holds at start, if any (so the leader can send it). */
  readonly snapshot: Snapshot | null;
  /** Storage failed: the peer cannot go on safely and must stop. */
  readonly onFatal: (err: unknown) => void;
  /** Real time and the one timer; tests pass a fake. Default: performance.now, setTimeout. */
  readonly clock?: DriverClock;
}

/** The driver's view of real time. `now` is monotonic milliseconds. */
export interface DriverClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: DriverClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * The timer is set this much past the deadline's millisecond: libuv counts whole milliseconds
 * and may fire up to one early, and an early timer costs a wakeup that finds nothing due.
 */
const TIMER_SLACK_MS = 1;

/**
 * The loop around a RaftCore inside a peer worker: ticks it as real time passes, steps inbound
 * messages, and drains its Ready batches: send requests at once, write to storage, and when the
 * write is durable report it and release the replies that promise it; apply committed entries.
 *
 * Time: logical time follows real time, with no fixed interval. The driver keeps when it
 * started and how many ticks it has accounted for; before every input (a message, a proposal, a
 * read, a snapshot, a durable write) and whenever its timer fires, it applies the ticks real
 * time has made due: floor((now - start) / tickMs) - ticks. One timer (setTimeout) is armed for
 * the core's next deadline (RaftCore.ticksUntilDue), so an idle follower wakes about once per
 * election timeout and an idle leader once per heartbeat, not once per tick. The timer is
 * re-armed when it fires, or when a flush finds the deadline moved (becoming leader; a heartbeat
 * pushing a follower's election deadline later), at most once per tick. A timer that fires
 * early finds nothing due and re-arms.
 *
 * Catch-up and leases. A leader applies every due tick, always before it answers anything: its
 * lease (RaftCore.leaseRead) counts ticks, and must never count fewer than real time has
 * passed. A setInterval could: it drops the ticks of a blocked event loop. A non-leader may
 * count fewer (which only makes it honour a leader's lease longer, and campaign later), but must
 * never count more than real time since it last heard from the leader, or it could grant a
 * vote while the leader still serves lease reads. A follower whose thread was blocked (a GC
 * pause, a descheduled thread on a busy machine) owes many ticks at once, and the heartbeats
 * that arrived meanwhile are still queued; applying the ticks first would start an election the
 * heartbeats would have prevented. So a non-leader's catch-up is bounded: it never applies the
 * tick that would start an election. It stops one tick short, drops the rest (an under-count:
 * safe), and leaves the election to `runDue`, a setImmediate, which runs after the input already
 * queued for this thread (libuv runs timers, then I/O such as MessagePort messages, then
 * immediates). If none of that input reset the election timer, `runDue` applies the deadline
 * tick (one of those dropped, so the count still never runs ahead of real time). Applying a
 * tick after a reset instead would be the over-count that breaks leases, which is why the
 * ticks past the deadline are dropped and never applied later. (A leader blocked for longer
 * than its check-quorum window may step down while catching up, before it reads the replies
 * queued meanwhile: that can cost an election, never safety; its followers, as long without a
 * heartbeat, are campaigning by then anyway.)
 *
 * Batching: every input only marks the driver dirty; one setImmediate later, everything that
 * arrived in that turn of the event loop (many proposals, many received batches) is drained as
 * one Ready: one storage write (one transaction, one fsync) and one message per follower.
 * Pipelining: the next Ready is written while the previous write is still being synced; lmdb
 * keeps taking messages meanwhile, since it syncs on its own thread.
 */
export class PeerDriver {
  readonly core: RaftCore;
  private readonly store: DriverStore;
  private readonly wire: Wire;
  private readonly sink: ApplySink;
  private readonly onFatal: (err: unknown) => void;
  private readonly tickMs: number;
  private readonly clock: DriverClock;
  private started = false;
  /** Real time at start(), and the ticks since then accounted for (applied or dropped). */
  private startMs = 0;
  private ticks = 0;
  /** The one timer, and the tick it is armed for (Infinity: none). */
  private timer: unknown = null;
  private armedAt = Number.POSITIVE_INFINITY;
  /** A non-leader's election tick is due, held back until the input already queued is stepped. */
  private electionDue = false;
  private dueScheduled = false;
  private scheduled = false;
  /** Inside flush(): a sink that calls back into flushNow() must not start a second drain. */
  private flushing = false;
  private stopped = false;
  /** Writes issued and not yet durable, and the latest of them (later Readies wait on it). */
  private pendingWrites = 0;
  private lastWrite: Promise<void> = Promise.resolve();
  private latestSnapshot: Snapshot | null;
  private readonly snapshotSender: SnapshotSender;
  private readonly snapshotReceiver: SnapshotReceiver;
  private readonly reads = new Map<number, PendingRead>();
  private nextReadCtx = 1;
  /** Committed entries waiting for the turn's storage transaction to close (see drain), in order. */
  private readonly held: (readonly Entry[])[] = [];
  /** The profiler's stage timestamps (PeerControl.startStages), or null: off. */
  stages: StageProbe | null = null;
  /** Invalid inbound messages, by reason (they are dropped; the core never sees them). */
  rejected = 0;
  lastRejection = '';
  /** Ticks applied to the core, ticks dropped by a non-leader's bounded catch-up, timers armed. */
  ticksApplied = 0;
  ticksDropped = 0;
  timersArmed = 0;

  constructor(opts: DriverOptions) {
    this.core = opts.core;
    this.store = opts.store;
    this.wire = opts.wire;
    this.sink = opts.sink;
    this.tickMs = opts.tickMs;
    this.onFatal = opts.onFatal;
    this.clock = opts.clock ?? realClock;
    this.latestSnapshot = opts.snapshot;
    const sendNow = (msgs: readonly Message[]): void => {
      this.wire.send(msgs);
      this.wire.flush();
    };
    const clock = this.clock;
    this.snapshotSender = new SnapshotSender(this.core.id, sendNow, () => clock.now());
    this.snapshotReceiver = new SnapshotReceiver(this.core.id, sendNow);
  }

  /** Starts logical time (tick 0 is now) and arms the timer for the core's first deadline. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.startMs = this.clock.now();
    this.ticks = 0;
    this.arm();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.armedAt = Number.POSITIVE_INFINITY;
    for (const r of this.reads.values()) r.reject(new Error('the peer stopped'));
    this.reads.clear();
  }

  /** Logical time: the ticks accounted for since start() (applied to the core or dropped). */
  get logicalTicks(): number {
    return this.ticks;
  }

  /** The tick the timer is armed for, or Infinity. */
  get armedTick(): number {
    return this.armedAt;
  }

  receive(input: Message): void {
    if (this.stopped) return;
    this.catchUp();
    let msg = input;
    if (msg.type === MsgType.SnapshotChunkAck) {
      this.snapshotSender.onAck(msg);
      return;
    }
    if (msg.type === MsgType.InstallSnapshot && (msg.offset !== 0 || msg.data.length !== msg.total)) {
      // A chunk of a streamed snapshot: the core sees it only once it is whole.
      if (msg.term < this.core.status().term) return;
      const whole = this.snapshotReceiver.onChunk(msg);
      if (!whole) return;
      msg = whole;
    }
    const r: StepResult = this.core.step(msg);
    if (!r.ok) {
      this.rejected++;
      this.lastRejection = r.reason === 'invalid-message' ? r.detail : r.reason;
      return;
    }
    this.schedule();
  }

  propose(command: Uint8Array): ProposeResult {
    this.catchUp();
    const r = this.core.propose(command);
    if (r.ok) this.schedule();
    return r;
  }

  proposeBatch(commands: readonly Uint8Array[]): ProposeResult {
    this.catchUp();
    const r = this.core.proposeBatch(commands);
    if (r.ok) this.schedule();
    return r;
  }

  /**
   * A read by leader lease (RaftCore.leaseRead). The ticks due are applied first: a lease is
   * counted in ticks, and a leader that counted fewer than real time has passed would trust a
   * lease that has run out.
   */
  leaseRead(): ProposeResult {
    this.catchUp();
    return this.core.leaseRead();
  }

  /** The core's status, as of now. */
  status(): RaftStatus {
    this.catchUp();
    return this.core.status();
  }

  /**
   * A linearizable read barrier (ReadIndex): resolves with the index the state machine must have
   * applied before serving the read; rejects with NotLeaderError when this peer does not lead or
   * loses leadership first. Reads asked for in one event-loop turn share one heartbeat round.
   */
  readIndex(): Promise<LogIndex> {
    this.catchUp();
    const ctx = this.nextReadCtx++;
    const r = this.core.readIndex(ctx);
    if (!r.ok) return Promise.reject(new NotLeaderError(r.reason === 'not-leader' ? r.leaderHint : -1));
    this.schedule();
    return new Promise((resolve, reject) => this.reads.set(ctx, { resolve, reject }));
  }

  /**
   * The service's snapshot of its state up to `index`: compacts the core's log and stores the
   * snapshot durably. Resolves once durable. An index at or below the current snapshot is a no-op.
   */
  async snapshot(index: LogIndex, data: Uint8Array): Promise<StepResult> {
    this.catchUp();
    const log = this.core.log;
    if (Number.isSafeInteger(index) && index <= log.snapshotIndex && index >= 0) return { ok: true };
    const term = log.term(index);
    const r = this.core.compact(index);
    if (!r.ok) return r;
    const snap: Snapshot = { index, term, data };
    this.latestSnapshot = snap;
    await this.store.compact(snap);
    return r;
  }

  /**
   * Drains the core's Ready now rather than at the end of this event-loop turn, so what an input
   * just asked for (a ReadIndex round, proposals) goes out before the caller's remaining work.
   * A no-op inside a drain, or when nothing is pending.
   */
  flushNow(): void {
    if (this.flushing || this.stopped || !this.core.hasReady()) return;
    this.flush();
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }

  // ------------------------------------------------------------------ time

  /** Whole ticks of real time since start(). */
  private realTicks(): number {
    return Math.floor((this.clock.now() - this.startMs) / this.tickMs);
  }

  /**
   * Applies the ticks real time has made due, one at a time (the role may change on the way).
   * A leader applies them all. A non-leader stops one tick short of its election: the rest are
   * dropped and the election is left to runDue (see the class comment for why that is safe).
   */
  private catchUp(): void {
    if (!this.started || this.stopped) return;
    const target = this.realTicks();
    if (target <= this.ticks) return;
    const core = this.core;
    while (this.ticks < target) {
      if (!core.isLeader() && core.ticksUntilDue() === 1) {
        this.ticksDropped += target - this.ticks;
        this.ticks = target;
        this.electionDue = true;
        if (!this.dueScheduled) {
          this.dueScheduled = true;
          setImmediate(this.runDue);
        }
        break;
      }
      core.tick();
      this.ticks++;
      this.ticksApplied++;
    }
    if (core.hasReady()) this.schedule();
  }

  /**
   * A non-leader's election timeout ran out (in catchUp), and the input queued for this thread
   * has been stepped since: if none of it reset the timer, the core is still one tick short of
   * its deadline, and that tick (one of those dropped) is applied now.
   */
  private readonly runDue = (): void => {
    this.dueScheduled = false;
    if (this.stopped) return;
    if (this.electionDue) {
      this.electionDue = false;
      const core = this.core;
      if (!core.isLeader() && core.ticksUntilDue() === 1 && this.ticksDropped > 0) {
        core.tick();
        this.ticksApplied++;
        this.ticksDropped--;
      }
    }
    this.catchUp();
    if (this.core.hasReady()) this.schedule();
    this.arm();
  };

  private readonly onTimer = (): void => {
    this.timer = null;
    this.armedAt = Number.POSITIVE_INFINITY;
    if (this.stopped) return;
    this.catchUp();
    if (this.snapshotSender.active > 0) {
      // The stream's stall detection runs on every tick while a stream is active.
      if (this.core.isLeader()) this.snapshotSender.tick();
      else this.snapshotSender.cancelAll();
    }
    this.arm();
  };

  /**
   * Arms the timer for the next deadline: the core's, or the next tick while a snapshot stream
   * is active. Re-arms whenever that tick differs from the armed one, later ones included: a
   * follower's deadline moves later with every heartbeat, and a timer left at the old deadline
   * would run catchUp for nothing. (The thread still wakes at the old deadline: Node's one
   * libuv timer per thread only ever moves earlier. No JavaScript timer avoids that.)
   * Deadlines are whole ticks, so under load this re-arms at most once per tick, not per
   * message. While runDue is pending, runDue arms.
   */
  private arm(): void {
    if (!this.started || this.stopped || this.dueScheduled) return;
    const until = this.snapshotSender.active > 0 ? 1 : this.core.ticksUntilDue();
    const at = this.ticks + until;
    if (at === this.armedAt) return;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    const ms = this.startMs + at * this.tickMs - this.clock.now();
    this.timer = this.clock.setTimeout(this.onTimer, Math.max(0, Math.ceil(ms)) + TIMER_SLACK_MS);
    this.armedAt = at;
    this.timersArmed++;
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.stopped || this.flushing) return;
    this.flushing = true;
    try {
      this.drain();
    } finally {
      this.flushing = false;
    }
  };

  private drain(): void {
    const core = this.core;
    while (core.hasReady()) {
      const r = core.ready();
      if (this.stages !== null) this.stages.ready(r);
      // Order within a Ready: the requests go out first (a follower's write is on the commit
      // path), then this peer's own write starts, and only then are committed entries applied.
      // The last step must follow the write being issued: an entry may be applied before its
      // local copy is durable, and whatever the service stores afterwards must land after it.
      if (r.messages.length > 0) {
        this.wire.send(this.withSnapshotData(r.messages));
        this.wire.flush();
      }
      if (r.snapshot) {
        // Before the write: the service's restore is a transaction of its own, and it must
        // land before the write that stores the snapshot and drops the log under it. Entries
        // held from earlier Readies go first: the sink sees everything in log order.
        this.applyHeld();
        this.latestSnapshot = r.snapshot;
        this.sink.snapshot(r.snapshot);
      }
      const after = r.messagesAfterPersist;
      const writes = r.hardState !== null || r.snapshot !== null || r.entries.length > 0;
      if (writes) {
        this.pendingWrites++;
        const extra = this.sink.takeAux?.() ?? null;
        const write = this.store.write({ hardState: r.hardState, snapshot: r.snapshot, entries: r.entries }, extra?.aux);
        extra?.landed(write);
        this.lastWrite = write;
        write.then(
          () => {
            this.pendingWrites--;
            if (this.stages !== null) this.stages.durable(r);
            this.durable(r.seq, after);
          },
          (err: unknown) => this.fail(err),
        );
      } else if (this.pendingWrites > 0) {
        // Nothing to write, but replies must not overtake earlier writes they depend on.
        this.lastWrite.then(() => this.durable(r.seq, after), () => undefined);
      } else {
        core.persisted(r.seq);
        if (after.length > 0) this.wire.send(after);
      }
      if (r.committed.length > 0) {
        // A store that gathers a turn's writes into one transaction (LmdbLogStore, with lmdb's
        // event-turn batching) starts committing only at an immediate it queued when the write
        // was issued; applying here would hold that commit back by the apply's own time (a
        // follower applying a round of 64 puts: 0.3 ms p50, measured). So the entries of a
        // Ready that wrote are applied by an immediate queued after the store's, and later ones
        // wait behind them to keep log order.
        if (writes || this.held.length > 0) this.hold(r.committed);
        else this.sink.entries(r.committed);
      }
      for (const rs of r.readStates) {
        const pending = this.reads.get(rs.ctx);
        if (!pending) continue;
        this.reads.delete(rs.ctx);
        if (rs.index < 0) pending.reject(new NotLeaderError(core.status().leaderId));
        else pending.resolve(rs.index);
      }
    }
    this.wire.flush();
    // Inputs can move the deadline earlier (becoming leader, a snapshot stream starting).
    this.arm();
  }

  private hold(committed: readonly Entry[]): void {
    // The first held batch schedules the apply; later ones join it.
    if (this.held.push(committed) === 1) setImmediate(this.applyHeld);
  }

  /** Applies the held entries now, oldest first (nothing once stopped: the log replays them). */
  private readonly applyHeld = (): void => {
    if (this.stopped) {
      this.held.length = 0;
      return;
    }
    // One at a time off the front: the sink may call back into the driver while applying.
    while (this.held.length > 0) this.sink.entries(this.held.shift()!);
  };

  private durable(seq: number, after: readonly Message[]): void {
    if (this.stopped) return;
    this.catchUp();
    this.core.persisted(seq);
    if (after.length > 0) {
      this.wire.send(after);
      this.wire.flush();
    }
    this.schedule();
  }

  /**
   * The core names the snapshot to send; the bytes are ours. A small one rides in the message;
   * a large one is streamed in chunks with flow control (snapshot-stream.ts).
   */
  private withSnapshotData(msgs: readonly Message[]): readonly Message[] {
    let out: Message[] | null = null;
    for (let k = 0; k < msgs.length; k++) {
      const m = msgs[k]!;
      if (m.type !== MsgType.InstallSnapshot) continue;
      const s = this.latestSnapshot;
      // The service may have snapshotted again between the core's asking and this flush (the
      // message waited in the core for the turn's Ready): the newer snapshot serves the
      // follower as well, and the core takes whatever index its reply reports.
      if (!s || s.index < m.lastIncludedIndex) {
        this.fail(new Error(`no snapshot at ${m.lastIncludedIndex} to send (have ${s?.index ?? 'none'})`));
        return [];
      }
      out ??= msgs.slice();
      if (this.snapshotSender.fitsOneMessage(s)) {
        out[k] = { ...m, lastIncludedIndex: s.index, lastIncludedTerm: s.term, data: s.data, total: s.data.length };
      } else {
        this.snapshotSender.start(m.to, m.term, s);
        out[k] = null as unknown as Message; // removed below
      }
    }
    return out ? out.filter((m) => m !== null) : msgs;
  }

  private fail(err: unknown): void {
    if (this.stopped) return;
    this.stop();
    this.onFatal(err);
  }
}
