import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { SwarmBatch, SwarmBatchResult } from './swarm-worker.js';
import type { SeedResult } from './run-seed.js';

export interface SwarmOptions {
  readonly seeds: number;
  readonly firstSeed?: number;
  readonly peers: number;
  readonly profiles: readonly string[];
  readonly chaosMs?: number;
  readonly threads?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface SwarmReport {
  readonly profile: string;
  readonly seeds: number;
  readonly commits: number;
  readonly seconds: number;
  readonly failures: SeedResult[];
}

/** Runs seeds across cores on a piscina pool, profile by profile, in batches. */
export async function runSwarm(opts: SwarmOptions): Promise<SwarmReport[]> {
  const threads = opts.threads ?? Math.max(1, availableParallelism());
  const pool = new Piscina({ filename: new URL('./swarm-worker.js', import.meta.url).href, minThreads: threads, maxThreads: threads });
  const reports: SwarmReport[] = [];
  const batchSize = Math.max(1, Math.min(100, Math.ceil(opts.seeds / (threads * 4))));
  const total = opts.seeds * opts.profiles.length;
  let done = 0;
  try {
    for (const profile of opts.profiles) {
      const t0 = performance.now();
      const jobs: Promise<SwarmBatchResult>[] = [];
      const first = opts.firstSeed ?? 1;
      for (let s = first; s < first + opts.seeds; s += batchSize) {
        const batch: SwarmBatch = { firstSeed: s, count: Math.min(batchSize, first + opts.seeds - s), peers: opts.peers, profile, ...(opts.chaosMs ? { chaosMs: opts.chaosMs } : {}) };
        jobs.push(
          (pool.run(batch) as Promise<SwarmBatchResult>).then((r) => {
            done += r.ran;
            opts.onProgress?.(done, total);
            return r;
          }),
        );
      }
      const results = await Promise.all(jobs);
      reports.push({
        profile,
        seeds: opts.seeds,
        commits: results.reduce((a, r) => a + r.commits, 0),
        seconds: (performance.now() - t0) / 1000,
        failures: results.flatMap((r) => r.failures).sort((a, b) => a.seed - b.seed),
      });
    }
  } finally {
    await pool.destroy();
  }
  return reports;
}
