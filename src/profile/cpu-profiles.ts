/**
 * The V8 CPU profiler on every peer worker and on the main thread for one profiled window, the
 * .cpuprofile files it leaves, and the self-time tables printed from them. Both profiler
 * workloads use it (src/cli/profile.ts, src/cli/profile-kv.ts).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cluster } from '../cluster/cluster.js';
import { selfTimes, type CpuProfile } from './cpu-analysis.js';
import { CpuProfiler } from './cpu-profiler.js';
import { printSelfTimes } from './print.js';

/** The profiles of one window: one per peer (by index) and the main thread's; none when off. */
export interface Profiles {
  readonly peers: readonly string[];
  readonly main: string | null;
}

export class ClusterCpuProfiles {
  private readonly main = new CpuProfiler();

  /** `on` false: start and stop do nothing, and stop gives no profiles (--stages-only). */
  constructor(
    private readonly cluster: Cluster,
    private readonly peers: readonly number[],
    private readonly on: boolean,
  ) {}

  async start(samplingUs: number): Promise<void> {
    if (!this.on) return;
    await Promise.all(this.peers.map((i) => this.cluster.profiler(i).startProfile(samplingUs)));
    await this.main.start(samplingUs);
  }

  async stop(): Promise<Profiles> {
    if (!this.on) return { peers: [], main: null };
    const peers = await Promise.all(this.peers.map((i) => this.cluster.profiler(i).stopProfile()));
    return { peers, main: await this.main.stop() };
  }
}

/** Writes peer-<i>-<leader|follower>.cpuprofile and main-thread.cpuprofile into `out`; the peers' paths. */
export function writeProfiles(out: string, p: Profiles, leader: number): string[] {
  const files = p.peers.map((text, i) => {
    const f = join(out, `peer-${i}-${i === leader ? 'leader' : 'follower'}.cpuprofile`);
    writeFileSync(f, text);
    return f;
  });
  if (p.main !== null) writeFileSync(join(out, 'main-thread.cpuprofile'), p.main);
  return files;
}

/** The top functions by self time of the leader, of one follower and of the main thread. */
export function printProfiles(p: Profiles, leader: number, mainTitle: string, top: number): void {
  if (p.main === null) return;
  const parsed = p.peers.map((text) => JSON.parse(text) as CpuProfile);
  const follower = leader === 0 ? 1 : 0;
  printSelfTimes(`Leader (peer ${leader})`, selfTimes(parsed[leader]!), top);
  if (parsed.length > 1) printSelfTimes(`Follower (peer ${follower})`, selfTimes(parsed[follower]!), top);
  printSelfTimes(mainTitle, selfTimes(JSON.parse(p.main) as CpuProfile), Math.min(8, top));
  console.log('  (Self time is sampled on the wall clock: a thread descheduled inside a call, say postMessage waking another thread, counts as in that call.)');
}

/** Where the profiles went, or where the summary is when there are none. */
export function printWhere(out: string, p: Profiles, files: readonly string[]): void {
  if (p.main !== null) {
    console.log(`\nCPU profiles (open in Chrome DevTools > Performance, or speedscope.app): ${out}`);
    for (const f of files) console.log(`  ${f}`);
    console.log(`  ${join(out, 'main-thread.cpuprofile')}`);
  } else console.log(`\nNo CPU profiles (--stages-only); summary: ${join(out, 'summary.json')}`);
}
