import { assert } from './assert.js';
import { RaftLog } from './log.js';
import { Progress, ProgressState } from './progress.js';
import type { Rng } from './rng.js';
import {
  EntryKind,
  MsgType,
  Role,
  type AppendEntries,
  type AppendEntriesReply,
  type Entry,
  type HardState,
  type InstallSnapshot,
  type InstallSnapshotReply,
  type LogIndex,
  type Message,
  type PeerId,
  type ProposeResult,
  type ReadState,
  type Ready,
  type RequestVote,
  type RequestVoteReply,
  type Snapshot,
  type SnapshotMeta,
  type StepResult,
  type Term,
} from './types.js';
import { validateMessage } from './validate.js';

export interface RaftConfig {
  readonly id: PeerId;
  readonly peers: number;
  /** The election timeout is drawn from [electionTicks, maxElectionTicks) each time the timer restarts. */
  readonly electionTicks: number;
  /** Exclusive upper bound of the election timeout; default 2 * electionTicks. */
  readonly maxElectionTicks?: number;
  /** A leader sends AppendEntries to every follower at least this often. */
  readonly heartbeatTicks: number;
  /** The seeded generator for election timeouts: the core's only source of randomness. */
  readonly rng: Rng;
  /** In-flight AppendEntries per follower in replicate state (count and bytes). */
  readonly maxInflightMsgs?: number;
  readonly maxInflightBytes?: number;
  /** Bounds on one AppendEntries: entries and payload bytes. */
  readonly maxMsgEntries?: number;
  readonly maxMsgBytes?: number;
  /**
   * A leader that has not heard from a majority within an election timeout steps down,
   * so a leader cut off in a minority stops accepting proposals it can never commit.
   */
  readonly checkQuorum?: boolean;
  /**
   * Pre-Vote (section 9.6 of Ongaro's thesis): a peer whose election timer fires first asks
   * whether it could win, without changing its term; only then does it campaign. A peer cut off
   * by a partition therefore comes back with its old term and does not depose the leader.
   */
  readonly preVote?: boolean;
}

/** What the driver loaded from durable storage at start. */
export interface RestoredState {
  readonly hardState: HardState;
  readonly snapshot: SnapshotMeta | null;
  readonly entries: readonly Entry[];
  /**
   * How far a durable state machine has already applied (it is committed, since only committed
   * entries are applied). Entries up to it are not delivered again. Default: the snapshot index.
   */
  readonly appliedIndex?: LogIndex;
}

export interface RaftStatus {
  readonly id: PeerId;
  readonly term: Term;
  readonly votedFor: PeerId | -1;
  readonly role: Role;
  readonly leaderId: PeerId | -1;
  readonly commitIndex: LogIndex;
  readonly lastApplied: LogIndex;
  readonly lastLogIndex: LogIndex;
  readonly lastLogTerm: Term;
  readonly snapshotIndex: LogIndex;
  /** The highest log index known durable on this peer. */
  readonly stableIndex: LogIndex;
}

const EMPTY: readonly never[] = Object.freeze([]);
/**
 * A peer that heard from a live leader ignores vote requests (with checkQuorum) until its
 * election timer reaches the shortest election timeout less this allowance. Peers count ticks
 * in their own phase: a candidate whose timeout is the shortest fires when the others, who heard
 * the same heartbeat, have counted one tick less about half the time. Refusing them for that
 * tick wasted the election (the candidate waited a whole new timeout) in about one in eight
 * elections of a 5-peer cluster, costing ~5 ms at the median.
 */
const VOTE_PHASE_ALLOWANCE_TICKS = 1;
/**
 * A lease is trusted for the shortest election timeout less this margin, in ticks. Why it is
 * safe: a round the leader sent at real time s, heard by a voter at h > s, keeps that voter
 * refusing votes past h + (electionTicks - 1 - allowance) ticks (its counter starts at a tick
 * boundary). The lease ends at most (electionTicks - margin) ticks after s, since the leader
 * counts every tick of real time before it reads. So margin = allowance + 1 is exact, and one
 * more tick is room for timer and clock drift between threads.
 */
const LEASE_MARGIN_TICKS = VOTE_PHASE_ALLOWANCE_TICKS + 2;
const OK: StepResult = Object.freeze({ ok: true });
const NO_DATA = new Uint8Array(0);

/**
 * One Raft peer as a pure state machine (Figure 2 of the extended paper).
 *
 * Inputs: tick(), step(message), propose(data), persisted(seq), compact(index).
 * Output: ready(), one batch of things to persist, send and apply.
 * It owns no timer, disk or socket, and draws randomness only from the Rng it is given,
 * so a simulator can run many of them on simulated time and replay any run from a seed.
 *
 * Durability contract (the driver's side is written on Ready in types.ts):
 * - Requests (RequestVote, AppendEntries, InstallSnapshot) go out at once.
 * - Replies go out only after everything the peer held when it made them is durable,
 *   because a vote or an ack is a promise about durable state.
 * - A candidate counts its own vote, and a leader counts its own log toward a commit, only once
 *   the batch carrying them is durable (persisted(seq)).
 * - Committed entries are handed over to apply as soon as their local write is issued (in the
 *   same Ready or an earlier one), not once it is durable: a commit is already durable on a
 *   majority, which the followers alone can make, so a leader whose own write is the slowest
 *   answers at the quorum's pace (Ongaro's thesis, 10.2.1).
 */
export class RaftCore {
  readonly id: PeerId;
  readonly peers: number;
  private readonly quorum: number;
  private readonly cfg: Required<Omit<RaftConfig, 'id' | 'peers' | 'rng'>>;
  private readonly rng: Rng;

  private term: Term;
  private votedFor: PeerId | -1;
  private role: Role = Role.Follower;
  private leaderId: PeerId | -1 = -1;
  readonly log: RaftLog;
  private commitIndex: LogIndex;
  private lastApplied: LogIndex;

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;

  /** Candidate: who granted a vote; our own vote counts only once it is durable. */
  private votes: boolean[];
  /** Pre-candidate: who would vote for us in the next term. */
  private preVotes: boolean[];
  private selfVoteSeq = 0;
  /**
   * The term of the campaign this core started and has not yet won, or 0. Volatile on purpose:
   * votes granted to us in a term count, late ones included, only for a campaign of this life
   * that has not led yet. A peer restarted with votedFor = itself has lost the entries it sent
   * but never made durable while it led that term; winning the term again from late votes, it
   * would write different entries at the same indexes in the same term (Log Matching broken;
   * found by the swarm, seed 7504984). So a term is led at most once, by one life of one peer.
   */
  private campaignTerm: Term = 0;
  /** Leader: one Progress per peer (our own entry tracks our durable index). */
  private progress: Progress[] = [];

  // --- pending output, drained by ready() ---
  private seq = 0;
  private hardStateDirty = false;
  private messages: Message[] = [];
  private messagesAfterPersist: Message[] = [];
  private pendingSnapshot: Snapshot | null = null;
  /** First log index not yet handed to the driver for persisting. */
  private unstableFrom: LogIndex;
  /** Highest log index known durable here. */
  private stableIndex: LogIndex;
  /** Readies whose write is not yet reported durable: their seq and the log's last index then. */
  private unpersisted: { seq: number; lastIndex: LogIndex }[] = [];
  /** The seq of the latest Ready that rewrote stored entries; older writes cannot raise stableIndex. */
  private lastRewriteSeq = 0;
  private matchScratch: LogIndex[];

  // --- linearizable reads (leader only) ---
  /** The current heartbeat round; every AppendEntries carries it and every reply echoes it. */
  private round = 0;
  /** A read is waiting for the next round to be sent. */
  private readRoundWanted = false;
  private pendingReads: { ctx: number; index: LogIndex; round: number }[] = [];
  /** Reads that arrived before this leader committed an entry of its term. */
  private deferredReads: number[] = [];
  private readStates: ReadState[] = [];
  /** Ticks since this peer became leader; the tick each round was sent; the lease's start. */
  private leaderTicks = 0;
  private roundSentAt = new Map<number, number>();
  private leaseFrom = -1;
  /** The leader's tick of the last leaseRead() asked of it (quiet heartbeats stop meanwhile). */
  private leaseAskedAt = Number.NEGATIVE_INFINITY;
  /** The leader's tick of its last work: a proposal, a read, entries sent (see heartbeatInterval()). */
  private busyAt = 0;

  constructor(config: RaftConfig, restored?: RestoredState) {
    assert(Number.isInteger(config.peers) && config.peers >= 1, `peers must be a positive integer, got ${config.peers}`);
    assert(Number.isInteger(config.id) && config.id >= 0 && config.id < config.peers, `id ${config.id} out of range`);
    assert(config.electionTicks > config.heartbeatTicks && config.heartbeatTicks >= 1, 'need electionTicks > heartbeatTicks >= 1');
    assert((config.maxElectionTicks ?? 2 * config.electionTicks) > config.electionTicks, 'need maxElectionTicks > electionTicks');
    this.id = config.id;
    this.peers = config.peers;
    this.quorum = Math.floor(config.peers / 2) + 1;
    this.rng = config.rng;
    this.cfg = {
      electionTicks: config.electionTicks,
      maxElectionTicks: config.maxElectionTicks ?? 2 * config.electionTicks,
      heartbeatTicks: config.heartbeatTicks,
      maxInflightMsgs: config.maxInflightMsgs ?? 64,
      maxInflightBytes: config.maxInflightBytes ?? 16 * 1024 * 1024,
      maxMsgEntries: config.maxMsgEntries ?? 4096,
      maxMsgBytes: config.maxMsgBytes ?? 1024 * 1024,
      checkQuorum: config.checkQuorum ?? true,
      preVote: config.preVote ?? true,
    };
    const hs = restored?.hardState ?? { currentTerm: 0, votedFor: -1 };
    this.term = hs.currentTerm;
    this.votedFor = hs.votedFor;
    const snap = restored?.snapshot ?? null;
    this.log = new RaftLog(snap?.index ?? 0, snap?.term ?? 0, restored?.entries ?? EMPTY);
    // Everything restored is durable; the snapshot (and a durable state machine) covers
    // committed and applied state.
    const applied = Math.min(Math.max(restored?.appliedIndex ?? 0, this.log.snapshotIndex), this.log.lastIndex());
    this.commitIndex = applied;
    this.lastApplied = applied;
    this.stableIndex = this.log.lastIndex();
    this.unstableFrom = this.log.lastIndex() + 1;
    this.votes = new Array<boolean>(this.peers).fill(false);
    this.preVotes = new Array<boolean>(this.peers).fill(false);
    this.matchScratch = new Array<LogIndex>(this.peers).fill(0);
    this.resetElectionTimer();
  }

  // ------------------------------------------------------------------ inputs

  /** Advances logical time by one tick. */
  tick(): void {
    if (this.role === Role.Leader) this.tickLeader();
    else this.tickElection();
  }

  /** Feeds one inbound message. Malformed or misaddressed input is rejected without side effects. */
  step(input: unknown): StepResult {
    const problem = validateMessage(input, this.id, this.peers);
    if (problem !== null) return { ok: false, reason: 'invalid-message', detail: problem };
    const m = input as Message;

    // Pre-Vote messages never change anyone's term or vote.
    if (m.type === MsgType.RequestVote && m.preVote) {
      this.handlePreVote(m);
      return OK;
    }
    if (m.type === MsgType.RequestVoteReply && m.preVote) {
      this.handlePreVoteReply(m);
      return OK;
    }
    if (
      m.type === MsgType.RequestVote &&
      m.term > this.term &&
      this.cfg.checkQuorum &&
      this.heardFromLeaderRecently()
    ) {
      // We heard from a live leader within the shortest election timeout: ignore the vote
      // request, term and all. This is what makes the leader's lease safe, and it keeps a peer
      // rejoining from a partition with a high term from deposing a healthy leader.
      return OK;
    }
    if (m.term > this.term) {
      // Any higher term makes us a follower of that term (Figure 2, "All Servers").
      const leader = m.type === MsgType.AppendEntries || m.type === MsgType.InstallSnapshot ? m.from : -1;
      this.becomeFollower(m.term, leader);
    } else if (m.term < this.term) {
      this.answerStale(m);
      return { ok: true };
    }

    switch (m.type) {
      case MsgType.RequestVote:
        this.handleRequestVote(m);
        break;
      case MsgType.RequestVoteReply:
        this.handleVoteReply(m);
        break;
      case MsgType.AppendEntries:
        return this.handleAppendEntries(m);
      case MsgType.AppendEntriesReply:
        this.handleAppendReply(m);
        break;
      case MsgType.InstallSnapshot:
        this.handleInstallSnapshot(m);
        break;
      case MsgType.InstallSnapshotReply:
        this.handleSnapshotReply(m);
        break;
      case MsgType.SnapshotChunkAck:
        return { ok: false, reason: 'invalid-message', detail: 'SnapshotChunkAck is for the driver' };
      default:
        return assertNever(m);
    }
    return { ok: true };
  }

  /** Appends a command to the leader's log. Returns at once; commit is reported through ready(). */
  propose(data: Uint8Array): ProposeResult {
    if (this.role !== Role.Leader) return { ok: false, reason: 'not-leader', leaderHint: this.leaderId };
    this.busyAt = this.leaderTicks;
    const index = this.log.lastIndex() + 1;
    this.log.append({ index, term: this.term, kind: EntryKind.Normal, data });
    return { ok: true, index, term: this.term };
  }

  /** Appends many commands at once (the batched fast path); returns the first one's index. */
  proposeBatch(commands: readonly Uint8Array[]): ProposeResult {
    if (this.role !== Role.Leader) return { ok: false, reason: 'not-leader', leaderHint: this.leaderId };
    this.busyAt = this.leaderTicks;
    const first = this.log.lastIndex() + 1;
    for (let k = 0; k < commands.length; k++) {
      this.log.append({ index: first + k, term: this.term, kind: EntryKind.Normal, data: commands[k]! });
    }
    return { ok: true, index: first, term: this.term };
  }

  /**
   * Asks for a linearizable read (ReadIndex, section 6.4 of Ongaro's thesis). The leader notes its
   * commitIndex, confirms with one heartbeat round that a majority still follows it, then reports
   * `{ ctx, index }` in Ready.readStates: the read may be served once `index` is applied. Reads
   * asked for before the next round is sent share it. If leadership is lost first, the read comes
   * back with index -1 (ask again, of the new leader).
   */
  readIndex(ctx: number): StepResult {
    if (this.role !== Role.Leader) return { ok: false, reason: 'not-leader', leaderHint: this.leaderId };
    this.busyAt = this.leaderTicks;
    if (this.peers === 1 && this.log.term(this.commitIndex) === this.term) {
      this.readStates.push({ ctx, index: this.commitIndex });
    } else if (this.log.term(this.commitIndex) !== this.term) {
      // Until an entry of this term commits, our commitIndex may lag what earlier leaders committed.
      this.deferredReads.push(ctx);
    } else {
      this.pendingReads.push({ ctx, index: this.commitIndex, round: this.round + 1 });
      this.readRoundWanted = true;
    }
    return OK;
  }

  /**
   * A read by leader lease: if a majority confirmed our leadership within the last election
   * timeout (less a margin), no other leader can have been elected since (followers ignore
   * RequestVote while they hear from a leader, with checkQuorum), so the state at commitIndex
   * may be read without a round trip. Needs checkQuorum; relies on bounded clock drift.
   */
  leaseRead(): ProposeResult {
    if (this.role !== Role.Leader) return { ok: false, reason: 'not-leader', leaderHint: this.leaderId };
    this.leaseAskedAt = this.leaderTicks;
    this.busyAt = this.leaderTicks;
    const valid =
      this.cfg.checkQuorum &&
      this.log.term(this.commitIndex) === this.term &&
      (this.peers === 1 || (this.leaseFrom >= 0 && this.leaderTicks < this.leaseFrom + this.cfg.electionTicks - LEASE_MARGIN_TICKS));
    if (!valid) return { ok: false, reason: 'not-leader', leaderHint: this.id };
    return { ok: true, index: this.commitIndex, term: this.term };
  }

  /**
   * The driver reports that the write of Ready `seq` (and of every Ready before it) is durable.
   */
  persisted(seq: number): void {
    while (this.unpersisted.length > 0 && this.unpersisted[0]!.seq <= seq) {
      const rec = this.unpersisted.shift()!;
      if (rec.seq >= this.lastRewriteSeq && rec.lastIndex > this.stableIndex) this.stableIndex = rec.lastIndex;
    }
    if (this.selfVoteSeq !== 0 && seq >= this.selfVoteSeq) {
      this.selfVoteSeq = 0;
      this.votes[this.id] = true;
      this.maybeWinElection();
    } else if (this.role === Role.Leader) {
      const self = this.progress[this.id]!;
      if (self.maybeUpdate(this.stableIndex)) this.maybeCommit();
    }
  }

  /**
   * The service has a snapshot of its state up to `index` (at most lastApplied): drop the log up
   * to it. Indexes at or below the current snapshot are ignored, as in 6.824 (a snapshot from the
   * service can race with one installed from the leader).
   */
  compact(index: LogIndex): StepResult {
    if (!Number.isSafeInteger(index) || index < 0) {
      return { ok: false, reason: 'invalid-snapshot', detail: `snapshot index ${index} is not a non-negative integer` };
    }
    if (index > this.lastApplied) {
      return {
        ok: false,
        reason: 'invalid-snapshot',
        detail: `snapshot index ${index} is above lastApplied ${this.lastApplied}: snapshot only state that has been applied`,
      };
    }
    if (index <= this.log.snapshotIndex) return { ok: true };
    this.log.compact(index);
    return { ok: true };
  }

  // ------------------------------------------------------------------ output

  hasReady(): boolean {
    if (this.role === Role.Leader && this.hasAppendToSend()) return true;
    return (
      this.hardStateDirty ||
      this.pendingSnapshot !== null ||
      this.unstableFrom <= this.log.lastIndex() ||
      this.messages.length > 0 ||
      this.messagesAfterPersist.length > 0 ||
      this.readStates.length > 0 ||
      this.readRoundWanted ||
      this.lastApplied < Math.min(this.commitIndex, this.log.lastIndex())
    );
  }

  /** Drains everything pending into one batch. Call after any input; cheap when nothing is pending. */
  ready(): Ready {
    if (this.role === Role.Leader) {
      if (this.readRoundWanted) this.broadcastRound();
      else this.sendAppends(false);
    }
    const seq = ++this.seq;
    const hardState = this.hardStateDirty ? { currentTerm: this.term, votedFor: this.votedFor } : null;
    this.hardStateDirty = false;
    const snapshot = this.pendingSnapshot;
    this.pendingSnapshot = null;
    const last = this.log.lastIndex();
    const entries = this.unstableFrom <= last ? this.log.slice(this.unstableFrom, last + 1) : EMPTY;
    this.unstableFrom = last + 1;
    if (hardState !== null || snapshot !== null || entries.length > 0) {
      this.unpersisted.push({ seq, lastIndex: last });
    }
    // Up to `last`: this Ready or an earlier one carries every such entry's write (see the
    // durability contract above for why it need not be durable yet).
    const applyTo = Math.min(this.commitIndex, last);
    const committed = this.lastApplied < applyTo ? this.log.slice(this.lastApplied + 1, applyTo + 1) : EMPTY;
    if (applyTo > this.lastApplied) this.lastApplied = applyTo;
    const messages = this.messages;
    const messagesAfterPersist = this.messagesAfterPersist;
    this.messages = [];
    this.messagesAfterPersist = [];
    const readStates = this.readStates.length > 0 ? this.readStates : EMPTY;
    if (readStates.length > 0) this.readStates = [];
    return { seq, hardState, snapshot, entries, messages, messagesAfterPersist, committed, readStates };
  }

  status(): RaftStatus {
    return {
      id: this.id,
      term: this.term,
      votedFor: this.votedFor,
      role: this.role,
      leaderId: this.leaderId,
      commitIndex: this.commitIndex,
      lastApplied: this.lastApplied,
      lastLogIndex: this.log.lastIndex(),
      lastLogTerm: this.log.lastTerm(),
      snapshotIndex: this.log.snapshotIndex,
      stableIndex: this.stableIndex,
    };
  }

  isLeader(): boolean {
    return this.role === Role.Leader;
  }

  /**
   * How many tick() calls from now until one can make the core act on its own: the tick that
   * reaches a bound a counter is compared against in tickElection / tickLeader. Always >= 1.
   *
   *   follower, pre-candidate, candidate   the election timeout: randomizedElectionTimeout - electionElapsed
   *   leader                               the least of: the next heartbeat (ticksToHeartbeat: the interval may stretch when idle),
   *                                        the check-quorum window (with checkQuorum on), and the retry of
   *                                        every InstallSnapshot still unanswered (snapshotWaitTicks)
   *
   * The ticks before that one only move counters, and nothing leaves the core because of them
   * (hasReady() and status() stay as they were). Two of those counters are read when an input
   * arrives: electionElapsed (does a vote request fall within a live leader's lease?) and
   * leaderTicks (leaseRead). So a driver may sleep until this deadline provided it applies the
   * ticks that real time has made due before every input, as src/peer/driver.ts does.
   */
  ticksUntilDue(): number {
    if (this.role !== Role.Leader) return Math.max(1, this.randomizedElectionTimeout - this.electionElapsed);
    let due = this.ticksToHeartbeat();
    // With check-quorum off the window's end only resets electionElapsed, which a leader never reads.
    if (this.cfg.checkQuorum) due = Math.min(due, this.checkQuorumTicks() - this.electionElapsed);
    const retry = this.snapshotRetryTicks();
    for (let p = 0; p < this.peers; p++) {
      const pr = this.progress[p]!;
      if (p !== this.id && pr.state === ProgressState.Snapshot) due = Math.min(due, retry - pr.snapshotWaitTicks);
    }
    return Math.max(1, due);
  }

  // ------------------------------------------------------------------ roles

  private becomeFollower(term: Term, leader: PeerId | -1): void {
    if (term !== this.term) {
      this.term = term;
      this.votedFor = -1;
      this.hardStateDirty = true;
    }
    this.votes.fill(false);
    if (this.role === Role.Leader) this.abortReads();
    this.role = Role.Follower;
    this.leaderId = leader;
    this.selfVoteSeq = 0;
    this.progress = [];
    this.resetElectionTimer();
  }

  /** The election timer fired: ask for pre-votes first (if enabled), then campaign. */
  private startElection(): void {
    if (!this.cfg.preVote) {
      this.campaign();
      return;
    }
    // Votes won by this life's campaign for the current term stay valid: late ones may still
    // make us its leader (campaigning(): not after a restart, nor once we have led the term).
    this.role = Role.PreCandidate;
    this.leaderId = -1;
    this.preVotes.fill(false);
    this.preVotes[this.id] = true;
    this.resetElectionTimer();
    if (this.quorum === 1) {
      this.campaign();
      return;
    }
    const lastLogIndex = this.log.lastIndex();
    const lastLogTerm = this.log.lastTerm();
    for (let p = 0; p < this.peers; p++) {
      if (p === this.id) continue;
      this.messages.push({ type: MsgType.RequestVote, term: this.term + 1, from: this.id, to: p, lastLogIndex, lastLogTerm, preVote: true });
    }
  }

  /**
   * Would we vote for this candidate in its (next) term? Yes if that term is above ours, its log
   * is at least as up-to-date as ours, and we have not heard from a live leader within the
   * election timeout. Nothing changes here either way.
   */
  private handlePreVote(m: RequestVote): void {
    const grant = m.term > this.term && this.candidateUpToDate(m) && !this.heardFromLeaderRecently();
    this.messages.push({
      type: MsgType.RequestVoteReply,
      term: grant ? m.term : this.term,
      from: this.id,
      to: m.from,
      voteGranted: grant,
      preVote: true,
    });
  }

  private handlePreVoteReply(m: RequestVoteReply): void {
    if (m.voteGranted) {
      if (this.role !== Role.PreCandidate || m.term !== this.term + 1) return;
      this.preVotes[m.from] = true;
      let granted = 0;
      for (const v of this.preVotes) if (v) granted++;
      if (granted >= this.quorum) this.campaign();
    } else if (m.term > this.term) {
      this.becomeFollower(m.term, -1);
    }
  }

  /** We lead, or follow a leader heard from within the shortest election timeout (less the allowance). */
  private heardFromLeaderRecently(): boolean {
    if (this.leaderId === -1) return false;
    return this.role === Role.Leader || this.electionElapsed < this.cfg.electionTicks - VOTE_PHASE_ALLOWANCE_TICKS;
  }

  private candidateUpToDate(m: RequestVote): boolean {
    // Section 5.4.1: a higher last term, or the same last term and a log at least as long.
    const ourTerm = this.log.lastTerm();
    return m.lastLogTerm > ourTerm || (m.lastLogTerm === ourTerm && m.lastLogIndex >= this.log.lastIndex());
  }

  private campaign(): void {
    this.term += 1;
    this.votedFor = this.id;
    this.campaignTerm = this.term;
    this.hardStateDirty = true;
    this.role = Role.Candidate;
    this.leaderId = -1;
    this.votes.fill(false);
    // Our own vote counts once the Ready carrying it (the next one) is durable.
    this.selfVoteSeq = this.seq + 1;
    this.resetElectionTimer();
    const lastLogIndex = this.log.lastIndex();
    const lastLogTerm = this.log.lastTerm();
    for (let p = 0; p < this.peers; p++) {
      if (p === this.id) continue;
      const rv: RequestVote = { type: MsgType.RequestVote, term: this.term, from: this.id, to: p, lastLogIndex, lastLogTerm, preVote: false };
      this.messages.push(rv);
    }
  }

  private becomeLeader(): void {
    this.campaignTerm = 0;
    this.role = Role.Leader;
    this.leaderId = this.id;
    this.heartbeatElapsed = 0;
    this.electionElapsed = 0;
    const next = this.log.lastIndex() + 1;
    this.progress = [];
    for (let p = 0; p < this.peers; p++) {
      this.progress.push(new Progress(next, this.cfg.maxInflightMsgs, this.cfg.maxInflightBytes));
    }
    const self = this.progress[this.id]!;
    self.match = this.stableIndex;
    self.state = ProgressState.Replicate;
    this.round = 0;
    this.leaderTicks = 0;
    this.leaseFrom = -1;
    this.leaseAskedAt = Number.NEGATIVE_INFINITY;
    this.busyAt = 0;
    this.roundSentAt.clear();
    // A no-op in the new term lets the leader commit entries of earlier terms (section 8).
    this.log.append({ index: next, term: this.term, kind: EntryKind.Noop, data: NO_DATA });
    this.broadcastRound();
  }

  /** Starts a new heartbeat round: every follower gets an AppendEntries carrying it. */
  private broadcastRound(): void {
    this.round++;
    this.readRoundWanted = false;
    this.roundSentAt.set(this.round, this.leaderTicks);
    this.sendAppends(true);
  }

  /** Leadership is lost: pending reads can no longer be confirmed here. */
  private abortReads(): void {
    for (const r of this.pendingReads) this.readStates.push({ ctx: r.ctx, index: -1 });
    for (const ctx of this.deferredReads) this.readStates.push({ ctx, index: -1 });
    this.pendingReads = [];
    this.deferredReads = [];
    this.readRoundWanted = false;
  }

  /**
   * The highest round a majority (counting ourselves) has echoed: reads registered for it are
   * confirmed, and the lease runs from the moment it was sent.
   */
  private onRoundAcked(): void {
    const rounds = this.matchScratch;
    for (let p = 0; p < this.peers; p++) rounds[p] = p === this.id ? this.round : this.progress[p]!.ackedRound;
    rounds.sort((a, b) => b - a);
    const confirmed = rounds[this.quorum - 1]!;
    while (this.pendingReads.length > 0 && this.pendingReads[0]!.round <= confirmed) {
      const r = this.pendingReads.shift()!;
      this.readStates.push({ ctx: r.ctx, index: r.index });
    }
    const sentAt = this.roundSentAt.get(confirmed);
    if (sentAt !== undefined) {
      if (sentAt > this.leaseFrom) this.leaseFrom = sentAt;
      for (const k of this.roundSentAt.keys()) {
        if (k > confirmed) break;
        this.roundSentAt.delete(k);
      }
    }
  }

  /**
   * Votes for the current term count: as a candidate, and as a pre-candidate whose campaign for
   * this term (started in this life, not yet won) timed out, since votes for it, and its own,
   * still hold. See campaignTerm for why not after a restart or a leadership of this term.
   */
  private campaigning(): boolean {
    if (this.campaignTerm !== this.term) return false;
    return this.role === Role.Candidate || (this.role === Role.PreCandidate && this.votedFor === this.id);
  }

  private maybeWinElection(): void {
    if (!this.campaigning()) return;
    let granted = 0;
    for (const v of this.votes) if (v) granted++;
    if (granted >= this.quorum) this.becomeLeader();
  }

  private resetElectionTimer(): void {
    this.electionElapsed = 0;
    this.randomizedElectionTimeout = this.rng.int(this.cfg.electionTicks, this.cfg.maxElectionTicks);
  }

  // ------------------------------------------------------------------ ticks

  // Every bound compared against here must also be counted in ticksUntilDue().
  private tickElection(): void {
    this.electionElapsed++;
    if (this.electionElapsed >= this.randomizedElectionTimeout) this.startElection();
  }

  /**
   * Check quorum over twice the longest election timeout. A window of one election timeout
   * deposes leaders whose replies are merely slow: under 6.824's long reordering (two thirds of
   * replies 0.2-2.2 s late) a 3-of-5 majority then kept a leader only a fifth of the time.
   * Safety never depends on this window; it only bounds how long a cut-off leader lingers.
   */
  private checkQuorumTicks(): number {
    return 2 * this.cfg.maxElectionTicks;
  }

  /**
   * Ticks between heartbeats: the configured interval, stretched to twice that (never reaching
   * the shortest election timeout) once the leader has had no work for an election timeout: no
   * proposal, no read, no entries to send. An idle cluster's cost is nearly all heartbeats, each
   * one a thread wake-up per follower; the stretched interval still reaches every follower well
   * inside its shortest timeout, and the first proposal or read restores the usual interval at
   * once (proposals and read rounds never wait for a heartbeat anyway).
   */
  private heartbeatInterval(atTick: number): number {
    const hb = this.cfg.heartbeatTicks;
    if (atTick - this.busyAt < this.cfg.electionTicks) return hb;
    return Math.max(hb, Math.min(2 * hb, this.cfg.electionTicks - hb));
  }

  /** Ticks until the next heartbeat, the interval stretching on the way included. */
  private ticksToHeartbeat(): number {
    const k = this.cfg.heartbeatTicks - this.heartbeatElapsed;
    const idleIn = this.cfg.electionTicks - (this.leaderTicks - this.busyAt);
    return k < idleIn ? k : this.heartbeatInterval(this.leaderTicks + k) - this.heartbeatElapsed;
  }

  /** An InstallSnapshot unanswered for this many ticks is retried (lost, or the follower restarted). */
  private snapshotRetryTicks(): number {
    return 2 * this.cfg.electionTicks;
  }

  // Every bound compared against here must also be counted in ticksUntilDue().
  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    this.leaderTicks++;
    if (this.electionElapsed >= this.checkQuorumTicks()) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, -1);
        return;
      }
    }
    for (let p = 0; p < this.peers; p++) {
      const pr = this.progress[p]!;
      if (p === this.id || pr.state !== ProgressState.Snapshot) continue;
      if (++pr.snapshotWaitTicks >= this.snapshotRetryTicks()) pr.becomeProbe();
    }
    if (this.heartbeatElapsed >= this.heartbeatInterval(this.leaderTicks)) {
      this.heartbeatElapsed = 0;
      this.broadcastRound();
    }
  }

  /** Counts peers heard from since the last check, and starts a new round. */
  private quorumActive(): boolean {
    let active = 1;
    for (let p = 0; p < this.peers; p++) {
      if (p === this.id) continue;
      const pr = this.progress[p]!;
      if (pr.recentActive) active++;
      pr.recentActive = false;
    }
    return active >= this.quorum;
  }

  // ------------------------------------------------------------------ RequestVote

  private handleRequestVote(m: RequestVote): void {
    // Grant if we have not voted for someone else this term and the candidate's log is at least
    // as up-to-date as ours (section 5.4.1).
    const canVote = this.votedFor === -1 || this.votedFor === m.from;
    const grant = canVote && this.candidateUpToDate(m) && (this.role === Role.Follower || this.role === Role.PreCandidate);
    if (grant) {
      if (this.votedFor !== m.from) {
        this.votedFor = m.from;
        this.hardStateDirty = true;
      }
      this.resetElectionTimer();
    }
    const reply: RequestVoteReply = { type: MsgType.RequestVoteReply, term: this.term, from: this.id, to: m.from, voteGranted: grant, preVote: false };
    this.messagesAfterPersist.push(reply);
  }

  private handleVoteReply(m: RequestVoteReply): void {
    if (!this.campaigning()) return;
    if (m.voteGranted) {
      this.votes[m.from] = true;
      this.maybeWinElection();
    }
  }

  // ------------------------------------------------------------------ AppendEntries (follower)

  private handleAppendEntries(m: AppendEntries): StepResult {
    // A candidate that hears from a leader of its own term yields to it.
    if (this.role !== Role.Follower) this.becomeFollower(this.term, m.from);
    this.leaderId = m.from;
    this.resetElectionTimer();

    let prevIndex = m.prevLogIndex;
    let prevTerm = m.prevLogTerm;
    let entries = m.entries;
    if (prevIndex < this.log.snapshotIndex) {
      // Our snapshot already covers the start of this message; that part is committed and
      // therefore matches. Continue from the snapshot boundary with what follows it.
      const skip = this.log.snapshotIndex - prevIndex;
      if (skip >= entries.length) {
        this.replyAppend(m.from, m.round, true, this.log.snapshotIndex, 0, 0);
        return OK;
      }
      entries = entries.slice(skip);
      prevIndex = this.log.snapshotIndex;
      prevTerm = this.log.snapshotTerm;
    }

    const ourPrevTerm = this.log.term(prevIndex);
    if (ourPrevTerm !== prevTerm) {
      // Fast backtracking: tell the leader the conflicting term and where it starts here,
      // or how long our log is, so it can skip a whole term per round trip.
      if (ourPrevTerm === -1) {
        this.replyAppend(m.from, m.round, false, m.prevLogIndex, 0, this.log.lastIndex() + 1);
      } else {
        this.replyAppend(m.from, m.round, false, m.prevLogIndex, ourPrevTerm, this.log.firstIndexOfTermEndingAt(prevIndex));
      }
      return OK;
    }

    // Append what is new. Truncate only at a real conflict: a stale or duplicated AppendEntries
    // whose entries all match must never shorten the log.
    const last = this.log.lastIndex();
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]!;
      if (e.index <= last) {
        if (this.log.term(e.index) === e.term) continue;
        if (e.index <= this.commitIndex) {
          // Only a faulty peer can contradict a committed entry; refuse it, change nothing more.
          return { ok: false, reason: 'invalid-message', detail: `entry ${e.index} of term ${e.term} contradicts a committed entry` };
        }
        this.log.truncateFrom(e.index);
        this.noteRewrite(e.index);
      }
      for (let j = k; j < entries.length; j++) this.log.append(entries[j]!);
      break;
    }

    const lastNew = prevIndex + entries.length;
    // Figure 2: commitIndex = min(leaderCommit, index of last new entry); it never goes back.
    const newCommit = Math.min(m.leaderCommit, lastNew);
    if (newCommit > this.commitIndex) this.commitIndex = newCommit;
    // An accepted quiet heartbeat needs no answer: the leader knows we match (AppendEntries.quiet).
    if (m.quiet === true && entries.length === 0) return OK;
    this.replyAppend(m.from, m.round, true, lastNew, 0, 0);
    return OK;
  }

  /** Log entries from `index` on were replaced: what was stored there, or in flight, is stale. */
  private noteRewrite(index: LogIndex): void {
    if (this.unstableFrom > index) this.unstableFrom = index;
    if (this.stableIndex >= index) this.stableIndex = index - 1;
    this.lastRewriteSeq = this.seq + 1;
  }

  private replyAppend(to: PeerId, round: number, success: boolean, matchIndex: LogIndex, conflictTerm: Term, conflictIndex: LogIndex): void {
    const reply: AppendEntriesReply = {
      type: MsgType.AppendEntriesReply,
      term: this.term,
      from: this.id,
      to,
      success,
      matchIndex,
      conflictTerm,
      conflictIndex,
      round,
    };
    this.messagesAfterPersist.push(reply);
  }

  // ------------------------------------------------------------------ AppendEntries (leader)

  private handleAppendReply(m: AppendEntriesReply): void {
    if (this.role !== Role.Leader) return;
    const pr = this.progress[m.from]!;
    pr.recentActive = true;
    // Any reply in our term, even a rejection, shows the follower still takes us as leader.
    if (m.round > pr.ackedRound && m.round <= this.round) {
      pr.ackedRound = m.round;
      this.onRoundAcked();
    }
    if (m.success) {
      if (m.matchIndex > this.log.lastIndex()) return; // impossible for an honest follower: ignore
      const moved = pr.maybeUpdate(m.matchIndex);
      pr.paused = false;
      if (pr.state === ProgressState.Probe && moved) pr.becomeReplicate();
      else if (pr.state === ProgressState.Probe && pr.match + 1 === pr.next) pr.becomeReplicate();
      pr.inflights.freeUpTo(pr.match);
      if (pr.state === ProgressState.Replicate && pr.next <= pr.match) pr.next = pr.match + 1;
      if (moved) this.maybeCommit();
      return;
    }
    // A rejection of prevLogIndex = m.matchIndex.
    const rejected = m.matchIndex;
    if (pr.state === ProgressState.Replicate) {
      if (rejected <= pr.match) return; // stale: we already know it matches further on
    } else if (pr.state === ProgressState.Probe) {
      if (rejected !== pr.next - 1) return; // stale: not the probe we are waiting for
    } else {
      return; // a snapshot is on its way
    }
    let next: LogIndex;
    if (m.conflictTerm > 0) {
      const ours = this.log.lastIndexOfTerm(m.conflictTerm, rejected);
      next = ours > 0 ? ours + 1 : m.conflictIndex;
    } else {
      next = m.conflictIndex;
    }
    pr.becomeProbe();
    pr.next = Math.max(pr.match + 1, Math.min(next, rejected));
  }

  private handleSnapshotReply(m: InstallSnapshotReply): void {
    if (this.role !== Role.Leader) return;
    const pr = this.progress[m.from]!;
    pr.recentActive = true;
    if (pr.state !== ProgressState.Snapshot) {
      pr.maybeUpdate(Math.min(m.matchIndex, this.log.lastIndex()));
      return;
    }
    if (m.matchIndex <= this.log.lastIndex() && pr.maybeUpdate(m.matchIndex)) this.maybeCommit();
    pr.becomeProbe();
  }

  /** Commit the highest index stored on a majority, if it is of the current term (Figure 8). */
  private maybeCommit(): void {
    const matches = this.matchScratch;
    for (let p = 0; p < this.peers; p++) matches[p] = this.progress[p]!.match;
    matches.sort((a, b) => b - a);
    const n = matches[this.quorum - 1]!;
    if (n > this.commitIndex && this.log.term(n) === this.term) {
      this.commitIndex = n;
      if (this.deferredReads.length > 0) {
        const deferred = this.deferredReads;
        this.deferredReads = [];
        for (const ctx of deferred) this.readIndex(ctx);
      }
    }
  }

  private hasAppendToSend(): boolean {
    const last = this.log.lastIndex();
    for (let p = 0; p < this.peers; p++) {
      if (p === this.id) continue;
      const pr = this.progress[p]!;
      if (pr.next <= last && pr.canSend()) return true;
    }
    return false;
  }

  /**
   * Sends what each follower can take now. With `heartbeat`, every follower gets at least one
   * AppendEntries (empty if there is nothing new), which also carries leaderCommit and, in
   * replicate state, reveals lost messages: an empty append at next - 1 is rejected when the
   * entries before it never arrived.
   */
  private sendAppends(heartbeat: boolean): void {
    for (let p = 0; p < this.peers; p++) {
      if (p === this.id) continue;
      const pr = this.progress[p]!;
      if (heartbeat && pr.state === ProgressState.Probe) pr.paused = false;
      let sent = false;
      while (this.sendAppend(p, pr)) sent = true;
      if (!heartbeat || sent) continue;
      if (pr.state === ProgressState.Snapshot) this.sendSnapshotHeartbeat(p, pr);
      else this.sendEmptyAppend(p, pr);
    }
  }

  /** Sends one AppendEntries (or an InstallSnapshot) carrying entries if allowed; returns whether it did. */
  private sendAppend(to: PeerId, pr: Progress): boolean {
    if (!pr.canSend()) return false;
    if (pr.next <= this.log.snapshotIndex) {
      this.sendSnapshot(to, pr);
      return false;
    }
    const last = this.log.lastIndex();
    if (pr.next > last) return false;
    const entries = this.log.sliceBytes(pr.next, this.cfg.maxMsgEntries, this.cfg.maxMsgBytes);
    const prevLogIndex = pr.next - 1;
    const msg: AppendEntries = {
      type: MsgType.AppendEntries,
      term: this.term,
      from: this.id,
      to,
      prevLogIndex,
      prevLogTerm: this.log.term(prevLogIndex),
      entries,
      leaderCommit: this.commitIndex,
      round: this.round,
    };
    this.messages.push(msg);
    this.busyAt = this.leaderTicks;
    const lastSent = entries[entries.length - 1]!.index;
    if (pr.state === ProgressState.Replicate) {
      let bytes = 0;
      for (const e of entries) bytes += e.data.length;
      pr.inflights.add(lastSent, bytes);
      pr.next = lastSent + 1;
    } else {
      pr.paused = true;
    }
    return true;
  }

  private sendEmptyAppend(to: PeerId, pr: Progress): void {
    if (pr.next <= this.log.snapshotIndex) {
      this.sendSnapshot(to, pr);
      return;
    }
    const prevLogIndex = pr.next - 1;
    const quiet = this.quietHeartbeat(pr);
    this.messages.push({
      type: MsgType.AppendEntries,
      term: this.term,
      from: this.id,
      to,
      prevLogIndex,
      prevLogTerm: this.log.term(prevLogIndex),
      entries: EMPTY,
      leaderCommit: this.commitIndex,
      round: this.round,
      ...(quiet ? { quiet } : {}),
    });
    if (pr.state === ProgressState.Probe) pr.paused = true;
  }

  /**
   * Whether a heartbeat to this follower may go unanswered (AppendEntries.quiet), which spares an
   * idle cluster most of its reply traffic. Only when nothing can depend on the answer: the
   * follower is known to match our whole log (an answer would teach us nothing about it), no
   * read waits on a round, no lease read was asked for within an election timeout (so a leader
   * serving lease reads renews its lease every round, as before), and the follower has already
   * answered in this check-quorum window: until it does, every heartbeat asks, exactly as
   * without quiet heartbeats, so check-quorum sees a live follower as often as before (under long
   * reordering too). Safety never depends on this: fewer answers confirm fewer rounds, never more.
   */
  private quietHeartbeat(pr: Progress): boolean {
    return (
      pr.state === ProgressState.Replicate &&
      pr.match >= this.log.lastIndex() &&
      this.pendingReads.length === 0 &&
      this.deferredReads.length === 0 &&
      this.leaderTicks - this.leaseAskedAt >= this.cfg.electionTicks &&
      pr.recentActive
    );
  }

  /**
   * While a snapshot is on its way the follower still needs heartbeats, or its election timer
   * fires and it deposes a healthy leader. An empty append after index 0 matches any log and
   * changes nothing but the follower's timer (its commitIndex cannot move past index 0 from it).
   */
  private sendSnapshotHeartbeat(to: PeerId, _pr: Progress): void {
    this.messages.push({
      type: MsgType.AppendEntries,
      term: this.term,
      from: this.id,
      to,
      prevLogIndex: 0,
      prevLogTerm: 0,
      entries: EMPTY,
      leaderCommit: this.commitIndex,
      round: this.round,
    });
  }

  private sendSnapshot(to: PeerId, pr: Progress): void {
    const msg: InstallSnapshot = {
      type: MsgType.InstallSnapshot,
      term: this.term,
      from: this.id,
      to,
      lastIncludedIndex: this.log.snapshotIndex,
      lastIncludedTerm: this.log.snapshotTerm,
      offset: 0,
      total: 0, // the driver attaches the bytes it holds, and their size
      data: NO_DATA,
    };
    this.messages.push(msg);
    pr.becomeSnapshot(this.log.snapshotIndex);
  }

  // ------------------------------------------------------------------ InstallSnapshot (follower)

  private handleInstallSnapshot(m: InstallSnapshot): void {
    if (this.role !== Role.Follower) this.becomeFollower(this.term, m.from);
    this.leaderId = m.from;
    this.resetElectionTimer();
    if (m.lastIncludedIndex > this.commitIndex) {
      this.log.restore(m.lastIncludedIndex, m.lastIncludedTerm);
      this.pendingSnapshot = { index: m.lastIncludedIndex, term: m.lastIncludedTerm, data: m.data };
      this.commitIndex = m.lastIncludedIndex;
      this.lastApplied = m.lastIncludedIndex;
      // Whatever was stored or in flight is superseded by this write.
      this.unstableFrom = Math.max(this.log.snapshotIndex + 1, Math.min(this.unstableFrom, this.log.lastIndex() + 1));
      if (this.stableIndex > this.log.snapshotIndex) this.stableIndex = this.log.snapshotIndex;
      this.lastRewriteSeq = this.seq + 1;
    }
    const reply: InstallSnapshotReply = {
      type: MsgType.InstallSnapshotReply,
      term: this.term,
      from: this.id,
      to: m.from,
      matchIndex: this.commitIndex,
    };
    this.messagesAfterPersist.push(reply);
  }

  // ------------------------------------------------------------------ stale terms

  /** A message from an older term: answer requests so a stale leader or candidate learns our term. */
  private answerStale(m: Message): void {
    switch (m.type) {
      case MsgType.RequestVote:
        this.messagesAfterPersist.push({ type: MsgType.RequestVoteReply, term: this.term, from: this.id, to: m.from, voteGranted: false, preVote: false });
        return;
      case MsgType.AppendEntries:
        this.replyAppend(m.from, m.round, false, m.prevLogIndex, 0, 0);
        return;
      case MsgType.InstallSnapshot:
        this.messagesAfterPersist.push({ type: MsgType.InstallSnapshotReply, term: this.term, from: this.id, to: m.from, matchIndex: 0 });
        return;
      default:
        return; // stale replies carry nothing we can use
    }
  }
}

function assertNever(x: never): never {
  throw new Error(`unexpected message ${JSON.stringify(x)}`);
}
