/**
 * Inputs never throw and never corrupt the core: a malformed or misaddressed message is refused
 * with a typed result before any state is touched (validate.ts), whatever its claimed term.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RaftCore } from '../../src/core/raft.js';
import { createRng } from '../../src/core/rng.js';
import { EntryKind, MsgType } from '../../src/core/types.js';
import { validateMessage } from '../../src/core/validate.js';
import {
  append,
  appendReply,
  drain,
  elect,
  enc,
  entry,
  installSnapshot,
  log,
  makeCore,
  requestVote,
  terms,
  tickUntilCandidate,
  voteReply,
} from './core-helpers.js';

/** Everything observable about a core, to compare before and after. */
function snapshotOf(core: RaftCore) {
  return { status: core.status(), terms: terms(core), hasReady: core.hasReady(), snapshotTerm: core.log.snapshotTerm };
}

/** Cores of each role, id 0 of 3, at term 2 with log 1 2, nothing pending. */
function cores(): { role: string; core: RaftCore }[] {
  const follower = makeCore({ id: 0, term: 2, entries: log(1, 2) });
  drain(follower);
  const candidate = makeCore({ id: 0, term: 1, entries: log(1, 1) });
  tickUntilCandidate(candidate);
  drain(candidate);
  const leader = makeCore({ id: 0, term: 1, entries: log(1, 1) });
  elect(leader, [1]);
  drain(leader);
  return [
    { role: 'follower', core: follower },
    { role: 'candidate', core: candidate },
    { role: 'leader', core: leader },
  ];
}

const T = 9; // a higher term than any core's: accepting the message would change the term
const ok = {
  rv: requestVote(1, 0, T, 5, 3),
  rvr: voteReply(1, 0, T, true),
  ae: append(1, 0, T, 2, 2, [entry(3, T)], 2),
  aer: appendReply(1, 0, T, true, 2),
  is: installSnapshot(1, 0, T, 2, 2),
  isr: { type: MsgType.InstallSnapshotReply, term: T, from: 1, to: 0, matchIndex: 2 },
};

const malformed: [string, unknown][] = [
  ['null', null],
  ['undefined', undefined],
  ['a number', 42],
  ['a string', 'AppendEntries'],
  ['an array', [ok.ae]],
  ['an empty object', {}],
  ['negative term', { ...ok.ae, term: -1 }],
  ['fractional term', { ...ok.ae, term: 9.5 }],
  ['NaN term', { ...ok.ae, term: Number.NaN }],
  ['infinite term', { ...ok.ae, term: Number.POSITIVE_INFINITY }],
  ['unsafe-integer term', { ...ok.ae, term: 2 ** 53 }],
  ['string term', { ...ok.ae, term: '9' }],
  ['missing term', { ...ok.ae, term: undefined }],
  ['sender out of range', { ...ok.ae, from: 3 }],
  ['negative sender', { ...ok.ae, from: -1 }],
  ['fractional sender', { ...ok.ae, from: 1.5 }],
  ['sender is this peer', { ...ok.ae, from: 0 }],
  ['addressed to another peer', { ...ok.ae, to: 1 }],
  ['addressed to nobody', { ...ok.ae, to: undefined }],
  ['unknown type 0', { ...ok.ae, type: 0 }],
  ['unknown type 7', { ...ok.ae, type: 7 }],
  ['type as a string', { ...ok.ae, type: '3' }],
  ['RequestVote: negative lastLogIndex', { ...ok.rv, lastLogIndex: -1 }],
  ['RequestVote: lastLogTerm above term', { ...ok.rv, lastLogTerm: T + 1 }],
  ['RequestVote: missing lastLogTerm', { ...ok.rv, lastLogTerm: undefined }],
  ['RequestVoteReply: voteGranted not a boolean', { ...ok.rvr, voteGranted: 'yes' }],
  ['RequestVoteReply: voteGranted missing', { ...ok.rvr, voteGranted: undefined }],
  ['AppendEntries: negative prevLogIndex', { ...ok.ae, prevLogIndex: -1 }],
  ['AppendEntries: prevLogTerm above term', { ...ok.ae, prevLogTerm: T + 1 }],
  ['AppendEntries: prevLogTerm set at index 0', { ...ok.ae, prevLogIndex: 0, prevLogTerm: 1, entries: [entry(1, T)] }],
  ['AppendEntries: negative leaderCommit', { ...ok.ae, leaderCommit: -1 }],
  ['AppendEntries: entries not an array', { ...ok.ae, entries: { 0: entry(3, T) } }],
  ['AppendEntries: a null entry', { ...ok.ae, entries: [null] }],
  ['AppendEntries: entries start past prevLogIndex + 1', { ...ok.ae, entries: [entry(4, T)] }],
  ['AppendEntries: a gap between entries', { ...ok.ae, entries: [entry(3, T), entry(5, T)] }],
  ['AppendEntries: repeated index', { ...ok.ae, entries: [entry(3, T), entry(3, T)] }],
  ['AppendEntries: entry of term 0', { ...ok.ae, entries: [entry(3, 0)] }],
  ['AppendEntries: entry term above message term', { ...ok.ae, entries: [entry(3, T + 1)] }],
  ['AppendEntries: entry term below prevLogTerm', { ...ok.ae, prevLogTerm: 2, entries: [entry(3, 1)] }],
  ['AppendEntries: entry terms decreasing', { ...ok.ae, entries: [entry(3, T), entry(4, 3)] }],
  ['AppendEntries: unknown entry kind', { ...ok.ae, entries: [{ ...entry(3, T), kind: 2 }] }],
  ['AppendEntries: entry data a string', { ...ok.ae, entries: [{ ...entry(3, T), data: 'x' }] }],
  ['AppendEntries: entry data missing', { ...ok.ae, entries: [{ index: 3, term: T, kind: EntryKind.Normal }] }],
  ['AppendEntries: entry data a plain array', { ...ok.ae, entries: [{ ...entry(3, T), data: [1, 2] }] }],
  ['AppendEntriesReply: success not a boolean', { ...ok.aer, success: 1 }],
  ['AppendEntriesReply: negative matchIndex', { ...ok.aer, matchIndex: -1 }],
  ['AppendEntriesReply: conflictTerm not a number', { ...ok.aer, conflictTerm: 'x' }],
  ['AppendEntriesReply: conflictIndex missing', { ...ok.aer, conflictIndex: undefined }],
  ['InstallSnapshot: lastIncludedIndex 0', { ...ok.is, lastIncludedIndex: 0 }],
  ['InstallSnapshot: lastIncludedTerm 0', { ...ok.is, lastIncludedTerm: 0 }],
  ['InstallSnapshot: lastIncludedTerm above term', { ...ok.is, lastIncludedTerm: T + 1 }],
  ['InstallSnapshot: data a plain array', { ...ok.is, data: [1, 2, 3] }],
  ['InstallSnapshot: data missing', { ...ok.is, data: undefined }],
  ['InstallSnapshot: a chunk, not the whole snapshot', { ...ok.is, offset: 2 }],
  ['InstallSnapshot: total disagrees with the data', { ...ok.is, total: 1000 }],
  ['SnapshotChunkAck: for the driver, never the core', { type: MsgType.SnapshotChunkAck, term: T, from: 1, to: 0, index: 3, offset: 0 }],
  ['InstallSnapshotReply: negative matchIndex', { ...ok.isr, matchIndex: -1 }],
  ['InstallSnapshotReply: fractional matchIndex', { ...ok.isr, matchIndex: 1.5 }],
];

test('malformed or misaddressed message is rejected with a typed result and leaves state unchanged', () => {
  for (const { role, core } of cores()) {
    for (const [what, m] of malformed) {
      const before = snapshotOf(core);
      let res;
      assert.doesNotThrow(() => {
        res = core.step(m);
      }, `${role}: ${what} threw`);
      assert.ok(res !== undefined);
      const r = res as { ok: boolean; reason?: string; detail?: unknown };
      assert.equal(r.ok, false, `${role}: ${what} was accepted`);
      assert.equal(r.reason, 'invalid-message', `${role}: ${what}`);
      assert.ok(typeof r.detail === 'string' && r.detail.length > 0, `${role}: ${what} has no detail`);
      assert.deepEqual(snapshotOf(core), before, `${role}: ${what} changed the core`);
    }
  }
});

test('the well-formed versions of those messages are accepted (the malformed cases are not vacuous)', () => {
  for (const [name, m] of Object.entries(ok)) {
    assert.equal(validateMessage(m, 0, 3), null, `${name} should be valid`);
    const core = makeCore({ id: 0, term: 2, entries: log(1, 2) });
    assert.deepEqual(core.step(m), { ok: true }, name);
    assert.equal(core.status().term, T, `${name}: the higher term is adopted`);
  }
});

test('random garbage never throws and a refused message never changes the core', () => {
  const rng = createRng(2024);
  const pick = <V>(xs: readonly V[]): V => xs[rng.int(0, xs.length)]!;
  const junk: unknown[] = [undefined, null, -1, 0, 1, 2, 3, 9, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60, '1', true, false, [], {}, [1], enc('x'), { index: 3 }];
  const fields = ['type', 'term', 'from', 'to', 'lastLogIndex', 'lastLogTerm', 'voteGranted', 'prevLogIndex', 'prevLogTerm', 'entries', 'leaderCommit', 'success', 'matchIndex', 'conflictTerm', 'conflictIndex', 'lastIncludedIndex', 'lastIncludedTerm', 'data'];
  const bases = Object.values(ok);
  let refused = 0;
  let accepted = 0;
  for (let i = 0; i < 3000; i++) {
    const core = makeCore({ id: 0, term: 2, entries: log(1, 2) });
    const m: Record<string, unknown> = { ...pick(bases) };
    for (let k = rng.int(1, 4); k > 0; k--) m[pick(fields)] = pick(junk);
    const before = snapshotOf(core);
    let res: { ok: boolean } | undefined;
    assert.doesNotThrow(() => {
      res = core.step(m);
    }, `threw on ${JSON.stringify(m)}`);
    if (res!.ok) accepted++;
    else {
      refused++;
      assert.deepEqual(snapshotOf(core), before, `refused ${JSON.stringify(m)} but changed the core`);
    }
    // Whatever happened, the core can still produce its output.
    assert.doesNotThrow(() => drain(core));
  }
  assert.ok(refused > 1000 && accepted > 100, `refused ${refused}, accepted ${accepted}: the fuzz should exercise both`);
});
