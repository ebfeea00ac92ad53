/**
 * Replication workloads driven through the public Cluster API, shared by the benchmark suite
 * (bench/) and the profiler (src/cli/profile.ts).
 *
 * Nothing here spins: proposals are issued when the leader's apply stream reports commits
 * (onApply), so the main thread sleeps between apply batches and leaves the cores to the peers.
 */
import type { ApplyMsg, Cluster } from '../cluster/cluster.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `p`, or `fallback` once `ms` have passed, whichever comes first; the timer is cleared either
 * way, so a finished race never keeps the process alive.
 */
export function within<T, F>(p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<F>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/**
 * A command of `bytes` bytes: a Uint8Array, the cheapest command the Cluster takes (its log
 * stores it with a little framing of its own; the benchmark reports the log bytes per entry).
 */
export function commandOfSize(bytes: number): Uint8Array {
  if (!(Number.isInteger(bytes) && bytes >= 0)) throw new RangeError(`a command size must be a non-negative integer, got ${bytes}`);
  const cmd = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) cmd[i] = (i * 31 + 7) & 0xff;
  return cmd;
}

/** etcd's default --snapshot-count: how many applied entries a member keeps before it snapshots. */
export const DEFAULT_COMPACT_EVERY = 100_000;

const NO_STATE = new Uint8Array(0);

/**
 * Compacts every peer's log as a service on top of Raft does: once a peer has applied `every`
 * entries past its last snapshot, it snapshots at its applied index (cluster.snapshot), which
 * drops those entries from the peer's memory and its LMDB log. The workloads' commands carry no
 * state, so the snapshot data is empty. Without this a long run keeps every entry it ever
 * committed, in every worker's heap (a growing cost for the garbage collector) and on disk.
 */
export class Compactor {
  /** Snapshots taken, and the last error (a snapshot refused or failed), if any. */
  snapshots = 0;
  lastError: Error | null = null;
  private readonly base: number[];
  private readonly busy: boolean[];
  /** The highest index each peer has applied, as seen here (applies keep coming while a snapshot is taken). */
  private readonly latest: number[];
  private readonly off: () => void;
  private closed = false;

  constructor(
    private readonly cluster: Cluster,
    private readonly every: number,
  ) {
    if (!(Number.isInteger(every) && every >= 1)) throw new RangeError(`compact every: a positive integer, got ${every}`);
    this.base = new Array<number>(cluster.peers).fill(0);
    this.busy = new Array<boolean>(cluster.peers).fill(false);
    this.latest = new Array<number>(cluster.peers).fill(0);
    this.off = cluster.onApply(this.listener);
  }

  close(): void {
    this.closed = true;
    this.off();
  }

  private readonly listener = (peer: number, msg: ApplyMsg): void => {
    if (msg.type === 'snapshot') this.base[peer] = msg.index;
    this.latest[peer] = Math.max(this.latest[peer]!, msg.index);
    this.maybeSnapshot(peer);
  };

  private maybeSnapshot(peer: number): void {
    if (this.closed || this.busy[peer] || this.latest[peer]! - this.base[peer]! < this.every) return;
    this.busy[peer] = true;
    const index = this.latest[peer]!;
    const done = (): void => {
      this.base[peer] = index;
      this.busy[peer] = false;
      // What was applied while this snapshot was taken may be due a snapshot of its own, and
      // no further apply may come to ask for it (the workload has stopped).
      this.maybeSnapshot(peer);
    };
    this.cluster.snapshot(peer, index, NO_STATE).then(
      () => {
        this.snapshots++;
        done();
      },
      (err: unknown) => {
        // A peer that crashed or restarted meanwhile: try again from its next applies.
        this.lastError = err instanceof Error ? err : new Error(String(err));
        done();
      },
    );
  }
}

/** Resolves when the leader's apply stream (onApply) has reached an index. */
export class LeaderApplies {
  /** The highest index the leader has applied, as seen here. */
  appliedIndex = 0;
  private readonly waiters = new Map<number, () => void>();
  private readonly off: () => void;

  constructor(
    cluster: Cluster,
    private readonly leader: number,
  ) {
    this.off = cluster.onApply(this.listener);
  }

  private readonly listener = (peer: number, msg: ApplyMsg): void => {
    if (peer !== this.leader || msg.type !== 'entry') return;
    this.appliedIndex = msg.index;
    const w = this.waiters.get(msg.index);
    if (w) {
      this.waiters.delete(msg.index);
      w();
    }
  };

  /** Resolves once `index` is applied on the leader (at once if it already is). */
  wait(index: number): Promise<void> {
    if (this.appliedIndex >= index) return Promise.resolve();
    return new Promise((resolve) => this.waiters.set(index, resolve));
  }

  close(): void {
    this.off();
    this.waiters.clear();
  }
}

/**
 * Finds the leader and proves it can commit: a probe command proposed to it is applied on it.
 * Polls state() every 20 ms; throws after `timeoutMs`.
 */
export async function waitForLeader(cluster: Cluster, timeoutMs = 10_000, among?: readonly number[]): Promise<number> {
  const peers = among ?? Array.from({ length: cluster.peers }, (_, i) => i);
  const deadline = performance.now() + timeoutMs;
  const probe = new Uint8Array(1);
  while (performance.now() < deadline) {
    let leader = -1;
    let term = -1;
    for (const i of peers) {
      if (!cluster.isUp(i)) continue;
      try {
        const s = await cluster.state(i);
        if (s.isLeader && s.term > term) {
          leader = i;
          term = s.term;
        }
      } catch {
        /* down or restarting */
      }
    }
    if (leader >= 0) {
      const applies = new LeaderApplies(cluster, leader);
      try {
        const r = await cluster.propose(leader, probe);
        if (r.isLeader) {
          const ok = await within(applies.wait(r.index).then(() => true), 2000, false);
          if (ok) return leader;
        }
      } catch {
        /* lost it meanwhile */
      } finally {
        applies.close();
      }
    }
    await sleep(20);
  }
  throw new Error(`no leader that commits within ${timeoutMs} ms`);
}

/**
 * The workload's leader stopped leading while it ran: an election, which Raft allows at any time
 * (a stalled disk or a starved thread can delay heartbeats past a follower's timeout). A bench or
 * profile run may retry on the new leader; any other failure is a real one.
 */
export class LeadershipLostError extends Error {
  constructor(
    readonly peer: number,
    message: string,
  ) {
    super(message);
    this.name = 'LeadershipLostError';
  }
}

export interface PumpOptions {
  readonly cluster: Cluster;
  readonly leader: number;
  /** Proposals kept outstanding: proposed and not yet applied on the leader. */
  readonly outstanding: number;
  /** Any structured-cloneable value; commandOfSize() gives one of an exact size. */
  readonly command: unknown;
  /** true: refill with proposeBatch calls (the fast path); false: one propose() per command. */
  readonly batch: boolean;
  /**
   * With batch: the most commands one proposeBatch call carries (default: all of `outstanding`).
   * A window split into several calls keeps several batches in the pipeline at once (one being
   * written on the leader while the one before it is replicated), where one call for the whole
   * window moves in lockstep: propose all, wait for all, propose all again.
   */
  readonly chunk?: number;
  /** Called as each proposal call is made (t: performance.now()) and with its first index once it returns. */
  readonly onProposed?: (t: number, firstIndex: number, count: number) => void;
  /** Called once per apply batch of the leader with the batch's index range (t: at its first entry). */
  readonly onApplied?: (t: number, lo: number, hi: number) => void;
}

/**
 * Keeps `outstanding` proposals in flight on the leader, steadily: every apply batch the leader
 * streams back tops the window up again (proposeBatch calls of at most `chunk` commands, or one
 * propose() per command), from a microtask after that batch's listeners ran. Batched calls go
 * one at a time: the next is made when the leader has taken the previous one, so the chunks of
 * a window reach the leader in different event-loop turns and become separate, pipelined
 * writes. The main thread only ever waits on the apply stream and its calls; it never polls.
 */
export class Pump {
  /** Commands proposed and applied (on the leader) since start(). */
  proposed = 0;
  applied = 0;
  error: Error | null = null;
  private readonly o: PumpOptions;
  private readonly full: unknown[];
  private readonly chunk: number;
  /** A proposeBatch call is on its way to the leader (batched calls go one at a time). */
  private calling = false;
  private running = false;
  private queued = false;
  private batchLo = 0;
  private batchHi = 0;
  private batchT = 0;
  private off: (() => void) | null = null;
  private waiters: { n: number; resolve: () => void; reject: (e: Error) => void }[] = [];

  constructor(options: PumpOptions) {
    if (!(Number.isInteger(options.outstanding) && options.outstanding >= 1)) throw new RangeError('outstanding must be a positive integer');
    const chunk = options.chunk ?? options.outstanding;
    if (!(Number.isInteger(chunk) && chunk >= 1)) throw new RangeError('chunk must be a positive integer');
    this.o = options;
    this.chunk = Math.min(chunk, options.outstanding);
    this.full = new Array<unknown>(this.chunk).fill(options.command);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.off ??= this.o.cluster.onApply(this.listener);
    this.refill();
  }

  /** Resolves once `n` commands have been applied since start(); rejects if the workload fails. */
  waitApplied(n: number): Promise<void> {
    if (this.error) return Promise.reject(this.error);
    if (this.applied >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ n, resolve, reject });
    });
  }

  /** Stops proposing and waits (at most timeoutMs) for what is outstanding to apply. */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.running = false;
    const drained = this.waitApplied(this.proposed).then(() => true);
    try {
      const ok = await within(drained, timeoutMs, false);
      if (!ok) {
        // The usual cause: an election. Entries the old leader took but never replicated to a
        // majority are replaced by the new leader's, and will never apply.
        const st = await this.o.cluster.state(this.o.leader).catch(() => null);
        const why = st === null ? '' : st.isLeader ? ` (peer ${this.o.leader} still leads, term ${st.term})` : `: peer ${this.o.leader} no longer leads (term ${st.term}, leader ${st.leaderId}), and the new leader dropped what it had not replicated`;
        const msg = `${this.proposed - this.applied} proposals still outstanding after ${timeoutMs} ms${why}`;
        throw st !== null && !st.isLeader ? new LeadershipLostError(this.o.leader, msg) : new Error(msg);
      }
    } finally {
      drained.catch(() => undefined);
      this.off?.();
      this.off = null;
    }
  }

  /** Ends the workload with an error: waits reject, nothing more is proposed. */
  abort(err: Error): void {
    this.fail(err);
  }

  private readonly listener = (peer: number, msg: ApplyMsg): void => {
    if (peer !== this.o.leader || msg.type !== 'entry') return;
    this.applied++;
    if (!this.queued) {
      this.queued = true;
      this.batchLo = msg.index;
      this.batchT = performance.now();
      queueMicrotask(this.afterBatch);
    }
    this.batchHi = msg.index;
  };

  private readonly afterBatch = (): void => {
    this.queued = false;
    this.o.onApplied?.(this.batchT, this.batchLo, this.batchHi);
    if (this.waiters.length > 0) {
      const keep: typeof this.waiters = [];
      for (const w of this.waiters) {
        if (this.applied >= w.n) w.resolve();
        else keep.push(w);
      }
      this.waiters = keep;
    }
    if (this.running) this.refill();
  };

  private refill(): void {
    if (this.calling || this.error) return;
    const room = this.o.outstanding - (this.proposed - this.applied);
    if (room <= 0) return;
    const { cluster, leader } = this.o;
    if (this.o.batch) {
      // A partial chunk only when the window is nearly full anyway: never dribble tiny calls.
      const n = Math.min(room, this.chunk);
      if (n < this.chunk && room < this.o.outstanding && this.proposed - this.applied > this.chunk) return;
      this.proposed += n;
      this.calling = true;
      const t = performance.now();
      const list = n === this.full.length ? this.full : this.full.slice(0, n);
      cluster.proposeBatch(leader, list).then((r) => {
        this.calling = false;
        this.proposedOk(r.isLeader, t, r.index, n);
        if (this.running) this.refill();
      }, this.fail);
    } else {
      this.proposed += room;
      for (let k = 0; k < room; k++) {
        const t = performance.now();
        cluster.propose(leader, this.o.command).then((r) => this.proposedOk(r.isLeader, t, r.index, 1), this.fail);
      }
    }
  }

  private proposedOk(isLeader: boolean, t: number, index: number, count: number): void {
    if (!isLeader) {
      this.fail(new LeadershipLostError(this.o.leader, `peer ${this.o.leader} lost leadership during the workload`));
      return;
    }
    this.o.onProposed?.(t, index, count);
  }

  private readonly fail = (err: unknown): void => {
    if (this.error) return;
    this.error = err instanceof Error ? err : new Error(String(err));
    this.running = false;
    for (const w of this.waiters) w.reject(this.error);
    this.waiters = [];
  };
}
