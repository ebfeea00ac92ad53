/**
 * Per-thread CPU time and wake-ups of this process, from Linux's /proc/self/task. An idle
 * cluster's cost is mostly threads waking (about 150 us of CPU each on the 2-core bench VM), and
 * which thread wakes how often is what the CPU profiler cannot show: it samples JavaScript, not
 * the scheduler. Elsewhere than Linux every function here returns null.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Clock ticks per second of utime/stime in /proc (USER_HZ): 100 on every Linux Node supports. */
export const USER_HZ = 100;

export interface ThreadSample {
  /** utime + stime, in clock ticks. */
  readonly cpuTicks: number;
  /** Times the thread blocked (voluntary context switches): each is one wake-up to come. */
  readonly voluntary: number;
  /** Times it was preempted. */
  readonly involuntary: number;
}

/** Parses /proc/.../stat: utime and stime are fields 14 and 15, counted after the ")" that ends the name. */
export function parseTaskStat(stat: string): number {
  const close = stat.lastIndexOf(')');
  if (close < 0) throw new Error(`not a /proc stat line: ${stat.slice(0, 60)}`);
  // After ") " come field 3 (state) onwards: utime is field 14, the 12th after the name.
  const rest = stat.slice(close + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`no utime/stime in /proc stat line: ${stat.slice(0, 60)}`);
  return utime + stime;
}

/** Parses the context-switch counters of /proc/.../status. */
export function parseTaskStatus(status: string): { voluntary: number; involuntary: number } {
  const v = /^voluntary_ctxt_switches:\s+(\d+)/m.exec(status);
  const n = /^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status);
  if (!v || !n) throw new Error('no context switch counters in /proc status');
  return { voluntary: Number(v[1]), involuntary: Number(n[1]) };
}

/** Every thread of this process now, by thread id; null where /proc/self/task does not exist. */
export function sampleThreads(): Map<number, ThreadSample> | null {
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return null;
  }
  const out = new Map<number, ThreadSample>();
  for (const t of tids) {
    try {
      const cpuTicks = parseTaskStat(readFileSync(`/proc/self/task/${t}/stat`, 'utf8'));
      const sw = parseTaskStatus(readFileSync(`/proc/self/task/${t}/status`, 'utf8'));
      out.set(Number(t), { cpuTicks, ...sw });
    } catch {
      /* the thread ended between the listing and the read */
    }
  }
  return out;
}

/** The calling thread's id (what /proc/self/task lists), or null off Linux. */
export function currentThreadId(): number | null {
  try {
    const m = /\/task\/(\d+)$/.exec(readlinkSync('/proc/thread-self'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export interface ThreadRate {
  readonly tid: number;
  /** Voluntary context switches per second: how often the thread went to sleep and was woken. */
  readonly wakesPerSec: number;
  /** CPU time as a share of one core, percent (10 ms resolution per thread). */
  readonly cpuPct: number;
}

/** Several threads' rates added up. */
export function sumRates(rates: readonly ThreadRate[]): { wakesPerSec: number; cpuPct: number } {
  let wakesPerSec = 0;
  let cpuPct = 0;
  for (const r of rates) {
    wakesPerSec += r.wakesPerSec;
    cpuPct += r.cpuPct;
  }
  return { wakesPerSec, cpuPct };
}

/** What each thread present in both samples did between them, over `ms` milliseconds. */
export function threadRates(before: Map<number, ThreadSample>, after: Map<number, ThreadSample>, ms: number): ThreadRate[] {
  const out: ThreadRate[] = [];
  for (const [tid, b] of after) {
    const a = before.get(tid);
    if (!a) continue;
    out.push({
      tid,
      wakesPerSec: ((b.voluntary - a.voluntary) * 1000) / ms,
      cpuPct: (((b.cpuTicks - a.cpuTicks) / USER_HZ) * 1000 * 100) / ms,
    });
  }
  return out;
}
