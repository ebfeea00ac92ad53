/**
 * What else took the machine's CPUs while the suite ran: other processes in this machine, and,
 * on a virtual machine, the hypervisor (steal time: a vCPU ready to run while the host ran
 * something else). Both lower every figure; steal is invisible from inside the VM except here.
 * On the 2-core bench VM, steal has been 0% on a quiet host and 26% of all CPU time on a busy
 * one, when 64-client linearizable gets fell from 187k/s to 45-80k/s.
 */
import { readFileSync } from 'node:fs';

/** USER_HZ: /proc/stat counts in hundredths of a second on every Linux Node supports. */
const HZ = 100;

/** The aggregate "cpu" line of /proc/stat, in clock ticks. */
export interface CpuTicks {
  /** Time running anything: user, nice, system, irq, softirq (not idle, iowait or steal). */
  readonly busy: number;
  /** Time a vCPU was ready but the hypervisor ran something else. */
  readonly steal: number;
  /** All of it, steal included (guest time is already inside user and nice). */
  readonly total: number;
}

/**
 * Parses the first line of /proc/stat: "cpu user nice system idle iowait irq softirq steal
 * guest guest_nice". Kernels before 2.6.11 have no steal column; it then counts as 0.
 */
export function parseCpuLine(line: string): CpuTicks {
  const f = line.trim().split(/\s+/);
  if (f[0] !== 'cpu' || f.length < 5) throw new Error(`not the cpu line of /proc/stat: ${line.slice(0, 60)}`);
  const n = f.slice(1, 9).map(Number);
  if (n.some((x) => !Number.isFinite(x))) throw new Error(`unreadable numbers in the cpu line of /proc/stat: ${line.slice(0, 60)}`);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = n;
  return { busy: user + nice + system + irq + softirq, steal, total: user + nice + system + idle + iowait + irq + softirq + steal };
}

export interface Noise {
  /** CPU other processes used, as % of all CPU time of the machine. */
  readonly otherProcessesCpuPct: number;
  /** CPU time the hypervisor held back, as % of all CPU time of the machine. */
  readonly stealPct: number;
}

/**
 * Noise between two readings, given this process's own CPU time meanwhile (microseconds, as
 * process.cpuUsage reports it). Null when no time passed between the readings.
 */
export function noiseBetween(before: CpuTicks, after: CpuTicks, ownCpuUs: number): Noise | null {
  const total = after.total - before.total;
  if (!(total > 0)) return null;
  const ours = (ownCpuUs / 1e6) * HZ;
  const other = Math.max(0, after.busy - before.busy - ours);
  const steal = Math.max(0, after.steal - before.steal);
  return { otherProcessesCpuPct: (100 * other) / total, stealPct: (100 * steal) / total };
}

function readCpuLine(): CpuTicks | null {
  try {
    return parseCpuLine(readFileSync('/proc/stat', 'utf8').split('\n')[0]!);
  } catch {
    return null;
  }
}

/** Starts measuring; the function returned gives the noise since then (null off Linux). */
export function noiseMeter(): () => Noise | null {
  const j0 = readCpuLine();
  const c0 = process.cpuUsage();
  return () => {
    const j1 = readCpuLine();
    if (!j0 || !j1) return null;
    const c = process.cpuUsage(c0);
    return noiseBetween(j0, j1, c.user + c.system);
  };
}
