import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SafetyChecker, InvariantViolation } from '../../src/sim/checker.js';
import { RaftCore } from '../../src/core/raft.js';
import { createRng } from '../../src/core/rng.js';
import { EntryKind, type Entry } from '../../src/core/types.js';

const enc = (s: string) => new TextEncoder().encode(s);
const entry = (index: number, term: number, cmd: string): Entry => ({ index, term, kind: EntryKind.Normal, data: enc(cmd) });

/** A core restored with a given term and log, made leader by hand through the real API is hard; use restore + status. */
function coreWith(id: number, term: number, entries: Entry[]): RaftCore {
  return new RaftCore({ id, peers: 3, electionTicks: 10, heartbeatTicks: 2, rng: createRng(id), preVote: false }, {
    hardState: { currentTerm: term, votedFor: -1 },
    snapshot: null,
    entries,
  });
}

/** Drives a core to leadership of a single-peer-majority by faking votes through its inputs. */
function electLeader(core: RaftCore, peers: number[]): void {
  for (let i = 0; i < 40 && core.status().role !== 'candidate'; i++) core.tick();
  assert.equal(core.status().role, 'candidate');
  const r = core.ready();
  core.persisted(r.seq);
  const term = core.status().term;
  for (const p of peers) core.step({ type: 2, term, from: p, to: core.id, voteGranted: true, preVote: false });
  assert.equal(core.status().role, 'leader');
}

test('the checker catches two leaders in one term (Election Safety)', () => {
  const checker = new SafetyChecker(3);
  const a = coreWith(0, 0, []);
  const b = coreWith(1, 0, []);
  electLeader(a, [2]);
  checker.observe(0, a);
  electLeader(b, [2]);
  assert.equal(a.status().term, b.status().term);
  assert.throws(() => checker.observe(1, b), (e: unknown) => e instanceof InvariantViolation && e.invariant === 'ElectionSafety');
});

test('the checker catches two peers applying different commands at one index (State Machine Safety)', () => {
  const checker = new SafetyChecker(3);
  checker.applied(0, 0, entry(1, 1, 'x'), 1);
  assert.throws(() => checker.applied(1, 0, entry(1, 1, 'y'), 2), (e: unknown) => e instanceof InvariantViolation && e.invariant === 'StateMachineSafety');
});

test('the checker catches entries applied out of order or with a gap', () => {
  const checker = new SafetyChecker(3);
  assert.throws(() => checker.applied(0, 0, entry(2, 1, 'x'), 1), (e: unknown) => e instanceof InvariantViolation && e.invariant === 'AppliedInOrder');
});

test('the checker catches a commitIndex that goes back', () => {
  const checker = new SafetyChecker(3);
  const core = coreWith(0, 1, [entry(1, 1, 'a'), entry(2, 1, 'b')]);
  // A follower learns commit 2 from a leader's AppendEntries.
  core.step({ type: 3, term: 1, from: 1, to: 0, prevLogIndex: 2, prevLogTerm: 1, entries: [], leaderCommit: 2, round: 0 });
  checker.observe(0, core);
  const fresh = coreWith(0, 1, [entry(1, 1, 'a'), entry(2, 1, 'b')]); // commitIndex 0, same incarnation
  assert.throws(() => checker.observe(0, fresh), (e: unknown) => e instanceof InvariantViolation && e.invariant === 'CommitMonotonic');
});

test('the checker catches two different entries with the same index and term (Log Matching)', () => {
  const checker = new SafetyChecker(3);
  checker.appended(0, [entry(1, 1, 'a'), entry(2, 1, 'b')], 0);
  assert.throws(() => checker.appended(1, [entry(2, 1, 'c')], 1), (e: unknown) => e instanceof InvariantViolation && e.invariant === 'LogMatching');
});

test('the checker catches a leader elected without a committed entry (Leader Completeness)', () => {
  const checker = new SafetyChecker(3);
  const follower = coreWith(1, 1, [entry(1, 1, 'a')]);
  follower.step({ type: 3, term: 1, from: 0, to: 1, prevLogIndex: 1, prevLogTerm: 1, entries: [], leaderCommit: 1, round: 0 });
  checker.observe(1, follower);
  const stale = coreWith(2, 1, []);
  electLeader(stale, [0]);
  assert.throws(() => checker.observe(2, stale), (e: unknown) => e instanceof InvariantViolation && e.invariant === 'LeaderCompleteness');
});
