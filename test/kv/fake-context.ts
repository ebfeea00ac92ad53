/**
 * A ServiceContext for running the KV service alone: a leader of term 1 on the memory store,
 * no workers and no Raft. Tests override what they watch (proposeBatch, readIndex, flush).
 */
import type { RaftStatus } from '../../src/core/raft.js';
import type { ServiceContext } from '../../src/peer/service.js';
import { MemoryLogStore } from '../../src/storage/memory-store.js';
import { FaultTable } from '../../src/transport/fault-table.js';

export const LEADER: RaftStatus = { id: 0, term: 1, votedFor: 0, role: 'leader', leaderId: 0, commitIndex: 0, lastApplied: 0, lastLogIndex: 0, lastLogTerm: 0, snapshotIndex: 0, stableIndex: 0 };

export function fakeLeaderContext(overrides: Partial<ServiceContext>): ServiceContext {
  return {
    id: 0,
    peers: 3,
    store: new MemoryLogStore(),
    faults: new FaultTable(3),
    options: { clockIntervalMs: 3_600_000 },
    propose: () => ({ ok: false, reason: 'not-leader', leaderHint: -1 }),
    proposeBatch: () => ({ ok: true, index: 1, term: 1 }),
    readIndex: () => Promise.resolve(0),
    flush: () => undefined,
    leaseRead: () => ({ ok: false, reason: 'not-leader', leaderHint: 0 }),
    status: () => LEADER,
    snapshot: () => Promise.resolve({ ok: true }),
    logBytes: () => 0,
    ...overrides,
  };
}
