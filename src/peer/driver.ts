import type { RaftCore } from '../core/raft.js';
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
import { NotLeaderError } from './service.js';
import { SnapshotReceiver, SnapshotSender } from './snapshot-stream.js';

/** What the driver needs from durable storage (src/storage's LogStore has it). */
export interface DriverStore {
  /** One atomic write; resolves once durable. Writes become durable, and resolve, in issue order. */
  write(batch: { hardState: HardState | null; snapshot: Snapshot | null; entries: readonly Entry[] }): Promise<void>;
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
}

/**
 * The loop around a RaftCore inside a peer worker: ticks it on a real timer, steps inbound
 * messages, and drains its Ready batches: send requests at once, write to storage, and when the
 * write is durable report it and release the replies that promise it; apply committed entries.
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
  private timer: ReturnType<typeof setInterval> | null = null;
  private scheduled = false;
  private stopped = false;
  /** Writes issued and not yet durable, and the latest of them (later Readies wait on it). */
  private pendingWrites = 0;
  private lastWrite: Promise<void> = Promise.resolve();
  private latestSnapshot: Snapshot | null;
  private readonly snapshotSender: SnapshotSender;
  private readonly snapshotReceiver: SnapshotReceiver;
  private readonly reads = new Map<number, PendingRead>();
  private nextReadCtx = 1;
  /** The profiler's stage timestamps (PeerControl.startStages), or null: off. */
  stages: StageProbe | null = null;
  /** Invalid inbound messages, by reason (they are dropped; the core never sees them). */
  rejected = 0;
  lastRejection = '';

  constructor(opts: DriverOptions) {
    this.core = opts.core;
    this.store = opts.store;
    this.wire = opts.wire;
    this.sink = opts.sink;
    this.tickMs = opts.tickMs;
    this.onFatal = opts.onFatal;
    this.latestSnapshot = opts.snapshot;
    const sendNow = (msgs: readonly Message[]): void => {
      this.wire.send(msgs);
      this.wire.flush();
    };
    this.snapshotSender = new SnapshotSender(this.core.id, sendNow, () => performance.now());
    this.snapshotReceiver = new SnapshotReceiver(this.core.id, sendNow);
  }

  start(): void {
    this.timer = setInterval(() => {
      this.core.tick();
      if (this.snapshotSender.active > 0) {
        if (this.core.isLeader()) this.snapshotSender.tick();
        else this.snapshotSender.cancelAll();
      }
      this.schedule();
    }, this.tickMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const r of this.reads.values()) r.reject(new Error('the peer stopped'));
    this.reads.clear();
  }

  receive(input: Message): void {
    if (this.stopped) return;
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
    const r = this.core.propose(command);
    if (r.ok) this.schedule();
    return r;
  }

  proposeBatch(commands: readonly Uint8Array[]): ProposeResult {
    const r = this.core.proposeBatch(commands);
    if (r.ok) this.schedule();
    return r;
  }

  /**
   * A linearizable read barrier (ReadIndex): resolves with the index the state machine must have
   * applied before serving the read; rejects with NotLeaderError when this peer does not lead or
   * loses leadership first. Reads asked for in one event-loop turn share one heartbeat round.
   */
  readIndex(): Promise<LogIndex> {
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

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.stopped) return;
    const core = this.core;
    while (core.hasReady()) {
      const r = core.ready();
      if (this.stages !== null) this.stages.ready(r);
      if (r.messages.length > 0) this.wire.send(this.withSnapshotData(r.messages));
      if (r.snapshot) {
        this.latestSnapshot = r.snapshot;
        this.sink.snapshot(r.snapshot);
      }
      if (r.committed.length > 0) this.sink.entries(r.committed);
      for (const rs of r.readStates) {
        const pending = this.reads.get(rs.ctx);
        if (!pending) continue;
        this.reads.delete(rs.ctx);
        if (rs.index < 0) pending.reject(new NotLeaderError(core.status().leaderId));
        else pending.resolve(rs.index);
      }
      const after = r.messagesAfterPersist;
      if (r.hardState !== null || r.snapshot !== null || r.entries.length > 0) {
        this.pendingWrites++;
        const write = this.store.write({ hardState: r.hardState, snapshot: r.snapshot, entries: r.entries });
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
    }
    this.wire.flush();
  };

  private durable(seq: number, after: readonly Message[]): void {
    if (this.stopped) return;
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
      if (!s || s.index !== m.lastIncludedIndex) {
        this.fail(new Error(`no snapshot at ${m.lastIncludedIndex} to send (have ${s?.index ?? 'none'})`));
        return [];
      }
      out ??= msgs.slice();
      if (this.snapshotSender.fitsOneMessage(s)) {
        out[k] = { ...m, data: s.data, total: s.data.length };
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
