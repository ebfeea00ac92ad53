/**
 * The Raft figures, every one measured through the public Cluster API as a user would:
 * commit throughput, sequential commit latency, election latency, and an idle cluster's cost.
 */
import { Bench, type Task } from 'tinybench';
import { Cluster, type ApplyMsg, type ClusterOptions } from '../src/cluster/cluster.js';
import type { Scratch } from '../src/profile/scratch.js';
import { quantile, quantileSketch, sortedCopy, summarize, type Dist } from '../src/profile/stats.js';
import { commandOfSize, Compactor, LeaderApplies, LeadershipLostError, Pump, waitForLeader, within } from '../src/profile/workload.js';
import { sampleThreads, sumRates, threadRates } from '../src/profile/thread-stats.js';
import type { ElectionFigure, ElectionRetry, IdleFigure, LatencyFigure, ThroughputFigure } from './types.js';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The cluster's defaults, which every figure here uses. */
export const ELECTION_TIMEOUT_MS: readonly [number, number] = [150, 300];
export const HEARTBEAT_MS = 50;

let clusters = 0;

export interface BenchCluster {
  readonly cluster: Cluster;
  /** Snapshots the peers have taken so far (0 without compactEvery). */
  readonly compactions: () => number;
  readonly done: () => Promise<void>;
}

/**
 * A cluster in the scratch directory (LMDB) or in memory; closed on interrupt too. With
 * `compactEvery`, every peer snapshots each time it has applied that many more entries, as a
 * service on top of Raft would (src/profile/workload.ts, Compactor).
 */
export async function startCluster(scratch: Scratch, storage: 'lmdb' | 'memory', peers: number, compactEvery = 0): Promise<BenchCluster> {
  const n = ++clusters;
  const opts: ClusterOptions = {
    peers,
    storage,
    seed: n,
    ...(storage === 'lmdb' ? { dataDir: scratch.path(`cluster-${n}`), keepData: false, sync: true } : {}),
  };
  // Tracked from the start: an interrupt during start() closes the cluster once it is up, so
  // no worker is still creating files when the scratch directory is removed.
  const starting = Cluster.start(opts);
  const untrack = scratch.track(async () => (await starting.catch(() => null))?.close());
  const cluster = await starting.catch((err: unknown) => {
    untrack();
    throw err;
  });
  const compactor = compactEvery > 0 ? new Compactor(cluster, compactEvery) : null;
  return {
    cluster,
    compactions: () => compactor?.snapshots ?? 0,
    done: async () => {
      compactor?.close();
      untrack();
      await cluster.close();
    },
  };
}

function completed(task: Task): { samples: number[]; mean: number } {
  const r = task.result;
  if (r.state === 'errored') throw r.error;
  if (r.state !== 'completed') throw new Error(`task ${task.name} ended ${r.state}`);
  return { samples: Array.from(r.latency.samples ?? []), mean: r.latency.mean };
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------------- throughput

export interface ThroughputSpec {
  readonly id: string;
  readonly outstanding: number;
  readonly call: 'propose' | 'proposeBatch';
}

/**
 * Commit throughput at a steady number of outstanding proposals (Pump): a warm-up, then a
 * tinybench task whose every iteration waits for the next window's worth of commits (100 ms at
 * the warm-up's rate; shorter for short runs). The figure is commits applied on the leader over
 * the whole measured run / its wall time; the tinybench samples give the spread between windows.
 */
export async function throughput(
  cluster: Cluster,
  leader: number,
  base: { storage: 'lmdb' | 'memory'; peers: number; size: number },
  spec: ThroughputSpec,
  durationMs: number,
  warmupMs: number,
  compactions: () => number = () => 0,
): Promise<ThroughputFigure> {
  const fig = { id: spec.id, ...base, outstanding: spec.outstanding, call: spec.call };
  // (time, commits so far) at each apply batch of the leader: the run's slices come from these.
  const arrivals: number[] = [];
  let pump: Pump | null = null;
  pump = new Pump({
    cluster,
    leader,
    outstanding: spec.outstanding,
    command: commandOfSize(base.size),
    batch: spec.call === 'proposeBatch',
    onApplied: (t) => arrivals.push(t, pump!.applied),
  });
  // A commit every 5 s at least, or the run is declared stuck; the error says whether the
  // leadership moved (the proposals in flight at the old leader are then lost, as Raft allows).
  let last = -1;
  const watchdog = setInterval(() => {
    const p = pump!;
    if (p.applied !== last) {
      last = p.applied;
      return;
    }
    void stallReason(cluster, leader).then((why) =>
      p.abort(why.moved ? new LeadershipLostError(leader, `no commit for 5 s: ${why.text}`) : new Error(`no commit for 5 s: ${why.text}`)),
    );
  }, 5000);
  try {
    const bytes0 = (await cluster.stats()).logBytes[leader]!;
    const snapshots0 = compactions();
    pump.start();
    const w0 = performance.now();
    await sleep(warmupMs);
    const warmRate = (pump.applied * 1000) / (performance.now() - w0);
    if (pump.error) throw pump.error;
    // Each tinybench iteration waits for one window's worth of commits (100 ms, shorter for short runs).
    const windowMs = Math.min(100, durationMs / 5);
    const perIteration = Math.max(1, Math.round((warmRate * windowMs) / 1000));
    let target = pump.applied;
    const bench = new Bench({ time: durationMs, iterations: 5, warmup: false, retainSamples: true, throws: true });
    bench.add(
      spec.id,
      async () => {
        target += perIteration;
        await pump.waitApplied(target);
      },
      { async: true },
    );
    const a0 = pump.applied;
    const t0 = performance.now();
    await bench.run();
    const t1 = performance.now();
    const a1 = pump.applied;
    await pump.stop();
    const bytes1 = (await cluster.stats()).logBytes[leader]!;
    // Only from a run that no snapshot cut short (a snapshot drops the entries it covers).
    const logBytesPerEntry = pump.applied > 0 && bytes1 > bytes0 && compactions() === snapshots0 ? (bytes1 - bytes0) / pump.applied : null;
    completed(bench.tasks[0]!);
    const windows = slices(arrivals, a0, t0, t1, windowMs);
    return { ...fig, commitsPerSec: ((a1 - a0) * 1000) / (t1 - t0), commits: a1 - a0, seconds: (t1 - t0) / 1000, logBytesPerEntry, warmupSeconds: warmupMs / 1000, windowMs, windows, bound: null };
  } catch (err) {
    await pump.stop(2000).catch(() => undefined);
    return { ...fig, commitsPerSec: Number.NaN, commits: 0, seconds: 0, logBytesPerEntry: null, warmupSeconds: warmupMs / 1000, windowMs: 0, windows: null, bound: null, error: message(err), ...interruption(err) };
  } finally {
    clearInterval(watchdog);
  }
}

/** Commits/s per slice of `ms` from t0 to t1, from (time, cumulative commits) pairs. */
function slices(arrivals: readonly number[], applied0: number, t0: number, t1: number, ms: number): Dist & { p10: number } {
  const n = Math.max(1, Math.floor((t1 - t0) / ms));
  const counts = new Float64Array(n);
  let prev = applied0;
  for (let k = 0; k < arrivals.length; k += 2) {
    const t = arrivals[k]!;
    const total = arrivals[k + 1]!;
    if (t < t0) {
      prev = total;
      continue;
    }
    const slot = Math.floor((t - t0) / ms);
    if (slot >= n) break;
    counts[slot]! += total - prev;
    prev = total;
  }
  const rates = Array.from(counts, (c) => (c * 1000) / ms);
  return { ...summarize(rates), p10: quantile(sortedCopy(rates), 0.1) };
}

/**
 * Marks an error an election caused, so that run.ts retries the figure. tinybench rethrows a
 * task's error as it is, so the error itself is the LeadershipLostError.
 */
function interruption(err: unknown): ElectionRetry {
  return err instanceof LeadershipLostError ? { interrupted: 'election' } : {};
}

/**
 * Runs a figure on `leader.peer`; when an election cut it short, waits for the new leader and runs
 * it once more, keeping why in `retried`. One retry only: a second election in a row is a result
 * worth showing, not retrying away. After any failure `leader.peer` is brought up to date.
 */
export async function retryAfterElection<F extends ElectionRetry & { readonly error?: string }>(
  cluster: Cluster,
  leader: { peer: number },
  run: (leader: number) => Promise<F>,
): Promise<F> {
  const first = await run(leader.peer);
  if (first.error === undefined) return first;
  if (first.interrupted !== 'election') {
    leader.peer = await waitForLeader(cluster);
    return first;
  }
  const after = await describePeers(cluster);
  leader.peer = await waitForLeader(cluster);
  const again = await run(leader.peer);
  if (again.error !== undefined) leader.peer = await waitForLeader(cluster);
  return { ...again, retried: `${first.error}; the peers just after: ${after.text}` };
}

/** Each peer as role initial, term and commit index ("1:l7/c4210"), or down. */
export async function describePeers(cluster: Cluster): Promise<{ text: string; leader: number }> {
  const states = await Promise.all(
    Array.from({ length: cluster.peers }, (_, i) => (cluster.isUp(i) ? cluster.state(i).catch(() => null) : Promise.resolve(null))),
  );
  return {
    text: states.map((s, i) => (s ? `${i}:${s.role[0]}${s.term}/c${s.commitIndex}` : `${i}:down`)).join(' '),
    leader: states.findIndex((s) => s?.isLeader === true),
  };
}

/** Why a run stopped committing, as far as the peers' states tell. */
async function stallReason(cluster: Cluster, leader: number): Promise<{ text: string; moved: boolean }> {
  const { text: desc, leader: now } = await describePeers(cluster);
  if (now !== leader) {
    return { moved: true, text: `the leadership moved from peer ${leader} to ${now < 0 ? 'nobody yet' : `peer ${now}`} (${desc}); proposals in flight at the old leader were lost` };
  }
  return { moved: false, text: `peer ${leader} still leads but commits nothing (${desc})` };
}

// ---------------------------------------------------------------------------- latency

/** Sequential commit latency: propose(), then wait for onApply on the leader; one at a time. */
export async function latency(
  cluster: Cluster,
  leader: number,
  base: { id: string; storage: 'lmdb' | 'memory'; peers: number; size: number },
  durationMs: number,
): Promise<LatencyFigure> {
  const applies = new LeaderApplies(cluster, leader);
  const cmd = commandOfSize(base.size);
  try {
    const bench = new Bench({ time: durationMs, iterations: 50, warmupTime: Math.min(300, durationMs / 3), warmupIterations: 20, retainSamples: true, throws: true });
    bench.add(
      base.id,
      async () => {
        const r = await cluster.propose(leader, cmd);
        if (!r.isLeader) throw new LeadershipLostError(leader, `peer ${leader} lost leadership`);
        await applies.wait(r.index);
      },
      { async: true },
    );
    await bench.run();
    const { samples } = completed(bench.tasks[0]!);
    return { ...base, dist: summarize(samples), sketch: quantileSketch(samples, 200), bound: null };
  } catch (err) {
    return { ...base, dist: null, sketch: [], bound: null, error: message(err), ...interruption(err) };
  } finally {
    applies.close();
  }
}

// ---------------------------------------------------------------------------- elections

/** Every peer's apply stream: resolves waits for (peer, index) with the time it was applied. */
class ApplyWatch {
  private readonly applied: number[];
  private readonly waiters = new Map<string, (t: number) => void>();
  private readonly off: () => void;

  constructor(cluster: Cluster) {
    this.applied = new Array<number>(cluster.peers).fill(0);
    this.off = cluster.onApply(this.listener);
  }

  private readonly listener = (peer: number, msg: ApplyMsg): void => {
    if (msg.type !== 'entry') return;
    this.applied[peer] = msg.index;
    const key = `${peer}:${msg.index}`;
    const w = this.waiters.get(key);
    if (w) {
      this.waiters.delete(key);
      w(performance.now());
    }
  };

  /** A new incarnation of a peer replays its log from the start. */
  reset(peer: number): void {
    this.applied[peer] = 0;
  }

  wait(peer: number, index: number): Promise<number> {
    if (this.applied[peer]! >= index) return Promise.resolve(performance.now());
    return new Promise((resolve) => this.waiters.set(`${peer}:${index}`, resolve));
  }

  close(): void {
    this.off();
  }
}

/**
 * Proposes to every peer in `among` about every millisecond (one call in flight per peer) until
 * one accepts as leader; resolves with that peer, the index and the time the command was applied
 * on it. The detection adds at most about 1 ms (setTimeout(1) is about 1.1 ms in practice).
 */
async function firstCommit(cluster: Cluster, watch: ApplyWatch, among: readonly number[], timeoutMs: number): Promise<{ peer: number; index: number; t: number }> {
  const cmd = commandOfSize(64);
  const deadline = performance.now() + timeoutMs;
  let found: { peer: number; index: number } | null = null;
  const tryPeer = async (p: number): Promise<void> => {
    while (found === null && performance.now() < deadline) {
      try {
        const r = await cluster.propose(p, cmd);
        if (r.isLeader) {
          found ??= { peer: p, index: r.index };
          return;
        }
      } catch {
        /* down: try again */
      }
      await sleep(1);
    }
  };
  await Promise.all(among.map(tryPeer));
  const f = found as { peer: number; index: number } | null;
  if (f === null) throw new Error(`no new leader accepted a proposal within ${timeoutMs} ms`);
  const t = await within(watch.wait(f.peer, f.index), Math.max(0, deadline - performance.now()), Number.NaN);
  if (Number.isNaN(t)) throw new Error(`peer ${f.peer} accepted index ${f.index} as leader but never applied it`);
  return { peer: f.peer, index: f.index, t };
}

/** Waits until peer p runs as a follower that has applied `index`. */
async function caughtUp(cluster: Cluster, p: number, index: number, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    try {
      const s = await cluster.state(p);
      if (!s.isLeader && s.lastApplied >= index) return;
    } catch {
      /* still starting */
    }
    await sleep(10);
  }
  throw new Error(`peer ${p} did not catch up to index ${index} within ${timeoutMs} ms`);
}

/**
 * Election latency, `trials` times (tinybench iterations, each reporting its own measured time):
 * crash: the leader's worker is terminated; the clock runs from the crash call to the first
 *   command committed by a new leader and applied on it. The old leader is then restarted and
 *   allowed to catch up before the next trial.
 * partition: the leader is cut off from everyone (its worker keeps running); same clock. Then
 *   the network heals and the old leader rejoins as a follower.
 * Each trial starts after a random 0-60 ms pause, so crashes fall anywhere in a heartbeat interval.
 */
export async function elections(
  scratch: Scratch,
  kind: 'crash' | 'partition',
  peers: number,
  trials: number,
  onTrial: (done: number) => void,
): Promise<ElectionFigure> {
  const id = `election/${kind}/${peers}p`;
  const { cluster, done } = await startCluster(scratch, 'lmdb', peers);
  const watch = new ApplyWatch(cluster);
  const samples: number[] = [];
  try {
    let leader = await waitForLeader(cluster);
    const bench = new Bench({ time: 0, iterations: trials, warmup: false, retainSamples: true, throws: true });
    bench.add(
      id,
      async () => {
        // The trial starts from a settled cluster: `leader` still leads and every peer runs.
        const st = await cluster.state(leader).catch(() => null);
        if (!st?.isLeader) leader = await waitForLeader(cluster);
        await sleep(Math.random() * 60);
        const old = leader;
        const others = Array.from({ length: peers }, (_, i) => i).filter((i) => i !== old);
        const t0 = performance.now();
        let crashing: Promise<void> = Promise.resolve();
        if (kind === 'crash') crashing = cluster.crash(old);
        else cluster.partition([[old], others]);
        const r = await firstCommit(cluster, watch, others, 10_000);
        const ms = r.t - t0;
        await crashing;
        if (kind === 'crash') {
          watch.reset(old);
          await cluster.restart(old);
        } else cluster.heal();
        await caughtUp(cluster, old, r.index);
        leader = r.peer;
        samples.push(ms);
        onTrial(samples.length);
        return { overriddenDuration: ms };
      },
      { async: true },
    );
    await bench.run();
    completed(bench.tasks[0]!);
    return { id, kind, peers, trials: samples.length, dist: summarize(samples), samples, bound: null };
  } catch (err) {
    return { id, kind, peers, trials: samples.length, dist: samples.length > 0 ? summarize(samples) : null, samples, bound: null, error: message(err) };
  } finally {
    watch.close();
    await done();
  }
}

// ---------------------------------------------------------------------------- idle

function cpuPctOver(ms: number): Promise<number> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  return sleep(ms).then(() => {
    const c = process.cpuUsage(c0);
    return ((c.user + c.system) / 1000 / (performance.now() - t0)) * 100;
  });
}

/**
 * An idle cluster's cost: the whole process's CPU time (getrusage: the main thread and every
 * worker) over a window in which nothing is proposed, as a share of one core; and its RSS.
 */
export async function idle(scratch: Scratch, peers: number, windowMs: number): Promise<IdleFigure> {
  const id = `idle/${peers}p`;
  const rssBefore = process.memoryUsage().rss;
  const baseline = await cpuPctOver(Math.min(1000, windowMs / 2));
  const { cluster, done } = await startCluster(scratch, 'lmdb', peers);
  try {
    await waitForLeader(cluster);
    await sleep(Math.min(1000, windowMs));
    const t0 = performance.now();
    const before = sampleThreads();
    const cpu = await cpuPctOver(windowMs);
    const after = sampleThreads();
    const wakes = before && after ? sumRates(threadRates(before, after, performance.now() - t0)).wakesPerSec : null;
    const rss = process.memoryUsage().rss;
    return { id, peers, seconds: windowMs / 1000, cpuPct: cpu, baselineCpuPct: baseline, rssMiB: rss / 2 ** 20, rssBeforeMiB: rssBefore / 2 ** 20, wakesPerSec: wakes };
  } catch (err) {
    return {
      id,
      peers,
      seconds: 0,
      cpuPct: Number.NaN,
      baselineCpuPct: baseline,
      rssMiB: Number.NaN,
      rssBeforeMiB: rssBefore / 2 ** 20,
      wakesPerSec: null,
      error: message(err),
    };
  } finally {
    await done();
  }
}
