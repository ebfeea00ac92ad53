/**
 * Where the time of a replication round goes, for a closed-loop workload (the key-value store
 * with N clients, each one call at a time): every write the leader issues waits for the round
 * before it, so rounds follow one another and their times add up. From the peers' stage
 * timestamps alone (StageLog), with no main-thread records: a store's clients do not know the log
 * index of their calls.
 *
 * A round runs from one leader write (a Ready with entries: Stage.Appended) to the next, and is
 * cut into three parts that sum to it exactly:
 *   1. the write issued on the leader -> durable on a quorum (the followers' AppendEntries hop and
 *      their writes, or the leader's own write, whichever completes the majority);
 *   2. durable on a quorum -> committed on the leader (the acks back, the leader's next drain);
 *   3. committed -> the leader's next write issued: applying, the replies, the clients' next calls
 *      reaching the leader, proposing them. This is the part the store, its clients and the
 *      thread hops to and from them own; parts 1 and 2 are the log's.
 * A round whose next write was issued before it committed (the workload had more in flight than
 * one round, or a CLOCK entry of the store went out on its own) does not follow that rule; such
 * rounds are counted apart and left out of the parts.
 */
import { RECORD_FIELDS, Stage, type StageDump } from './stage-log.js';
import { summarize, type Dist } from './stats.js';

export interface RoundInput {
  readonly peers: number;
  readonly leader: number;
  /** By peer; null for a peer that recorded nothing. */
  readonly dumps: readonly (StageDump | null)[];
}

export interface RoundPart {
  readonly part: string;
  /** Mean over the rounds, ms, and its share of the mean round. */
  readonly meanMs: number;
  readonly share: number;
  readonly dist: Dist;
}

export interface RoundRow {
  readonly stage: string;
  readonly dist: Dist;
}

export interface RoundReport {
  /** Rounds whose every milestone is known and that followed the round before. */
  readonly rounds: number;
  /** Rounds whose next write went out before they committed (left out of the parts). */
  readonly overlapped: number;
  /** Entries per round (mean), and the leader's writes per second of recording (every round starts one). */
  readonly entriesPerRound: number;
  readonly leaderWritesPerSec: number;
  /** The whole round, leader write to leader write. */
  readonly round: Dist;
  /** The three parts, in order; their means sum to the mean round. */
  readonly parts: readonly RoundPart[];
  /** The stages inside part 1, each on its own (follower stages pool every follower). */
  readonly detail: readonly RoundRow[];
}

/** Earliest time each index reached a stage, over [lo, lo + span). */
class ByIndex {
  readonly t: Float64Array;
  constructor(
    private readonly lo: number,
    span: number,
  ) {
    this.t = new Float64Array(span).fill(Number.NaN);
  }
  fill(t: number, from: number, to: number): void {
    const s = Math.max(from, this.lo) - this.lo;
    const e = Math.min(to - this.lo, this.t.length - 1);
    for (let i = s; i <= e; i++) {
      const v = this.t[i]!;
      if (Number.isNaN(v) || t < v) this.t[i] = t;
    }
  }
  at(index: number): number {
    const i = index - this.lo;
    return i >= 0 && i < this.t.length ? this.t[i]! : Number.NaN;
  }
}

interface Write {
  readonly t: number;
  readonly lo: number;
  readonly hi: number;
}

export function roundReport(input: RoundInput): RoundReport | null {
  const { peers, leader, dumps } = input;
  const ld = dumps[leader];
  if (!ld) return null;
  const writes: Write[] = [];
  const rec = (d: StageDump, k: number): [number, number, number, number, number] => {
    const at = k * RECORD_FIELDS;
    const r = d.records;
    return [r[at]!, r[at + 1]!, r[at + 2]!, r[at + 3]!, r[at + 4]!];
  };
  for (let k = 0; k < ld.count; k++) {
    const [kind, t, lo, hi] = rec(ld, k);
    if (kind === Stage.Appended) writes.push({ t, lo, hi });
  }
  if (writes.length < 2) return null;
  let lo = Infinity;
  let hi = -Infinity;
  for (const w of writes) {
    lo = Math.min(lo, w.lo);
    hi = Math.max(hi, w.hi);
  }
  const span = hi - lo + 1;
  const leaderDurable = new ByIndex(lo, span);
  const committed = new ByIndex(lo, span);
  const sent = new Map<number, ByIndex>();
  const received = new Map<number, ByIndex>();
  const durable = new Map<number, ByIndex>();
  for (let p = 0; p < peers; p++) {
    const d = dumps[p];
    if (!d) continue;
    if (p !== leader) {
      sent.set(p, new ByIndex(lo, span));
      received.set(p, new ByIndex(lo, span));
      durable.set(p, new ByIndex(lo, span));
    }
  }
  for (let k = 0; k < ld.count; k++) {
    const [kind, t, l, h, to] = rec(ld, k);
    if (kind === Stage.Durable) leaderDurable.fill(t, l, h);
    else if (kind === Stage.Committed) committed.fill(t, l, h);
    else if (kind === Stage.Sent) sent.get(to)?.fill(t, l, h);
  }
  for (const [p, recv] of received) {
    const d = dumps[p]!;
    const dur = durable.get(p)!;
    for (let k = 0; k < d.count; k++) {
      const [kind, t, l, h] = rec(d, k);
      if (kind === Stage.Appended) recv.fill(t, l, h);
      else if (kind === Stage.Durable) dur.fill(t, l, h);
    }
  }

  const quorum = Math.floor(peers / 2) + 1;
  const round: number[] = [];
  const toQuorum: number[] = [];
  const ack: number[] = [];
  const turnaround: number[] = [];
  const leaderWrite: number[] = [];
  const hop: number[] = [];
  const followerWrite: number[] = [];
  let overlapped = 0;
  let entries = 0;
  for (let w = 0; w + 1 < writes.length; w++) {
    const cur = writes[w]!;
    const next = writes[w + 1]!;
    // The round is done when its last entry is: a quorum holds a prefix, so the last entry last.
    const idx = cur.hi;
    const lDur = leaderDurable.at(idx);
    const com = committed.at(idx);
    if (Number.isNaN(lDur) || Number.isNaN(com)) continue;
    const durs = [lDur];
    for (const dur of durable.values()) {
      const v = dur.at(idx);
      if (!Number.isNaN(v)) durs.push(v);
    }
    if (durs.length < quorum) continue;
    durs.sort((a, b) => a - b);
    const q = durs[quorum - 1]!;
    if (next.t < com) {
      overlapped++;
      continue;
    }
    round.push(next.t - cur.t);
    toQuorum.push(q - cur.t);
    ack.push(com - q);
    turnaround.push(next.t - com);
    entries += cur.hi - cur.lo + 1;
    leaderWrite.push(lDur - cur.t);
    for (const [p, recv] of received) {
      const s = sent.get(p)!.at(idx);
      const r = recv.at(idx);
      const dv = durable.get(p)!.at(idx);
      if (!Number.isNaN(s) && !Number.isNaN(r)) hop.push(r - s);
      if (!Number.isNaN(r) && !Number.isNaN(dv)) followerWrite.push(dv - r);
    }
  }
  if (round.length === 0) return null;
  const whole = summarize(round);
  const part = (name: string, v: number[]): RoundPart => {
    const dist = summarize(v);
    return { part: name, meanMs: dist.mean, share: dist.mean / whole.mean, dist };
  };
  const row = (stage: string, v: number[]): RoundRow => ({ stage, dist: summarize(v) });
  const seconds = ld.elapsedMs / 1000;
  return {
    rounds: round.length,
    overlapped,
    entriesPerRound: entries / round.length,
    leaderWritesPerSec: seconds > 0 ? writes.length / seconds : 0,
    round: whole,
    parts: [
      part('write issued on the leader -> durable on a quorum', toQuorum),
      part('durable on a quorum -> committed on the leader (acks back, next drain)', ack),
      part("committed -> the leader's next write (apply, replies, the clients' next calls, propose)", turnaround),
    ],
    detail: [
      row("the leader's write (issued -> durable)", leaderWrite),
      row('AppendEntries: sent -> received by a follower (write issued there)', hop),
      row("a follower's write (received -> durable)", followerWrite),
    ],
  };
}
