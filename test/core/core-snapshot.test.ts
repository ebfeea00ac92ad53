/**
 * Log compaction and InstallSnapshot rules of the core (section 7 of the extended paper), each
 * checked on cores stepped by hand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MsgType, type Message } from '../../src/core/types.js';
import {
  ackAll,
  append,
  appendsTo,
  drain,
  elect,
  ELECTION_TICKS,
  enc,
  entry,
  HandNet,
  HEARTBEAT_TICKS,
  installSnapshot,
  log,
  makeCore,
  ofType,
  sent,
  terms,
} from './core-helpers.js';

test('compact above lastApplied is refused; at or below snapshot is a no-op', () => {
  const core = makeCore({ id: 1, term: 1, entries: log(1, 1, 1, 1, 1) });
  core.step(append(0, 1, 1, 5, 1, [], 3));
  drain(core);
  assert.equal(core.status().lastApplied, 3);

  const refused = core.compact(4);
  assert.equal(refused.ok, false);
  if (!refused.ok) assert.equal(refused.reason, 'invalid-snapshot');
  assert.equal(core.status().snapshotIndex, 0, 'a refused compaction drops nothing');
  for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    const r = core.compact(bad);
    assert.equal(r.ok, false, `compact(${bad})`);
    if (!r.ok) assert.equal(r.reason, 'invalid-snapshot');
  }

  assert.deepEqual(core.compact(2), { ok: true });
  assert.equal(core.status().snapshotIndex, 2);
  assert.equal(core.log.firstIndex(), 3);
  assert.equal(core.log.term(2), 1, 'the term at the snapshot index is remembered');
  assert.equal(core.log.term(1), -1, 'compacted entries are gone');
  const hadReady = core.hasReady();
  for (const again of [2, 1, 0]) {
    assert.deepEqual(core.compact(again), { ok: true }, `compact(${again}) at or below the snapshot`);
    assert.equal(core.status().snapshotIndex, 2);
  }
  assert.equal(core.hasReady(), hadReady, 'a no-op compaction produces no output');
  assert.deepEqual(core.compact(3), { ok: true });
  assert.equal(core.status().snapshotIndex, 3);
  assert.deepEqual(terms(core), [1, 1], 'entries after the snapshot stay');
  // The log still checks consistency right at the boundary.
  core.step(append(0, 1, 1, 3, 1, [entry(4, 1)], 4));
  assert.equal(ofType(sent(drain(core)), MsgType.AppendEntriesReply)[0]!.success, true);
});

test('InstallSnapshot keeps the entries after a matching snapshot index and discards a conflicting log', () => {
  // Matching: the follower holds 4/t2, the snapshot's last entry: 5 and 6 stay.
  //   follower: 1 1 1 2 2 2     snapshot: 4/t2
  const keep = makeCore({ id: 1, term: 2, entries: log(1, 1, 1, 2, 2, 2) });
  keep.step(installSnapshot(0, 1, 2, 4, 2));
  let r = keep.ready();
  assert.deepEqual(r.snapshot && [r.snapshot.index, r.snapshot.term], [4, 2]);
  assert.deepEqual(r.snapshot!.data, enc('snap'), 'the snapshot bytes are passed on');
  assert.equal(keep.status().snapshotIndex, 4);
  assert.equal(keep.status().lastLogIndex, 6);
  assert.deepEqual(terms(keep), [2, 2]);
  assert.equal(r.entries.length, 0, 'the kept entries are already stored');
  assert.deepEqual(ofType(r.messagesAfterPersist, MsgType.InstallSnapshotReply).map((m) => m.matchIndex), [4]);
  assert.equal(ofType(r.messages, MsgType.InstallSnapshotReply).length, 0, 'the reply promises durable state: only after persist');
  keep.persisted(r.seq);
  assert.equal(keep.status().stableIndex, 6);

  // Conflicting: the follower holds 3/t2, the snapshot says 3/t3: the whole log goes.
  //   follower: 1 1 2 2         snapshot: 3/t3
  const conflict = makeCore({ id: 1, term: 3, entries: log(1, 1, 2, 2) });
  conflict.step(installSnapshot(0, 1, 3, 3, 3));
  r = drain(conflict);
  assert.equal(conflict.status().snapshotIndex, 3);
  assert.equal(conflict.status().lastLogIndex, 3);
  assert.equal(conflict.log.term(3), 3);
  assert.deepEqual(terms(conflict), []);

  // Beyond the end: the follower holds less than the snapshot covers.
  const short = makeCore({ id: 1, term: 1, entries: log(1, 1) });
  short.step(installSnapshot(0, 1, 1, 5, 1));
  drain(short);
  assert.deepEqual([short.status().snapshotIndex, short.status().lastLogIndex, short.status().commitIndex, short.status().lastApplied], [5, 5, 5, 5]);
});

test('InstallSnapshot at or below commitIndex changes nothing but is answered', () => {
  const core = makeCore({ id: 1, term: 1, entries: log(1, 1, 1, 1, 1) });
  core.step(append(0, 1, 1, 5, 1, [], 4));
  drain(core);
  const before = core.status();
  core.step(installSnapshot(0, 1, 1, 3, 1));
  const r = drain(core);
  assert.equal(r.snapshot, null);
  assert.deepEqual(core.status(), before);
  assert.deepEqual(ofType(r.messagesAfterPersist, MsgType.InstallSnapshotReply).map((m) => m.matchIndex), [4]);
});

test('a restarted core starts from its snapshot: commitIndex and lastApplied at the snapshot', () => {
  const core = makeCore({ id: 1, term: 2, snapshot: { index: 5, term: 2 }, entries: [entry(6, 2), entry(7, 2)] });
  const st = core.status();
  assert.deepEqual([st.snapshotIndex, st.commitIndex, st.lastApplied, st.lastLogIndex, st.stableIndex], [5, 5, 5, 7, 7]);
  assert.equal(core.log.term(5), 2);
  assert.equal(core.ready().committed.length, 0, 'nothing below the snapshot is applied again');
});

test('an AppendEntries that starts inside the follower snapshot is trimmed to what follows it', () => {
  const core = makeCore({ id: 1, term: 2, snapshot: { index: 5, term: 2 }, entries: [entry(6, 2)] });
  // Entirely inside the snapshot: acknowledged up to the snapshot.
  core.step(append(0, 1, 2, 2, 2, [entry(3, 2), entry(4, 2)], 4));
  let reply = ofType(sent(drain(core)), MsgType.AppendEntriesReply)[0]!;
  assert.deepEqual([reply.success, reply.matchIndex], [true, 5]);
  // Straddling the boundary: the part after the snapshot is applied as usual.
  core.step(append(0, 1, 2, 3, 2, [entry(4, 2), entry(5, 2), entry(6, 2), entry(7, 2)], 7));
  reply = ofType(sent(drain(core)), MsgType.AppendEntriesReply)[0]!;
  assert.deepEqual([reply.success, reply.matchIndex], [true, 7]);
  assert.deepEqual(terms(core), [2, 2]);
  assert.equal(core.status().commitIndex, 7);
});

/**
 * A 3-peer leader whose followers both have its no-op; then 10 entries commit and are compacted
 * while every message to or from follower 2 is lost (all within one tick).
 */
function leaderPastFollower2() {
  const leader = makeCore({ id: 0, peers: 3 });
  const f1 = makeCore({ id: 1, peers: 3 });
  const f2 = makeCore({ id: 2, peers: 3 });
  const net = new HandNet([leader, f1, f2]);
  net.settle(elect(leader, [1, 2]).messages);
  assert.equal(f2.status().lastLogIndex, 1);
  const cut = (m: Message) => m.to !== 2 && m.from !== 2;
  for (let k = 0; k < 10; k++) leader.propose(enc(`c${k}`));
  net.settle(net.drain(0), 50, cut);
  const applied = leader.status().lastApplied;
  assert.equal(applied, 11);
  assert.deepEqual(leader.compact(applied), { ok: true });
  return { leader, f2, net, snapshotIndex: applied };
}

test('a leader sends InstallSnapshot to a follower that needs compacted entries, then resumes', () => {
  const { leader, f2, net, snapshotIndex } = leaderPastFollower2();
  // The next heartbeat reveals that follower 2 lacks entries the leader compacted away: once the
  // leader learns where follower 2's log ends, a snapshot goes instead of entries.
  for (let t = 0; t < HEARTBEAT_TICKS; t++) leader.tick();
  let snap: Message | undefined;
  let pending = net.drain(0);
  for (let round = 0; round < 10 && snap === undefined; round++) {
    snap = pending.find((m) => m.type === MsgType.InstallSnapshot && m.to === 2);
    if (snap === undefined) pending = net.deliver(pending, (m) => m.type !== MsgType.InstallSnapshot);
  }
  assert.ok(snap !== undefined && snap.type === MsgType.InstallSnapshot, 'no InstallSnapshot was sent');
  assert.deepEqual([snap.lastIncludedIndex, snap.lastIncludedTerm], [snapshotIndex, leader.status().term]);
  assert.equal(f2.status().lastLogIndex, 1, 'follower 2 got no entries: the leader no longer has them');
  // Nothing else carrying entries goes to follower 2 while the snapshot is in flight.
  leader.propose(enc('more'));
  assert.equal(appendsTo(net.drain(0), 2).filter((m) => m.entries.length > 0).length, 0, 'entries sent while a snapshot is in flight');
  // Follower 2 installs it and answers; the leader resumes with the entries after it.
  net.settle([snap]);
  for (let t = 0; t < HEARTBEAT_TICKS; t++) leader.tick();
  net.settle(net.drain(0));
  assert.equal(f2.status().snapshotIndex, snapshotIndex);
  assert.equal(f2.status().lastLogIndex, leader.status().lastLogIndex);
  assert.equal(f2.status().commitIndex, leader.status().commitIndex);
  assert.equal(f2.status().lastApplied, leader.status().lastApplied);
});

test('a leader keeps a follower it is sending a snapshot to from timing out', () => {
  const { leader, f2, net } = leaderPastFollower2();
  // The InstallSnapshot is lost; the leader keeps ticking, delivering everything else.
  let snapshotLost = false;
  const drop = (m: Message) => {
    if (!snapshotLost && m.type === MsgType.InstallSnapshot) {
      snapshotLost = true;
      return false;
    }
    return true;
  };
  const term = leader.status().term;
  for (let t = 0; t < 4 * ELECTION_TICKS; t++) {
    leader.tick();
    f2.tick();
    net.settle([...net.drain(0), ...net.drain(2)], 20, drop);
  }
  assert.ok(snapshotLost);
  assert.equal(f2.status().term, term, `follower 2 started an election (term ${f2.status().term}) under a live leader of term ${term}`);
  assert.equal(leader.status().role, 'leader');
});
