/**
 * High-resolution timestamps of the replication stages, taken inside a peer worker while the
 * profiler runs (PeerDriver.stages, PeerControl.startStages/stopStages).
 *
 * Cost model: the driver checks `stages !== null` once per Ready and once per durable write;
 * with stages off that is all. With stages on, each Ready costs one performance.now() and a few
 * records (one per entry range: appended, committed, and one per AppendEntries that carries
 * entries); never one per entry. dump() reports the measured cost of one record.
 *
 * Times are milliseconds on the main thread's clock (performance.now() of the thread that gave
 * `epochMs` = its performance.timeOrigin): every worker shifts its own clock by the difference of
 * the time origins, so timestamps of different peers compare directly.
 */
import { MsgType, type Ready } from '../core/types.js';
import type { GcLog } from './gc-pauses.js';

export const Stage = {
  /** The leader worker took a proposal (propose / proposeBatch call arrived). */
  Received: 1,
  /** The entries went into a Ready: their write was issued (leader: appended; follower: received). */
  Appended: 2,
  /** An AppendEntries carrying the entries was handed to the transport (peer = destination). */
  Sent: 3,
  /** The write holding the entries is durable. */
  Durable: 4,
  /** The entries were committed and handed to the state machine (the apply stream). */
  Committed: 5,
} as const;
export type Stage = (typeof Stage)[keyof typeof Stage];

/** Doubles per record: kind, time (ms), first index, last index, peer (-1 if none). */
export const RECORD_FIELDS = 5;

/** What a worker hands back: its records and what they cost. */
export interface StageDump {
  readonly peer: number;
  /** `count` records of RECORD_FIELDS doubles. */
  readonly records: Float64Array;
  readonly count: number;
  /** Measured cost of one record (a timestamp and five stores), in nanoseconds. */
  readonly nsPerRecord: number;
  /** Readies drained while recording (each cost one performance.now()). */
  readonly readies: number;
  /** How long recording was on, in ms. */
  readonly elapsedMs: number;
  /** The worker's garbage collections while recording, on the shared clock (null: not recorded). */
  readonly gc: GcLog | null;
}

export class StageLog {
  private buf: Float64Array;
  private n = 0;
  private readies = 0;
  private readonly shift: number;
  private readonly startedAt: number;

  constructor(
    private readonly peer: number,
    epochMs: number,
    capacity = 1 << 15,
  ) {
    this.shift = performance.timeOrigin - epochMs;
    this.buf = new Float64Array(capacity * RECORD_FIELDS);
    this.startedAt = this.now();
  }

  /** Now, on the shared clock. */
  now(): number {
    return performance.now() + this.shift;
  }

  record(kind: Stage, t: number, lo: number, hi: number, peer: number): void {
    let at = this.n * RECORD_FIELDS;
    if (at + RECORD_FIELDS > this.buf.length) {
      const bigger = new Float64Array(this.buf.length * 2);
      bigger.set(this.buf);
      this.buf = bigger;
    }
    const b = this.buf;
    b[at++] = kind;
    b[at++] = t;
    b[at++] = lo;
    b[at++] = hi;
    b[at] = peer;
    this.n++;
  }

  /** A proposal call took entries lo..hi (leader). */
  received(lo: number, hi: number): void {
    this.record(Stage.Received, this.now(), lo, hi, -1);
  }

  /** One Ready drained by the driver: its entries, the AppendEntries it sends, what it commits. */
  ready(r: Ready): void {
    this.readies++;
    const entries = r.entries;
    const msgs = r.messages;
    const committed = r.committed;
    const t = this.now();
    if (entries.length > 0) this.record(Stage.Appended, t, entries[0]!.index, entries[entries.length - 1]!.index, -1);
    for (let k = 0; k < msgs.length; k++) {
      const m = msgs[k]!;
      if (m.type !== MsgType.AppendEntries || m.entries.length === 0) continue;
      this.record(Stage.Sent, t, m.entries[0]!.index, m.entries[m.entries.length - 1]!.index, m.to);
    }
    if (committed.length > 0) this.record(Stage.Committed, t, committed[0]!.index, committed[committed.length - 1]!.index, -1);
  }

  /** The write of Ready `r` is durable. */
  durable(r: Ready): void {
    const entries = r.entries;
    if (entries.length > 0) this.record(Stage.Durable, this.now(), entries[0]!.index, entries[entries.length - 1]!.index, -1);
  }

  dump(): StageDump {
    return {
      peer: this.peer,
      records: this.buf.slice(0, this.n * RECORD_FIELDS),
      count: this.n,
      nsPerRecord: StageLog.calibrate(),
      readies: this.readies,
      elapsedMs: this.now() - this.startedAt,
      gc: null,
    };
  }

  /**
   * Nanoseconds per record, measured on this thread now: the fastest of 9 runs of 5,000 (the
   * peer keeps working meanwhile; the fastest run is the one least interrupted by it).
   */
  static calibrate(): number {
    let best = Infinity;
    const log = new StageLog(-1, performance.timeOrigin, 5_000);
    for (let r = 0; r < 9; r++) {
      log.n = 0;
      const t0 = performance.now();
      for (let i = 0; i < 5_000; i++) log.record(Stage.Appended, log.now(), i, i, -1);
      best = Math.min(best, ((performance.now() - t0) * 1e6) / 5_000);
    }
    return best;
  }
}
