import type { SeedOptions } from './run-seed.js';

/**
 * Seeds that once found a bug, kept so the bug stays fixed. Add one line per bug found by the
 * swarm, with what it caught.
 */
export const REGRESSION_SEEDS: readonly (SeedOptions & { readonly caught: string })[] = [];
