/** The shape of a benchmark run: what the JSON file holds and the table and chart show. */
import type { Dist } from '../src/profile/stats.js';

export type { Dist };

/** A Raft figure beside the machine limit that bounds it. */
export interface Bound {
  /** What the bound is, in words (and how it is computed from the limits). */
  readonly what: string;
  readonly value: number;
  /** figure / bound (throughput: fraction of the bound reached; latency: how many times the bound). */
  readonly ratio: number;
}

export interface Limits {
  /** MessagePort round trip worker <-> worker, 8 bytes, ms. */
  readonly portRtt: Dist;
  /** Entries/s through a MessagePort, 1024 entries packed per message, by entry size. */
  readonly portPacked: Record<number, number>;
  /** One durable lmdb-js transaction (one put of 64 B, overlappingSync false), ms. */
  readonly lmdbTxn: Dist;
  /** Durable lmdb-js puts/s, 1024 puts of S bytes per transaction, one transaction at a time, by S. */
  readonly lmdbBatch: Record<number, number>;
  /** write() of 64 B at offset 0 + fdatasync(), ms. */
  readonly fsync: Dist;
  /**
   * lmdbConcurrent[n][S]: durable lmdb-js puts/s per environment when n environments (one per
   * worker thread, as n peers have) each commit transactions of 1024 puts of S bytes at once.
   */
  readonly lmdbConcurrent: Record<number, Record<number, number>>;
  /** lmdbConcurrentTxn[n]: mean time of a durable 1-put transaction (64 B) when n environments commit at once, ms. */
  readonly lmdbConcurrentTxn: Record<number, number>;
  /**
   * quorumRound[n]: one round of a Raft-shaped skeleton of n peers (bench/quorum-round.ts), main
   * thread to main thread; absent in runs made before it was measured.
   */
  readonly quorumRound?: Record<number, QuorumRound>;
}

/** Rounds of `entries` commands, one round at a time, through skeleton peers that only hop and write. */
export interface QuorumRound {
  readonly peers: number;
  readonly entries: number;
  /** Bytes per command as the log stores it (the store's put command and the segment's entry header). */
  readonly entryBytes: number;
  /** Main thread -> leader -> followers, every peer's durable write, majority -> main thread, ms. */
  readonly dist: Dist;
}

/** What a figure an election can cut short carries (bench/raft.ts retryAfterElection). */
export interface ElectionRetry {
  /** The run was cut short by an election (a LeadershipLostError); run.ts then retries it once. */
  readonly interrupted?: 'election';
  /** Set on a retry: why the first attempt ended, and each peer's role, term and commit index after it. */
  readonly retried?: string;
}

export interface ThroughputFigure extends ElectionRetry {
  readonly id: string;
  readonly storage: 'lmdb' | 'memory';
  readonly peers: number;
  /** Bytes per command in the log. */
  readonly size: number;
  readonly outstanding: number;
  readonly call: 'propose' | 'proposeBatch';
  /** Commands applied on the leader per second over the measured run. */
  readonly commitsPerSec: number;
  readonly commits: number;
  readonly seconds: number;
  /** Log bytes the leader keeps per command (its stats().logBytes over the run / commits). */
  readonly logBytesPerEntry: number | null;
  /** Seconds the proposals ran before the measured run began. */
  readonly warmupSeconds: number;
  /** The length of the time slices the run is cut into for `windows`, ms. */
  readonly windowMs: number;
  /** Commits/s in each slice of the measured run (a stall shows as slices at 0); p10 added. */
  readonly windows: (Dist & { readonly p10: number }) | null;
  readonly bound: Bound | null;
  readonly error?: string;
}

export interface LatencyFigure extends ElectionRetry {
  readonly id: string;
  readonly storage: 'lmdb' | 'memory';
  readonly peers: number;
  readonly size: number;
  /** propose() to applied on the leader (onApply), one at a time, ms. */
  readonly dist: Dist | null;
  /** Up to 200 evenly spaced quantiles of the samples, ms (for charts). */
  readonly sketch: number[];
  readonly bound: Bound | null;
  readonly error?: string;
}

export interface ElectionFigure {
  readonly id: string;
  readonly kind: 'crash' | 'partition';
  readonly peers: number;
  readonly trials: number;
  /** Leader crash (or partition) to the first command committed by a new leader and applied on it, ms. */
  readonly dist: Dist | null;
  readonly samples: number[];
  readonly bound: Bound | null;
  readonly error?: string;
}

/**
 * A key-value store figure (bench/kv.ts): `clients` independent clients (openStore()'s
 * client()), each one operation at a time, on one durable store, for the measured run.
 */
export interface KvFigure {
  readonly id: string;
  readonly op: 'put' | 'get';
  /** For gets: the read consistency asked for; null for puts. */
  readonly consistency: 'linearizable' | 'lease' | null;
  readonly peers: number;
  /** Value bytes. */
  readonly size: number;
  readonly clients: number;
  /** Operations in flight in all: one per client, or (the pipelined put figure) what one client keeps in flight. */
  readonly outstanding: number;
  /** Seconds the clients ran before the measured run began (V8 compiles the hot path meanwhile). */
  readonly warmupSeconds: number;
  /** Operations answered per second over the measured run. */
  readonly opsPerSec: number;
  readonly operations: number;
  readonly seconds: number;
  /** Latency of one operation (call to answer) over the measured run, ms. */
  readonly dist: Dist | null;
  /** Up to 200 evenly spaced quantiles of the latencies, ms (for charts). */
  readonly sketch: number[];
  /** One operation outstanding: p50 against a latency floor; more: ops/s against a rate limit (report.ts kvBound). */
  readonly bound: Bound | null;
  readonly error?: string;
}

export interface IdleFigure {
  readonly id: string;
  readonly peers: number;
  readonly seconds: number;
  /** CPU of the whole process (main thread + every worker) while the cluster idles, % of one core. */
  readonly cpuPct: number;
  /** The same process with no cluster running, % of one core. */
  readonly baselineCpuPct: number;
  /** Resident memory of the process with the cluster idling, and before it started, MiB. */
  readonly rssMiB: number;
  readonly rssBeforeMiB: number;
  /** Thread wake-ups (voluntary context switches) of the whole process per second; null off Linux. */
  readonly wakesPerSec: number | null;
  readonly error?: string;
}

export interface Target {
  readonly name: string;
  readonly goal: string;
  readonly measured: string;
  /** null: not measured in this run. */
  readonly met: boolean | null;
  /**
   * Set when this run's own limits put the goal out of reach: the least the measured path can
   * take on this machine, in words, with the figures it is computed from.
   */
  readonly floor?: string;
}

export interface Machine {
  readonly cpuModel: string;
  readonly cpus: number;
  readonly memoryMiB: number;
  readonly platform: string;
  readonly kernel: string;
  readonly node: string;
  readonly v8: string;
  readonly lmdb: string;
  readonly tinybench: string;
  readonly tmpdir: string;
  readonly commit: string | null;
  /** The 1-minute load average when the run started. */
  readonly loadAvgAtStart: number;
  /**
   * CPU used by other processes during the run, as % of the whole machine (all cores), from
   * /proc/stat less this process's own; null where /proc/stat does not exist. Above a few percent,
   * the figures were measured on a shared machine: compare them with care.
   */
  readonly otherProcessesCpuPct: number | null;
  /**
   * CPU time the hypervisor held back from this VM during the run (steal, from /proc/stat), as %
   * of all its CPU time; 0 on bare metal, null where /proc/stat does not exist. Above a few
   * percent the host was busy, and every figure is lower than a quiet host gives.
   */
  readonly stealPct: number | null;
}

export interface BenchOptions {
  readonly quick: boolean;
  readonly filter: string | null;
  readonly peers: readonly number[];
  /** Seconds per throughput and latency measurement. */
  readonly duration: number;
  readonly trials: number;
  /** Raft throughput and latency clusters: every peer snapshots each this many applied entries. */
  readonly compactEvery: number;
  readonly json: string;
  readonly chart: string;
}

export interface BenchReport {
  readonly schema: 'raftwork-bench/1';
  readonly startedAt: string;
  readonly seconds: number;
  readonly machine: Machine;
  readonly options: BenchOptions;
  readonly cluster: { readonly electionTimeoutMs: readonly [number, number]; readonly heartbeatMs: number; readonly note: string };
  readonly limits: Limits;
  readonly throughput: ThroughputFigure[];
  readonly latency: LatencyFigure[];
  readonly election: ElectionFigure[];
  readonly idle: IdleFigure | null;
  /** The key-value store's figures; null when this build has no store. */
  readonly kv: KvFigure[] | null;
  readonly targets: Target[];
}
