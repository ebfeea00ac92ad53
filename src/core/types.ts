/**
 * The vocabulary of the Raft core: log entries, hard state, messages and the
 * output batch (Ready). Everything here is plain data so it can cross a
 * MessagePort or be encoded by src/transport/codec.ts without translation.
 *
 * Names follow Figure 2 of the extended Raft paper.
 */

/** A Raft term. Starts at 0; a peer's first election moves it to 1. */
export type Term = number;
/** A position in the log. The first real entry has index 1; 0 means "before the log". */
export type LogIndex = number;
/** A peer's index in the cluster, 0 .. peers-1. */
export type PeerId = number;

/** What an entry carries. A no-op is appended by every new leader (section 8 of the paper). */
export const EntryKind = { Normal: 0, Noop: 1 } as const;
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind];

export interface Entry {
  readonly index: LogIndex;
  readonly term: Term;
  readonly kind: EntryKind;
  /** The service's command, opaque to Raft. Empty for a no-op. */
  readonly data: Uint8Array;
}

/** The state that must be durable before a peer answers any RPC (Figure 2, "Persistent state"). */
export interface HardState {
  readonly currentTerm: Term;
  /** -1 when the peer has voted for nobody in currentTerm. */
  readonly votedFor: PeerId | -1;
}

/** Metadata of the state machine snapshot that replaces the log up to `index`. */
export interface SnapshotMeta {
  readonly index: LogIndex;
  readonly term: Term;
}

export interface Snapshot extends SnapshotMeta {
  readonly data: Uint8Array;
}

/** Message kinds as small numbers: cheap to clone, cheap to encode. */
export const MsgType = {
  RequestVote: 1,
  RequestVoteReply: 2,
  AppendEntries: 3,
  AppendEntriesReply: 4,
  InstallSnapshot: 5,
  InstallSnapshotReply: 6,
  SnapshotChunkAck: 7,
} as const;
export type MsgType = (typeof MsgType)[keyof typeof MsgType];

interface Envelope {
  readonly term: Term;
  readonly from: PeerId;
  readonly to: PeerId;
}

export interface RequestVote extends Envelope {
  readonly type: typeof MsgType.RequestVote;
  readonly lastLogIndex: LogIndex;
  readonly lastLogTerm: Term;
  /**
   * A Pre-Vote (section 9.6 of Ongaro's thesis): "would you vote for me in `term`?". Nobody
   * changes term or vote for it, so a peer cut off from the cluster cannot inflate terms and
   * depose a healthy leader when it comes back.
   */
  readonly preVote: boolean;
}

export interface RequestVoteReply extends Envelope {
  readonly type: typeof MsgType.RequestVoteReply;
  readonly voteGranted: boolean;
  readonly preVote: boolean;
}

export interface AppendEntries extends Envelope {
  readonly type: typeof MsgType.AppendEntries;
  readonly prevLogIndex: LogIndex;
  readonly prevLogTerm: Term;
  readonly entries: readonly Entry[];
  readonly leaderCommit: LogIndex;
  /**
   * The leader's heartbeat round when it sent this; echoed in the reply. A reply echoing round r
   * proves the follower still took us as leader after round r began: that is what confirms a
   * ReadIndex and renews the leader's lease.
   */
  readonly round: number;
  /**
   * A heartbeat (no entries) that needs no reply if the follower accepts it: the leader already
   * knows this follower matches its whole log, and no read, lease or quorum check is waiting for
   * this round. A rejection is always answered. Absent or false: answer as usual. Idle clusters
   * so send a reply for a fraction of their heartbeats instead of for every one.
   */
  readonly quiet?: boolean;
}

export interface AppendEntriesReply extends Envelope {
  readonly type: typeof MsgType.AppendEntriesReply;
  readonly success: boolean;
  /**
   * On success: the highest index known to match the leader's log (and durable here).
   * On rejection: the prevLogIndex that was rejected, so the leader can tell a stale reply.
   */
  readonly matchIndex: LogIndex;
  /** On rejection: the term of the follower's entry at prevLogIndex, or 0 if it has none there. */
  readonly conflictTerm: Term;
  /** On rejection: the first index the follower holds for conflictTerm, or its lastIndex + 1. */
  readonly conflictIndex: LogIndex;
  /** The round of the AppendEntries this answers. */
  readonly round: number;
}

export interface InstallSnapshot extends Envelope {
  readonly type: typeof MsgType.InstallSnapshot;
  readonly lastIncludedIndex: LogIndex;
  readonly lastIncludedTerm: Term;
  /**
   * Where `data` starts in the snapshot, and the snapshot's whole size (Figure 13's offset and
   * done). The core takes only whole snapshots (offset 0, data.length === total); the drivers
   * split a large one into chunks and put it back together (src/peer/snapshot-stream.ts).
   */
  readonly offset: number;
  readonly total: number;
  /**
   * The snapshot's bytes. The core leaves this empty on the leader side; the driver
   * attaches (or streams) the bytes it keeps in storage, since the core holds no snapshot data.
   */
  readonly data: Uint8Array;
}

/**
 * Flow control for a streamed snapshot: the follower has received the chunks of snapshot `index`
 * up to byte `offset`. Transport-level: drivers exchange it; the core never sees it.
 */
export interface SnapshotChunkAck extends Envelope {
  readonly type: typeof MsgType.SnapshotChunkAck;
  readonly index: LogIndex;
  readonly offset: number;
}

export interface InstallSnapshotReply extends Envelope {
  readonly type: typeof MsgType.InstallSnapshotReply;
  /** The index up to which the follower's state now matches the leader (its commitIndex). */
  readonly matchIndex: LogIndex;
}

export type Message =
  | RequestVote
  | RequestVoteReply
  | AppendEntries
  | AppendEntriesReply
  | InstallSnapshot
  | InstallSnapshotReply
  | SnapshotChunkAck;

export const Role = { Follower: 'follower', PreCandidate: 'precandidate', Candidate: 'candidate', Leader: 'leader' } as const;
export type Role = (typeof Role)[keyof typeof Role];

/**
 * One output batch of the core. The driver must, in this order:
 *   1. send `messages` (they promise nothing about local durability);
 *   2. make `hardState`, `snapshot` and `entries` durable, in one atomic write;
 *      `entries[0].index` is where the write starts: every stored entry at or after it is replaced;
 *   3. apply `committed` to the state machine, in order, once the write of step 2 is issued;
 *      it need not be durable yet (every committed entry is durable on a majority). Storage
 *      must make writes durable in issue order, so whatever the state machine stores after
 *      applying lands after the log entries it covers. `snapshot` (if set) goes to the state
 *      machine before `committed`; a state machine that stores it in a transaction of its own
 *      takes it before step 2, so that transaction lands before the write that drops the log;
 *   4. when that write and every earlier Ready's write are durable, call `core.persisted(ready)`
 *      and then send `messagesAfterPersist` (votes, append acks: they promise durable state).
 * Readies may be pipelined: step 2 of a later Ready may start before step 4 of an earlier one,
 * as long as writes become durable, and step 4 runs, in Ready order.
 */
export interface Ready {
  /** Increases by one per Ready; lets the driver and the core agree on what is durable. */
  readonly seq: number;
  readonly hardState: HardState | null;
  /**
   * A snapshot received through InstallSnapshot: store it durably in the same write, and hand it
   * to the state machine before `committed`. Storage keeps the stored entries after it only if
   * the stored entry at snapshot.index has snapshot.term (the log then extends the snapshot);
   * otherwise it deletes every stored entry (section 7 of the paper).
   */
  readonly snapshot: Snapshot | null;
  readonly entries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly messagesAfterPersist: readonly Message[];
  /**
   * Entries now committed (durable on a majority), to apply in index order after this Ready's
   * write is issued; their local write is in this Ready or an earlier one, maybe not durable yet.
   */
  readonly committed: readonly Entry[];
  /**
   * Linearizable reads now confirmed (ReadIndex, section 6.4 of Ongaro's thesis): serve read
   * `ctx` once the state machine has applied `index`.
   */
  readonly readStates: readonly ReadState[];
}

export interface ReadState {
  readonly ctx: number;
  readonly index: LogIndex;
}

/** Why the core refused an input. Inputs never throw; they return one of these. */
export type Rejection =
  | { readonly ok: false; readonly reason: 'not-leader'; readonly leaderHint: PeerId | -1 }
  | { readonly ok: false; readonly reason: 'invalid-message'; readonly detail: string }
  | { readonly ok: false; readonly reason: 'invalid-snapshot'; readonly detail: string };

export type StepResult = { readonly ok: true } | Rejection;
export type ProposeResult =
  | { readonly ok: true; readonly index: LogIndex; readonly term: Term }
  | Rejection;
