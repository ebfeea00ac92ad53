import type { SeedOptions } from './run-seed.js';

/**
 * Seeds that once found a bug, kept so the bug stays fixed. Add one line per bug found by the
 * swarm, with what it caught.
 */
export const REGRESSION_SEEDS: readonly (SeedOptions & { readonly caught: string })[] = [
  {
    seed: 1857,
    peers: 5,
    profile: 'chaos',
    caught:
      'a checker bug: a peer cut off as a term-1 candidate became term-1 leader from late votes after ' +
      'term 2 had committed entries; Leader Completeness binds only leaders of later terms',
  },
  {
    seed: 7504984,
    peers: 3,
    profile: 'chaos',
    caught:
      'a core bug: the term-2 leader crashed with entries sent but not durable, restarted with its own ' +
      'vote, and won term 2 again from delayed vote replies while pre-voting; its new entry 24 of term 2 ' +
      'differed from the one a follower held (Log Matching)',
  },
];
