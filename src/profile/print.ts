/**
 * What every profiler workload shares (src/cli/profile.ts, src/cli/profile-kv.ts): starting the
 * peers' stage clocks, and the printed tables of CPU self times, threads and the stage log's cost.
 */
import type { Cluster } from '../cluster/cluster.js';
import type { SelfTimes } from './cpu-analysis.js';
import { int, ms, pct, table } from './format.js';
import type { StageDump } from './stage-log.js';
import { summarizeGc, type GcLog, type GcPauses } from './gc-pauses.js';
import { sumRates, type ThreadRate } from './thread-stats.js';

export function printSelfTimes(title: string, st: SelfTimes, top: number): void {
  console.log(
    `\n${title}: busy ${pct((100 * st.busyMs) / st.totalMs)} of ${ms(st.totalMs)} ` +
      `(GC ${ms(st.gcMs)}, native "(program)" ${ms(st.programMs)}, idle ${ms(st.idleMs)})`,
  );
  const rows: string[][] = [['self', 'of busy', 'function', 'where']];
  for (const r of st.rows.slice(0, top)) rows.push([ms(r.selfMs), pct(r.busyPct), r.name, r.where]);
  console.log(table(rows, ['r', 'r', 'l', 'l']));
}

export interface ThreadRow {
  readonly thread: string;
  readonly wakesPerSec: number;
  readonly cpuPct: number;
}

/** The peers' threads by name, the main thread, and every other thread of the process summed. */
export function threadTable(rates: readonly ThreadRate[], peerThreads: readonly (number | null)[], leader: number, mainTid: number | null): ThreadRow[] {
  const rows: ThreadRow[] = [];
  const named = new Set<number>();
  const add = (thread: string, tid: number | null): void => {
    const r = rates.find((x) => x.tid === tid);
    if (!r) return;
    named.add(r.tid);
    rows.push({ thread, wakesPerSec: r.wakesPerSec, cpuPct: r.cpuPct });
  };
  peerThreads.forEach((tid, i) => add(`peer ${i} (${i === leader ? 'leader' : 'follower'})`, tid));
  add('main thread', mainTid);
  const others = rates.filter((r) => !named.has(r.tid));
  rows.push({ thread: `${others.length} other threads`, ...sumRates(others) });
  rows.push({ thread: 'whole process', ...sumRates(rates) });
  return rows;
}

export function printThreads(rows: readonly ThreadRow[], cpuProfiler: boolean): void {
  console.log('\nThreads while profiled (Linux /proc/self/task: a wake is a voluntary context switch; CPU at 10 ms resolution)');
  const t: string[][] = [['thread', 'wakes/s', 'CPU, share of one core']];
  for (const r of rows) t.push([r.thread, r.wakesPerSec.toFixed(1), pct(r.cpuPct, 2)]);
  console.log(table(t));
  console.log(
    '  Other threads: V8 platform workers (GC, compilation), the libuv pool (lmdb-js writes there)' +
      (cpuProfiler ? ", and the CPU profiler's samplers (--stages-only leaves them out)." : '.'),
  );
}

/** A worker's clock against the main thread's: its offset, known to within `within` ms. */
export interface StageClock {
  readonly offset: number;
  readonly within: number;
}

/**
 * Starts stage recording on every peer in `peers`, best before the workload, while they are
 * idle: the call that starts it also reads the worker's clock, and an idle round trip bounds the
 * clock offset tightly (of 10 tries, the shortest is kept). Records made before the profiled
 * window are the caller's to ignore.
 */
export async function startStageClocks(cluster: Cluster, peers: readonly number[]): Promise<StageClock[]> {
  const clocks: StageClock[] = [];
  for (const i of peers) {
    let best: StageClock = { offset: Number.NaN, within: Infinity };
    for (let k = 0; k < 10; k++) {
      const t0 = performance.now();
      const tw = await cluster.profiler(i).startStages(performance.timeOrigin);
      const t1 = performance.now();
      if ((t1 - t0) / 2 < best.within) best = { offset: tw - (t0 + t1) / 2, within: (t1 - t0) / 2 };
    }
    clocks.push(best);
  }
  return clocks;
}

/**
 * Each thread's garbage-collection pauses in the profiled window [fromMs, toMs] (main thread's
 * clock; gc-pauses.ts), as printed; also returned for the summary file.
 */
export function printGcPauses(dumps: readonly (StageDump | null)[], leader: number, main: GcLog | null, fromMs: number, toMs: number): Record<string, GcPauses> {
  const rows: string[][] = [['thread', 'scavenges/s', 'mean', 'max', 'mark-compacts', 'max', 'paused, share of the time']];
  const out: Record<string, GcPauses> = {};
  const add = (name: string, log: GcLog | null): void => {
    if (log === null || toMs <= fromMs) return;
    const g = summarizeGc(log, fromMs, toMs);
    out[name] = g;
    const { minor, major, other } = g;
    const paused = minor.totalMs + major.totalMs + other.totalMs;
    rows.push([
      name,
      ((minor.count * 1000) / g.elapsedMs).toFixed(1),
      minor.count > 0 ? ms(minor.totalMs / minor.count) : '-',
      minor.count > 0 ? ms(minor.maxMs) : '-',
      int(major.count),
      major.count > 0 ? ms(major.maxMs) : '-',
      pct((100 * paused) / g.elapsedMs, 2),
    ]);
  };
  for (const d of dumps) if (d) add(`peer ${d.peer} (${d.peer === leader ? 'leader' : 'follower'})`, d.gc);
  add('main thread', main);
  if (rows.length === 1) return out;
  console.log("\nGarbage collection while recording (perf_hooks 'gc' entries: each one stops its thread for as long as it lasts)");
  console.log(table(rows));
  console.log("  A scavenge copies every young object still alive; a peer keeps each log entry until compaction, so its scavenges copy more.");
  return out;
}

/** What the stage timestamps cost each peer, and how well the workers' clocks agree. */
export function printStageCost(dumps: readonly (StageDump | null)[], leader: number, clocks: readonly StageClock[]): void {
  console.log('\nCost of the stage timestamps (measured): ');
  const rows: string[][] = [['peer', 'records', 'per s', 'ns each', 'share of one core']];
  for (const d of dumps) {
    if (!d) continue;
    const perS = (d.count * 1000) / d.elapsedMs;
    rows.push([`${d.peer}${d.peer === leader ? ' (leader)' : ''}`, int(d.count), int(perS), d.nsPerRecord.toFixed(0), pct((perS * d.nsPerRecord) / 1e7, 3)]);
  }
  console.log(table(rows));
  const worst = clocks.reduce((a, c) => Math.max(a, Math.abs(c.offset) + c.within), 0);
  console.log(
    '  With stage timestamps off, the hot path pays one null check per Ready and per durable write.\n' +
      `  Worker clocks agree with the main thread's within ${ms(worst)} (offset + half the round trip of startStages).`,
  );
}
