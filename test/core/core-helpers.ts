/**
 * Helpers for stepping RaftCores by hand: build a core with a given durable state, drain its
 * Ready batches (persisting them at once or not), make it leader, and build messages.
 * Nothing here is a test; the core-*.test.ts files use it.
 */
import { RaftCore, type RaftConfig, type RestoredState } from '../../src/core/raft.js';
import { createRng } from '../../src/core/rng.js';
import {
  EntryKind,
  MsgType,
  type AppendEntries,
  type AppendEntriesReply,
  type Entry,
  type InstallSnapshot,
  type Message,
  type Ready,
  type RequestVote,
  type RequestVoteReply,
} from '../../src/core/types.js';

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

export function entry(index: number, term: number, cmd = `e${index}t${term}`): Entry {
  return { index, term, kind: EntryKind.Normal, data: enc(cmd) };
}

export function noop(index: number, term: number): Entry {
  return { index, term, kind: EntryKind.Noop, data: new Uint8Array(0) };
}

/** A log of Normal entries from 1 with the given terms: log(1, 1, 2) is [1:t1, 2:t1, 3:t2]. */
export function log(...terms: number[]): Entry[] {
  return terms.map((t, k) => entry(k + 1, t));
}

export interface CoreOptions extends Partial<Omit<RaftConfig, 'rng'>> {
  readonly seed?: number;
  readonly term?: number;
  readonly votedFor?: number;
  readonly entries?: readonly Entry[];
  readonly snapshot?: { index: number; term: number } | null;
}

export const ELECTION_TICKS = 10;
export const HEARTBEAT_TICKS = 3;

export function makeCore(o: CoreOptions = {}): RaftCore {
  const { seed, term, votedFor, entries, snapshot, ...cfg } = o;
  const config: RaftConfig = {
    id: 0,
    peers: 3,
    electionTicks: ELECTION_TICKS,
    heartbeatTicks: HEARTBEAT_TICKS,
    // The rule tests drive elections directly; Pre-Vote has its own tests.
    preVote: false,
    ...cfg,
    rng: createRng(seed ?? 1),
  };
  const restored: RestoredState = {
    hardState: { currentTerm: term ?? 0, votedFor: votedFor ?? -1 },
    snapshot: snapshot ?? null,
    entries: entries ?? [],
  };
  return new RaftCore(config, restored);
}

/** ready() and report it durable at once; returns the Ready. */
export function drain(core: RaftCore): Ready {
  const r = core.ready();
  core.persisted(r.seq);
  return r;
}

/** Everything a core would send from one drained Ready: messages, then messagesAfterPersist. */
export function sent(r: Ready): Message[] {
  return [...r.messages, ...r.messagesAfterPersist];
}

/** Drains repeatedly until the core has nothing pending; returns all Readies. */
export function drainAll(core: RaftCore): Ready[] {
  const out: Ready[] = [];
  for (let i = 0; i < 20 && core.hasReady(); i++) out.push(drain(core));
  out.push(drain(core));
  return out;
}

/** Ticks until the core campaigns (at most 4 election timeouts); returns the ticks taken. */
export function tickUntilCandidate(core: RaftCore): number {
  for (let t = 1; t <= 4 * ELECTION_TICKS * 2; t++) {
    core.tick();
    if (core.status().role === 'candidate') return t;
  }
  throw new Error('core never campaigned');
}

/**
 * Makes `core` leader: it campaigns, its vote is made durable, and `voters` grant their votes.
 * Returns the first Ready after winning (the no-op and the first AppendEntries), drained.
 */
export function elect(core: RaftCore, voters: readonly number[]): Ready {
  tickUntilCandidate(core);
  drain(core);
  const term = core.status().term;
  for (const p of voters) core.step(voteReply(p, core.id, term, true));
  if (core.status().role !== 'leader') throw new Error(`core ${core.id} did not win with votes from ${voters.join(',')}`);
  return drain(core);
}

/** Acks everything the leader sent to `followers` (as durable successes at the leader's last index). */
export function ackAll(core: RaftCore, followers: readonly number[]): void {
  const st = core.status();
  for (const p of followers) core.step(appendReply(p, core.id, st.term, true, st.lastLogIndex));
}

export function requestVote(from: number, to: number, term: number, lastLogIndex: number, lastLogTerm: number): RequestVote {
  return { type: MsgType.RequestVote, term, from, to, lastLogIndex, lastLogTerm, preVote: false };
}

export function voteReply(from: number, to: number, term: number, voteGranted: boolean): RequestVoteReply {
  return { type: MsgType.RequestVoteReply, term, from, to, voteGranted, preVote: false };
}

export function append(
  from: number,
  to: number,
  term: number,
  prevLogIndex: number,
  prevLogTerm: number,
  entries: readonly Entry[],
  leaderCommit = 0,
): AppendEntries {
  return { type: MsgType.AppendEntries, term, from, to, prevLogIndex, prevLogTerm, entries, leaderCommit, round: 0 };
}

export function appendReply(
  from: number,
  to: number,
  term: number,
  success: boolean,
  matchIndex: number,
  conflictTerm = 0,
  conflictIndex = 0,
): AppendEntriesReply {
  return { type: MsgType.AppendEntriesReply, term, from, to, success, matchIndex, conflictTerm, conflictIndex, round: 0 };
}

export function installSnapshot(from: number, to: number, term: number, lastIncludedIndex: number, lastIncludedTerm: number): InstallSnapshot {
  return { type: MsgType.InstallSnapshot, term, from, to, lastIncludedIndex, lastIncludedTerm, offset: 0, total: 4, data: enc('snap') };
}

/** The terms of the entries a core holds, from its first index. */
export function terms(core: RaftCore): number[] {
  const out: number[] = [];
  for (let i = core.log.firstIndex(); i <= core.log.lastIndex(); i++) out.push(core.log.term(i));
  return out;
}

export function appendsTo(msgs: readonly Message[], to: number): AppendEntries[] {
  return msgs.filter((m): m is AppendEntries => m.type === MsgType.AppendEntries && m.to === to);
}

export function ofType<T extends Message['type']>(msgs: readonly Message[], type: T): Extract<Message, { type: T }>[] {
  return msgs.filter((m): m is Extract<Message, { type: T }> => m.type === type);
}

/**
 * A hand-driven network between real cores: deliver() steps each message into its destination
 * (if that core exists and `keep` allows it), drains the destination, and returns what it sent.
 */
export class HandNet {
  /** What each core handed over to apply in Readies this network drained, in order. */
  readonly applied: Entry[][];

  constructor(readonly cores: (RaftCore | null)[]) {
    this.applied = cores.map(() => []);
  }

  /** Drains a core outside deliver() (after a tick or a proposal) and returns what it sent. */
  drain(id: number): Message[] {
    const out: Message[] = [];
    for (const r of drainAll(this.cores[id]!)) {
      out.push(...sent(r));
      this.applied[id]!.push(...r.committed);
    }
    return out;
  }

  deliver(msgs: readonly Message[], keep: (m: Message) => boolean = () => true): Message[] {
    const out: Message[] = [];
    for (const m of msgs) {
      const core = this.cores[m.to];
      if (!core || !keep(m)) continue;
      const res = core.step(m);
      if (!res.ok) throw new Error(`core ${m.to} rejected ${JSON.stringify(m)}: ${JSON.stringify(res)}`);
      out.push(...this.drain(m.to));
    }
    return out;
  }

  /** Delivers until no message is left (or `rounds` pass). */
  settle(msgs: readonly Message[], rounds = 50, keep?: (m: Message) => boolean): void {
    let pending = msgs;
    for (let i = 0; i < rounds && pending.length > 0; i++) pending = this.deliver(pending, keep);
  }
}
