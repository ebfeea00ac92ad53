/**
 * Garbage-collection pauses of one thread while the profiler records (perf_hooks 'gc' entries,
 * one per collection, its duration the time the thread stood still). Kept apart from the CPU
 * profile because a pause matters by its length, not only its share: a 6 ms scavenge on the
 * leader holds up every round in flight for 6 ms, whatever fraction of a second it is.
 *
 * Why peers pause longer than the main thread: a scavenge copies every young object that is
 * still alive, and a peer keeps what it allocates for a while (each log entry until compaction,
 * the store's applied changes until they are stored), so its scavenges copy more.
 *
 * A worker records from the start of its stage log (which may begin before the profiled window,
 * see startStageClocks) on the shared clock; summarizeGc() keeps the profiled window.
 */
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';

/** Each collection: start (ms, on the shared clock), duration (ms), kind (perf_hooks constants). */
export interface GcLog {
  readonly at: number[];
  readonly ms: number[];
  readonly kind: number[];
}

export interface PauseStats {
  readonly count: number;
  readonly totalMs: number;
  readonly maxMs: number;
}

export interface GcPauses {
  /** Young-generation collections (scavenges). */
  readonly minor: PauseStats;
  /** Full mark-compact collections. */
  readonly major: PauseStats;
  /** Incremental marking steps and weak-callback processing. */
  readonly other: PauseStats;
  /** The window summed up, in ms. */
  readonly elapsedMs: number;
}

export class GcRecorder {
  private readonly log: GcLog = { at: [], ms: [], kind: [] };
  private readonly observer: PerformanceObserver;
  private readonly startedAt = performance.now();
  /** When stop() was called (performance.now()); collections that start later are not kept. */
  private stopAt = Number.POSITIVE_INFINITY;

  /** `shiftMs`: added to this thread's performance.now() to get the shared clock. */
  constructor(private readonly shiftMs = 0) {
    this.observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (e.startTime >= this.startedAt && e.startTime <= this.stopAt) this.add(e);
    });
    this.observer.observe({ entryTypes: ['gc'] });
  }

  private add(e: PerformanceEntry): void {
    this.log.at.push(e.startTime + this.shiftMs);
    this.log.ms.push(e.duration);
    this.log.kind.push((e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0);
  }

  /**
   * Stops and returns what was recorded. Node hands 'gc' entries to observers a turn or more
   * after the collection (takeRecords() does not return them): the entries of collections that
   * began before the call are waited for 20 ms.
   */
  async stop(): Promise<GcLog> {
    this.stopAt = performance.now();
    await new Promise((r) => setTimeout(r, 20));
    this.observer.disconnect();
    return this.log;
  }
}

/** The pauses of the collections that began within [fromMs, toMs] (shared clock), by kind. */
export function summarizeGc(log: GcLog, fromMs: number, toMs: number): GcPauses {
  const minor = new Tally();
  const major = new Tally();
  const other = new Tally();
  for (let k = 0; k < log.at.length; k++) {
    const at = log.at[k]!;
    if (at < fromMs || at > toMs) continue;
    const kind = log.kind[k]!;
    const t = kind === constants.NODE_PERFORMANCE_GC_MINOR ? minor : kind === constants.NODE_PERFORMANCE_GC_MAJOR ? major : other;
    t.add(log.ms[k]!);
  }
  return { minor: minor.stats, major: major.stats, other: other.stats, elapsedMs: Math.max(0, toMs - fromMs) };
}

class Tally {
  count = 0;
  totalMs = 0;
  maxMs = 0;

  add(ms: number): void {
    this.count++;
    this.totalMs += ms;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  get stats(): PauseStats {
    return { count: this.count, totalMs: this.totalMs, maxMs: this.maxMs };
  }
}
