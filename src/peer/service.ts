import type { RaftStatus } from '../core/raft.js';
import type { Entry, LogIndex, ProposeResult, Snapshot, StepResult } from '../core/types.js';
import type { LogStore } from '../storage/log-store.js';
import type { FaultTableView } from '../transport/fault-table.js';
import type { MessagePort } from 'node:worker_threads';
import type { PiggybackAux } from './driver.js';

/**
 * A replicated service hosted inside each peer worker (the KV store's state machine is one).
 * The worker loads it from a module before the core starts, feeds it committed entries in order,
 * and forwards control calls to it. It runs on the peer's thread, next to the core: reads and
 * applies never cross to the main thread.
 */
export interface PeerService {
  /**
   * Called once storage is open, before the core starts. Returns the index the service has
   * already applied durably (0 if none): entries up to it are not delivered again, so a
   * restart does not replay the log.
   */
  open(ctx: ServiceContext): Promise<{ appliedIndex: LogIndex }>;
  /** Committed entries, in index order, no-ops included (they advance the applied index). */
  apply(entries: readonly Entry[]): void;
  /** Replace the state with a snapshot (installed from the leader, or newer than the service's own state at start). */
  restore(snapshot: Snapshot): void;
  /**
   * Optional: state applied and not yet stored, handed over to ride in the transaction of the
   * log write the peer is about to issue (see ApplySink.takeAux in driver.ts); null if none.
   */
  takeAux?(): PiggybackAux | null;
  /** A call from the main thread (Cluster.callService). */
  call(request: unknown): Promise<unknown>;
  /** A port from the main thread for the service's own traffic (clients). */
  connect?(port: MessagePort): void;
  close(): Promise<void>;
}

/** What the worker gives its service. */
export interface ServiceContext {
  readonly id: number;
  readonly peers: number;
  /** The peer's store: aux tables for the service's state, written in its own transactions. */
  readonly store: LogStore;
  /** The cluster's network settings, for applying the same faults to the service's own traffic. */
  readonly faults: FaultTableView;
  /** The options given to Cluster.start({ service }). */
  readonly options: unknown;
  propose(command: Uint8Array): ProposeResult;
  proposeBatch(commands: readonly Uint8Array[]): ProposeResult;
  /** ReadIndex: resolves with the index to wait for before serving a linearizable read; rejects if not leader. */
  readIndex(): Promise<LogIndex>;
  /**
   * Sends now what the calls above asked for (a read round's heartbeats, proposals' appends)
   * instead of at the end of the event-loop turn, so they travel while the service goes on.
   */
  flush(): void;
  /** A lease read: the index to serve at, if this peer leads and its lease holds. */
  leaseRead(): ProposeResult;
  status(): RaftStatus;
  /** Compacts the log up to `index`, storing `data` as the snapshot. */
  snapshot(index: LogIndex, data: Uint8Array): Promise<StepResult>;
  logBytes(): number;
}

/** The module named in Cluster.start({ service }) exports this. */
export type ServiceFactory = () => PeerService;

export class NotLeaderError extends Error {
  override name = 'NotLeaderError';
  constructor(readonly leaderHint: number) {
    super('not the leader');
  }
}
