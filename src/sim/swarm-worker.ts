import { runSeed, type SeedResult } from './run-seed.js';

export interface SwarmBatch {
  readonly firstSeed: number;
  readonly count: number;
  readonly peers: number;
  readonly profile: string;
  readonly chaosMs?: number;
}

export interface SwarmBatchResult {
  readonly ran: number;
  readonly commits: number;
  readonly failures: SeedResult[];
}

/** Runs a range of seeds in a piscina worker; returns only failures in full. */
export default function runBatch(batch: SwarmBatch): SwarmBatchResult {
  const failures: SeedResult[] = [];
  let commits = 0;
  for (let s = batch.firstSeed; s < batch.firstSeed + batch.count; s++) {
    const r = runSeed({ seed: s, peers: batch.peers, profile: batch.profile, ...(batch.chaosMs ? { chaosMs: batch.chaosMs } : {}) });
    commits += r.commits;
    if (!r.ok) failures.push(r);
  }
  return { ran: batch.count, commits, failures };
}
