/**
 * The life of each command, from the stage timestamps of every peer (StageLog) and of the main
 * thread (proposed, applied): per-index milestones, then per-stage distributions.
 */
import { RECORD_FIELDS, Stage, type StageDump } from './stage-log.js';
import { summarize, type Dist } from './stats.js';

export interface StageInput {
  readonly peers: number;
  readonly leader: number;
  /** By peer; null for a peer that recorded nothing. */
  readonly dumps: readonly (StageDump | null)[];
  /** Main thread: [t, firstIndex, count] per proposal call. */
  readonly proposals: readonly (readonly [number, number, number])[];
  /** Main thread: [t, lo, hi] per apply batch of the leader. */
  readonly applied: readonly (readonly [number, number, number])[];
}

export interface StageRow {
  readonly stage: string;
  readonly dist: Dist;
}

export interface StageReport {
  /** Commands with every milestone known. */
  readonly commands: number;
  /** Each stage on its own (ms). Follower stages pool every follower's samples. */
  readonly stages: readonly StageRow[];
  /** Each milestone as time since the command was proposed (ms). */
  readonly milestones: readonly StageRow[];
  /** Share of commands whose quorum became durable only when the leader's own write did. */
  readonly leaderDurableLastPct: number;
}

const ORDER_NOTE = 'proposed -> taken by the leader worker -> appended (write issued) -> sent / durable -> durable on a quorum -> committed -> applied';
export { ORDER_NOTE as STAGE_ORDER };

export function stageReport(input: StageInput): StageReport | null {
  const { peers, leader } = input;
  if (input.proposals.length === 0 || input.applied.length === 0) return null;
  let lo = Infinity;
  let hi = -Infinity;
  for (const [, first, count] of input.proposals) {
    if (first < lo) lo = first;
    if (first + count - 1 > hi) hi = first + count - 1;
  }
  let appliedHi = -Infinity;
  for (const [, , h] of input.applied) if (h > appliedHi) appliedHi = h;
  hi = Math.min(hi, appliedHi);
  if (!(hi >= lo)) return null;
  const span = hi - lo + 1;
  const arr = (): Float64Array => new Float64Array(span).fill(Number.NaN);
  const fill = (a: Float64Array, t: number, from: number, to: number): void => {
    const s = Math.max(from, lo) - lo;
    const e = Math.min(to, hi) - lo;
    for (let i = s; i <= e; i++) if (Number.isNaN(a[i]!)) a[i] = t;
  };

  const proposed = arr();
  for (const [t, first, count] of input.proposals) fill(proposed, t, first, first + count - 1);
  const applied = arr();
  for (const [t, l, h] of input.applied) fill(applied, t, l, h);

  const taken = arr();
  const appended = arr();
  const durableL = arr();
  const committed = arr();
  const sentFirst = arr();
  const sentTo: Float64Array[] = [];
  const recvF: Float64Array[] = [];
  const durF: Float64Array[] = [];
  const followers: number[] = [];
  for (let p = 0; p < peers; p++) {
    sentTo.push(p === leader ? new Float64Array(0) : arr());
    if (p !== leader) followers.push(p);
  }
  for (let p = 0; p < peers; p++) {
    const d = input.dumps[p];
    const isLeader = p === leader;
    const recv = isLeader ? null : arr();
    const dur = isLeader ? null : arr();
    if (d) {
      const r = d.records;
      for (let k = 0; k < d.count; k++) {
        const at = k * RECORD_FIELDS;
        const kind = r[at]!;
        const t = r[at + 1]!;
        const l = r[at + 2]!;
        const h = r[at + 3]!;
        if (isLeader) {
          if (kind === Stage.Received) fill(taken, t, l, h);
          else if (kind === Stage.Appended) fill(appended, t, l, h);
          else if (kind === Stage.Durable) fill(durableL, t, l, h);
          else if (kind === Stage.Committed) fill(committed, t, l, h);
          else if (kind === Stage.Sent) {
            fill(sentFirst, t, l, h);
            const to = r[at + 4]!;
            if (to >= 0 && to < peers && to !== leader) fill(sentTo[to]!, t, l, h);
          }
        } else if (kind === Stage.Appended) fill(recv!, t, l, h);
        else if (kind === Stage.Durable) fill(dur!, t, l, h);
      }
    }
    if (!isLeader) {
      recvF.push(recv!);
      durF.push(dur!);
    }
  }

  const quorum = Math.floor(peers / 2) + 1;
  const need = [proposed, taken, appended, durableL, sentFirst, committed, applied];
  const s = {
    hop: [] as number[],
    wait: [] as number[],
    lDur: [] as number[],
    send: [] as number[],
    wire: [] as number[],
    fDur: [] as number[],
    ack: [] as number[],
    apply: [] as number[],
    total: [] as number[],
  };
  const m = { taken: [] as number[], appended: [] as number[], sent: [] as number[], durableL: [] as number[], quorum: [] as number[], committed: [] as number[], applied: [] as number[] };
  const durs: number[] = new Array<number>(peers);
  let commands = 0;
  let leaderLast = 0;
  for (let i = 0; i < span; i++) {
    let complete = true;
    for (const a of need) if (Number.isNaN(a[i]!)) complete = false;
    if (!complete) continue;
    let n = 0;
    durs[n++] = durableL[i]!;
    for (let f = 0; f < followers.length; f++) {
      const v = durF[f]![i]!;
      if (!Number.isNaN(v)) durs[n++] = v;
    }
    if (n < quorum) continue;
    const known = durs.slice(0, n).sort((a, b) => a - b);
    const q = known[quorum - 1]!;
    if (q === durableL[i]! && quorum > 1) leaderLast++;
    commands++;
    const t0 = proposed[i]!;
    s.hop.push(taken[i]! - t0);
    s.wait.push(appended[i]! - taken[i]!);
    s.lDur.push(durableL[i]! - appended[i]!);
    s.send.push(sentFirst[i]! - appended[i]!);
    for (let f = 0; f < followers.length; f++) {
      const p = followers[f]!;
      const st = sentTo[p]![i]!;
      const rv = recvF[f]![i]!;
      const dv = durF[f]![i]!;
      if (!Number.isNaN(st) && !Number.isNaN(rv)) s.wire.push(rv - st);
      if (!Number.isNaN(rv) && !Number.isNaN(dv)) s.fDur.push(dv - rv);
    }
    s.ack.push(committed[i]! - q);
    s.apply.push(applied[i]! - committed[i]!);
    s.total.push(applied[i]! - t0);
    m.taken.push(taken[i]! - t0);
    m.appended.push(appended[i]! - t0);
    m.sent.push(sentFirst[i]! - t0);
    m.durableL.push(durableL[i]! - t0);
    m.quorum.push(q - t0);
    m.committed.push(committed[i]! - t0);
    m.applied.push(applied[i]! - t0);
  }
  if (commands === 0) return null;
  const row = (stage: string, v: number[]): StageRow => ({ stage, dist: summarize(v) });
  return {
    commands,
    leaderDurableLastPct: (100 * leaderLast) / commands,
    stages: [
      row('proposed -> taken by the leader worker (main -> worker call)', s.hop),
      row('taken -> appended (leader issues the write)', s.wait),
      row('appended -> durable on the leader (its storage write)', s.lDur),
      row('appended -> sent (AppendEntries to the transport)', s.send),
      row('sent -> received by a follower (write issued there)', s.wire),
      row('received -> durable on that follower', s.fDur),
      row('durable on a quorum -> committed on the leader (ack back + flush)', s.ack),
      row('committed -> applied (apply stream to the main thread, onApply)', s.apply),
      row('total: proposed -> applied on the leader', s.total),
    ],
    milestones: [
      row('taken by the leader worker', m.taken),
      row('appended on the leader', m.appended),
      row('sent to the first follower', m.sent),
      row('durable on the leader', m.durableL),
      row('durable on a quorum', m.quorum),
      row('committed on the leader', m.committed),
      row('applied (onApply on the main thread)', m.applied),
    ],
  };
}

export interface BatchingRow {
  readonly peer: number;
  readonly role: 'leader' | 'follower';
  /** Writes issued (Readies with entries) per second, and entries per write. */
  readonly writesPerSec: number;
  readonly entriesPerWrite: number;
  /** Leader: AppendEntries carrying entries per second (all followers), and entries per message. */
  readonly appendsPerSec: number;
  readonly entriesPerAppend: number;
  /** Readies drained per second (with or without entries). */
  readonly readiesPerSec: number;
}

/** How much each peer batched while recording: writes, messages and entries per second. */
export function batching(dumps: readonly (StageDump | null)[], leader: number): BatchingRow[] {
  const out: BatchingRow[] = [];
  for (const d of dumps) {
    if (!d) continue;
    let writes = 0;
    let written = 0;
    let appends = 0;
    let sent = 0;
    for (let k = 0; k < d.count; k++) {
      const at = k * RECORD_FIELDS;
      const kind = d.records[at]!;
      const n = d.records[at + 3]! - d.records[at + 2]! + 1;
      if (kind === Stage.Appended) {
        writes++;
        written += n;
      } else if (kind === Stage.Sent) {
        appends++;
        sent += n;
      }
    }
    const s = d.elapsedMs / 1000;
    out.push({
      peer: d.peer,
      role: d.peer === leader ? 'leader' : 'follower',
      writesPerSec: writes / s,
      entriesPerWrite: writes > 0 ? written / writes : 0,
      appendsPerSec: appends / s,
      entriesPerAppend: appends > 0 ? sent / appends : 0,
      readiesPerSec: d.readies / s,
    });
  }
  return out;
}
