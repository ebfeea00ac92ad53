import type { RaftCore } from '../core/raft.js';
import { EntryKind, type Entry, type LogIndex, type Term } from '../core/types.js';

export type InvariantName =
  | 'ElectionSafety'
  | 'LeaderAppendOnly'
  | 'LogMatching'
  | 'LeaderCompleteness'
  | 'StateMachineSafety'
  | 'CommitMonotonic'
  | 'AppliedInOrder'
  | 'Durability'
  | 'ReadLinearizable';

export class InvariantViolation extends Error {
  override name = 'InvariantViolation';
  constructor(readonly invariant: InvariantName, detail: string) {
    super(`${invariant} violated: ${detail}`);
  }
}

/** A stable text key for an entry's content, so two entries can be compared cheaply. */
export function entryKey(e: Entry): string {
  if (e.kind === EntryKind.Noop) return `noop@${e.term}`;
  let s = '';
  for (let i = 0; i < e.data.length; i++) s += String.fromCharCode(e.data[i]!);
  return s;
}

/**
 * Checks the Raft safety properties (Figure 3 of the extended paper) plus the driver-visible
 * ones, from what every peer does. The simulator calls it after every event; any breach throws
 * an InvariantViolation naming the property.
 */
export class SafetyChecker {
  /** term -> the one peer that led it. */
  private leaders = new Map<Term, number>();
  /** (index, term) -> content key and the previous entry's term: Log Matching, by induction. */
  private entryIdentity = new Map<string, string>();
  /** index -> term of the committed entry there (from any peer's commitIndex). */
  private committedTerm = new Map<LogIndex, Term>();
  /**
   * index -> the term in which it was first seen committed: the observing peer's term, which is
   * at or after the term of the leader that committed it (a follower learns commits from a
   * leader of its own term).
   */
  private commitSeenInTerm = new Map<LogIndex, Term>();
  private maxCommitted = 0;
  /** index -> the content applied there, and the state machine's hash after applying it. */
  private appliedKey = new Map<LogIndex, string>();
  private hashAt = new Map<LogIndex, number>();
  /** Per peer incarnation: last leader log position seen, last commitIndex seen. */
  private leaderTail: ({ term: Term; index: LogIndex; tailTerm: Term } | null)[];
  private lastCommit: number[];

  constructor(peers: number) {
    this.leaderTail = new Array(peers).fill(null);
    this.lastCommit = new Array<number>(peers).fill(0);
  }

  /** A peer restarted: its volatile state (commitIndex, leadership) starts over. */
  restarted(peer: number, commitIndex: LogIndex): void {
    this.leaderTail[peer] = null;
    this.lastCommit[peer] = commitIndex;
  }

  /** After every event that touched `peer`. */
  observe(peer: number, core: RaftCore): void {
    const st = core.status();
    const log = core.log;

    if (st.role === 'leader') {
      const other = this.leaders.get(st.term);
      if (other === undefined) {
        this.leaders.set(st.term, peer);
        this.checkCompleteness(peer, core);
      } else if (other !== peer) {
        throw new InvariantViolation('ElectionSafety', `peers ${other} and ${peer} both led term ${st.term}`);
      }
      const tail = this.leaderTail[peer];
      if (tail && tail.term === st.term && tail.index > log.snapshotIndex) {
        if (log.term(tail.index) !== tail.tailTerm) {
          throw new InvariantViolation('LeaderAppendOnly', `leader ${peer} (term ${st.term}) lost or changed its entry ${tail.index}`);
        }
      }
      this.leaderTail[peer] = { term: st.term, index: log.lastIndex(), tailTerm: log.lastTerm() };
    } else {
      this.leaderTail[peer] = null;
    }

    if (st.commitIndex < this.lastCommit[peer]!) {
      throw new InvariantViolation('CommitMonotonic', `peer ${peer} commitIndex went from ${this.lastCommit[peer]} to ${st.commitIndex}`);
    }
    // Record what this peer says is committed, and check it agrees with what others said.
    for (let i = Math.max(this.lastCommit[peer]!, log.snapshotIndex) + 1; i <= st.commitIndex; i++) {
      const t = log.term(i);
      const known = this.committedTerm.get(i);
      if (known === undefined) {
        this.committedTerm.set(i, t);
        this.commitSeenInTerm.set(i, st.term);
      } else if (known !== t) {
        throw new InvariantViolation('StateMachineSafety', `index ${i} committed with term ${known} on one peer and ${t} on peer ${peer}`);
      }
      if (i > this.maxCommitted) this.maxCommitted = i;
    }
    this.lastCommit[peer] = st.commitIndex;
  }

  /**
   * Leader Completeness: an entry committed in term t is in the log of every leader of a term
   * above t. (A leader of an older term can still appear late, when votes for its term arrive
   * long after: it holds no such promise, and its followers' higher terms depose it at once.)
   */
  private checkCompleteness(peer: number, core: RaftCore): void {
    const log = core.log;
    const term = core.status().term;
    for (let i = log.snapshotIndex + 1; i <= this.maxCommitted; i++) {
      const t = this.committedTerm.get(i);
      const seen = this.commitSeenInTerm.get(i);
      if (t !== undefined && seen !== undefined && seen < term && log.term(i) !== t) {
        throw new InvariantViolation(
          'LeaderCompleteness',
          `leader ${peer} of term ${core.status().term} lacks committed entry ${i} (term ${t}); it has term ${log.term(i)}`,
        );
      }
    }
  }

  /** Entries a peer is about to persist; `prevTerm` is the term of the entry before the first. */
  appended(peer: number, entries: readonly Entry[], prevTerm: Term): void {
    let prev = prevTerm;
    for (const e of entries) {
      const id = `${e.index}:${e.term}`;
      const content = `${prev}|${entryKey(e)}`;
      const known = this.entryIdentity.get(id);
      if (known === undefined) this.entryIdentity.set(id, content);
      else if (known !== content) {
        throw new InvariantViolation('LogMatching', `peer ${peer} holds a different entry ${e.index} of term ${e.term} (or a different predecessor)`);
      }
      prev = e.term;
    }
  }

  /** A peer applied `entry` after `lastApplied`; its state machine hash is now `hash`. */
  applied(peer: number, lastApplied: LogIndex, entry: Entry, hash: number): void {
    if (entry.index !== lastApplied + 1) {
      throw new InvariantViolation('AppliedInOrder', `peer ${peer} applied ${entry.index} after ${lastApplied}`);
    }
    const key = entryKey(entry);
    const known = this.appliedKey.get(entry.index);
    if (known === undefined) {
      this.appliedKey.set(entry.index, key);
      this.hashAt.set(entry.index, hash);
    } else if (known !== key) {
      throw new InvariantViolation('StateMachineSafety', `peer ${peer} applied ${JSON.stringify(key)} at ${entry.index}, another peer ${JSON.stringify(known)}`);
    }
  }

  /** A peer loaded a snapshot into its state machine. */
  snapshotApplied(peer: number, index: LogIndex, hash: number): void {
    const known = this.hashAt.get(index);
    if (known !== undefined && known !== hash) {
      throw new InvariantViolation('StateMachineSafety', `peer ${peer} loaded a snapshot at ${index} whose state differs from what peers applied`);
    }
  }

  /** The highest index any peer has reported committed so far: a read starting now must see it. */
  get committedFloor(): LogIndex {
    return this.maxCommitted;
  }

  /** A read that began when `floor` was committed somewhere was served at `index`. */
  readServed(peer: number, floor: LogIndex, index: LogIndex, how: string): void {
    if (index < floor) {
      throw new InvariantViolation('ReadLinearizable', `${how} on peer ${peer} was served at index ${index}, but ${floor} was already committed when the read began`);
    }
  }

  /** Every command a client saw committed must still be applied at its index by someone. */
  appliedAt(index: LogIndex): string | undefined {
    return this.appliedKey.get(index);
  }
}
