import type { NetworkFaults } from './network.js';

/** One family of faults the swarm throws at a cluster. */
export interface FaultProfile {
  readonly name: string;
  readonly description: string;
  /** Network faults in force during the chaos phase. */
  readonly network: Partial<NetworkFaults>;
  readonly crashes: boolean;
  readonly partitions: boolean;
  /** Cut single links one way or both. */
  readonly linkCuts: boolean;
  /** Periodic snapshots (0: none). */
  readonly snapshotEvery: number;
  readonly diskLatencyMs: readonly [number, number];
  /** Entries per AppendEntries: 1 makes a follower receive a new leader's old entries without its no-op (Figure 8). */
  readonly maxMsgEntries: number;
  /** Crash mostly leaders, soon after they take proposals (6.824's Figure 8 tests). */
  readonly crashLeaders: boolean;
}

const base = { maxMsgEntries: 4096, crashLeaders: false, crashes: false, partitions: false, linkCuts: false, snapshotEvery: 0, diskLatencyMs: [0.1, 1] as const };

export const PROFILES: readonly FaultProfile[] = [
  { ...base, name: 'calm', description: 'reliable network, no crashes', network: {} },
  {
    ...base,
    name: 'lossy',
    description: 'labrpc-style unreliable network: drops, duplicates, 0-27 ms delays',
    network: { dropRate: 0.1, duplicateRate: 0.05, delayMs: [0, 27] },
  },
  {
    ...base,
    name: 'reorder',
    description: 'long reordering and long delays on top of an unreliable network',
    network: { dropRate: 0.05, duplicateRate: 0.05, delayMs: [0, 27], longReordering: true, longDelays: true },
  },
  {
    ...base,
    name: 'partition',
    description: 'partitions and one-way or two-way link cuts, healing now and then',
    network: { delayMs: [0, 5] },
    partitions: true,
    linkCuts: true,
  },
  {
    ...base,
    name: 'crash',
    description: 'peers crash (losing writes in flight) and restart; slow disks',
    network: { delayMs: [0, 5] },
    crashes: true,
    diskLatencyMs: [0.2, 15],
  },
  {
    ...base,
    name: 'figure8',
    description: "leaders crash soon after proposals, one entry per message: Figure 8's commit-by-count trap",
    network: { delayMs: [0, 5] },
    crashes: true,
    crashLeaders: true,
    maxMsgEntries: 1,
    diskLatencyMs: [0.2, 5],
  },
  {
    ...base,
    name: 'snapshot',
    description: 'frequent snapshots and compaction with crashes and partitions (InstallSnapshot)',
    network: { dropRate: 0.02, delayMs: [0, 10] },
    crashes: true,
    partitions: true,
    snapshotEvery: 20,
  },
  {
    ...base,
    name: 'chaos',
    description: 'everything at once',
    network: { dropRate: 0.1, duplicateRate: 0.05, delayMs: [0, 27], longReordering: true },
    crashes: true,
    partitions: true,
    linkCuts: true,
    snapshotEvery: 50,
    diskLatencyMs: [0.1, 10],
  },
];

export function profileByName(name: string): FaultProfile {
  const p = PROFILES.find((x) => x.name === name);
  if (!p) throw new Error(`unknown fault profile '${name}'; choose one of: ${PROFILES.map((x) => x.name).join(', ')}, or 'all'`);
  return p;
}
