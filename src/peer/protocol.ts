import type { MessagePort } from 'node:worker_threads';
import type { LogIndex, Role, Term } from '../core/types.js';
import type { StageDump } from '../profile/stage-log.js';

/** Everything a peer worker is started with (workerData). Ports arrive through the transfer list. */
export interface PeerBoot {
  readonly id: number;
  readonly peers: number;
  readonly clusterId: string;
  readonly storage: 'lmdb' | 'memory';
  /** The peer's own LMDB directory (lmdb storage). */
  readonly dir: string | null;
  /** false: LMDB without fsync, for tests that do not test durability. */
  readonly sync: boolean;
  readonly faultTable: SharedArrayBuffer;
  /** ports[j]: the channel to peer j, or null when j is down (it is attached when j restarts). */
  readonly ports: (MessagePort | null)[];
  /** Where committed entries and snapshots go, to the main thread. */
  readonly applyPort: MessagePort;
  readonly timing: PeerTiming;
  /** Seeds the election-timeout generator; differs per peer and per incarnation. */
  readonly seed: number;
  /** A replicated service to host in the worker (src/peer/service.ts), or null for the apply stream. */
  readonly service: { readonly module: string; readonly options: unknown } | null;
}

export interface PeerTiming {
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly maxElectionTicks: number;
  readonly heartbeatTicks: number;
  readonly checkQuorum: boolean;
}

/** What propose returns, as 6.824's Start(): at once, never waiting for the commit. */
export interface ProposeReply {
  readonly index: LogIndex;
  readonly term: Term;
  readonly isLeader: boolean;
}

export interface PeerState {
  readonly term: Term;
  readonly isLeader: boolean;
  readonly role: Role;
  readonly leaderId: number;
  readonly commitIndex: LogIndex;
  readonly lastApplied: LogIndex;
  readonly lastLogIndex: LogIndex;
  readonly snapshotIndex: LogIndex;
}

/** The control plane a peer worker exposes to the main thread (through comlink). */
export interface PeerControl {
  /** Resolves once the peer has opened its storage and started; rejects with the reason otherwise. */
  booted(): Promise<void>;
  propose(command: Uint8Array): ProposeReply;
  /** Appends many commands in one call: the fast path for high throughput. */
  proposeBatch(commands: Uint8Array[]): ProposeReply;
  /** proposeBatch with the commands packed in one transferred buffer (command-batch.ts). */
  proposePacked(packed: Uint8Array): ProposeReply;
  state(): PeerState;
  /** Rejects with a message when the index is above lastApplied. */
  snapshot(index: LogIndex, data: Uint8Array): Promise<void>;
  /** A fresh channel to a peer that (re)started. */
  attachPeer(peer: number, port: MessagePort): void;
  logBytes(): Promise<number>;
  /** Forwards a call to the hosted service. */
  callService(request: unknown): Promise<unknown>;
  /** Hands the hosted service a port for its own traffic. */
  connectService(port: MessagePort): void;
  /** Graceful stop: no more output, storage closed. */
  shutdown(): Promise<void>;
  /**
   * The step before a crash (worker.terminate()): stop acknowledging and let LMDB finish the
   * transaction in flight. lmdb-js 3.5 can hang or abort the process when a worker is terminated
   * mid-write; writes not yet acknowledged may or may not survive, as in any crash.
   */
  haltStorage(): Promise<void>;

  // Profiling (src/profile, npm run profile); nothing here runs unless asked for.
  /** Starts the V8 CPU profiler of this worker (node:inspector), sampling every `intervalUs`. */
  startProfile(intervalUs: number): Promise<void>;
  /** Stops it and returns the .cpuprofile JSON. */
  stopProfile(): Promise<string>;
  /**
   * Starts recording stage timestamps on the hot path, on the clock of the thread whose
   * performance.timeOrigin is `epochMs`; returns this worker's "now" on that clock.
   */
  startStages(epochMs: number): number;
  /** Stops recording and returns the records, with the thread's GC pauses meanwhile. */
  stopStages(): Promise<StageDump | null>;
  /** This worker's OS thread id (as /proc/self/task lists it), or null off Linux. */
  osThreadId(): number | null;
}
