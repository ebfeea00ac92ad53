/**
 * Log replication rules of the core (Figure 2 and sections 5.3, 5.4.2 of the extended paper),
 * the durability contract (persist before you promise), and the leader's flow control
 * (probe, replicate, inflight windows), each checked on cores stepped by hand.
 *
 * Log diagrams: one column per index, the number is the entry's term.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MsgType, type AppendEntries, type Message } from '../../src/core/types.js';
import {
  ackAll,
  append,
  appendReply,
  appendsTo,
  dec,
  drain,
  elect,
  enc,
  entry,
  HandNet,
  HEARTBEAT_TICKS,
  log,
  makeCore,
  ofType,
  requestVote,
  sent,
  terms,
  tickUntilCandidate,
} from './core-helpers.js';

/** The single AppendEntriesReply in a drained Ready. */
function replyOf(msgs: readonly Message[]) {
  const replies = ofType(msgs, MsgType.AppendEntriesReply);
  assert.equal(replies.length, 1, `expected one AppendEntriesReply, got ${JSON.stringify(msgs)}`);
  return replies[0]!;
}

/** A 3-peer leader (id 0) whose followers have acked its no-op: both in replicate state. */
function steadyLeader(opts: Parameters<typeof makeCore>[0] = {}) {
  const core = makeCore({ id: 0, peers: 3, ...opts });
  elect(core, [1, 2]);
  ackAll(core, [1, 2]);
  drain(core);
  assert.equal(core.status().commitIndex, core.status().lastLogIndex, 'the no-op should be committed');
  return core;
}

// ---------------------------------------------------------------------------- follower side

test('a follower rejects AppendEntries whose prevLogTerm does not match', () => {
  //   follower: 1 1 2 2
  //   leader's AppendEntries: prev = 4/t3
  const core = makeCore({ id: 1, term: 3, entries: log(1, 1, 2, 2) });
  core.step(append(0, 1, 3, 4, 3, [entry(5, 3)], 4));
  const r = drain(core);
  const reply = replyOf(sent(r));
  assert.equal(reply.success, false);
  assert.equal(reply.matchIndex, 4, 'names the rejected prevLogIndex');
  assert.equal(reply.conflictTerm, 2, 'the term we hold at prevLogIndex');
  assert.equal(reply.conflictIndex, 3, 'the first index we hold for that term');
  assert.deepEqual(terms(core), [1, 1, 2, 2], 'a rejected AppendEntries changes nothing');
  assert.equal(core.status().commitIndex, 0, 'nor learns a commit from it');
});

test('a follower rejects AppendEntries that start beyond its log with conflictIndex = lastIndex + 1', () => {
  const core = makeCore({ id: 1, term: 2, entries: log(1, 1) });
  core.step(append(0, 1, 2, 5, 2, [entry(6, 2)], 6));
  const reply = replyOf(sent(drain(core)));
  assert.deepEqual([reply.success, reply.matchIndex, reply.conflictTerm, reply.conflictIndex], [false, 5, 0, 3]);
  assert.deepEqual(terms(core), [1, 1]);
});

test('a stale AppendEntries whose entries all match never shortens the log', () => {
  //   follower: 1 1 1 1 1   (already received everything)
  //   a delayed AppendEntries: prev = 1/t1, entries 2..3 of term 1
  const core = makeCore({ id: 1, term: 1, entries: log(1, 1, 1, 1, 1) });
  core.step(append(0, 1, 1, 1, 1, [entry(2, 1), entry(3, 1)], 0));
  const r = drain(core);
  assert.deepEqual(terms(core), [1, 1, 1, 1, 1], 'the entries after the message must survive');
  assert.equal(r.entries.length, 0, 'nothing to write');
  const reply = replyOf(sent(r));
  assert.equal(reply.success, true);
  assert.equal(reply.matchIndex, 3, 'acknowledges only what the message proves matches');
});

test('a conflicting entry truncates the follower log from the conflict on', () => {
  //   follower: 1 1 2 2 2
  //   leader:   1 1 3 3        (AppendEntries prev = 2/t1, entries 3..4 of term 3)
  const core = makeCore({ id: 1, term: 3, entries: log(1, 1, 2, 2, 2) });
  core.step(append(0, 1, 3, 2, 1, [entry(3, 3), entry(4, 3)], 2));
  const r = drain(core);
  assert.deepEqual(terms(core), [1, 1, 3, 3]);
  assert.deepEqual(r.entries.map((e) => [e.index, e.term]), [[3, 3], [4, 3]], 'the write starts at the conflict and replaces what is stored there');
  assert.equal(replyOf(sent(r)).matchIndex, 4);
});

test('a follower appends only what is new; a duplicate AppendEntries writes nothing', () => {
  const core = makeCore({ id: 1, term: 1, entries: log(1, 1) });
  const m = append(0, 1, 1, 1, 1, [entry(2, 1), entry(3, 1), entry(4, 1)], 0);
  core.step(m);
  const r1 = drain(core);
  assert.deepEqual(r1.entries.map((e) => e.index), [3, 4], 'index 2 was already there');
  core.step(m);
  const r2 = drain(core);
  assert.equal(r2.entries.length, 0);
  assert.equal(replyOf(sent(r2)).matchIndex, 4);
  assert.deepEqual(terms(core), [1, 1, 1, 1]);
});

test('commitIndex is min(leaderCommit, index of last new entry)', () => {
  // The follower holds more than the message covers; entries past the message are not known to
  // match the leader, so leaderCommit 9 commits only up to the message's last entry.
  const core = makeCore({ id: 1, term: 2, entries: log(1, 1, 1, 1, 1, 1) });
  core.step(append(0, 1, 2, 1, 1, [entry(2, 1), entry(3, 1)], 9));
  assert.equal(core.status().commitIndex, 3);
  core.step(append(0, 1, 2, 3, 1, [], 9));
  assert.equal(core.status().commitIndex, 3, 'an empty AppendEntries at 3 proves nothing past 3');
  core.step(append(0, 1, 2, 3, 1, [entry(4, 1)], 4));
  assert.equal(core.status().commitIndex, 4);
});

test('commitIndex never goes back', () => {
  const core = makeCore({ id: 1, term: 1, entries: log(1, 1, 1, 1) });
  core.step(append(0, 1, 1, 4, 1, [], 4));
  assert.equal(core.status().commitIndex, 4);
  // A delayed message with an older leaderCommit, then one whose last new entry is lower.
  core.step(append(0, 1, 1, 2, 1, [entry(3, 1)], 2));
  assert.equal(core.status().commitIndex, 4);
  core.step(append(0, 1, 1, 1, 1, [], 4));
  assert.equal(core.status().commitIndex, 4);
  // A leader of a later term that knows less.
  core.step(append(2, 1, 2, 4, 1, [], 1));
  assert.equal(core.status().commitIndex, 4);
  drain(core);
  assert.equal(core.status().lastApplied, 4);
});

test('an append acknowledgement is released only after the entries are durable', () => {
  const core = makeCore({ id: 1, term: 1 });
  core.step(append(0, 1, 1, 0, 0, [entry(1, 1), entry(2, 1)], 0));
  const r = core.ready();
  assert.equal(ofType(r.messages, MsgType.AppendEntriesReply).length, 0, 'an ack must not go out with the write still pending');
  assert.deepEqual(ofType(r.messagesAfterPersist, MsgType.AppendEntriesReply).map((m) => [m.success, m.matchIndex]), [[true, 2]]);
  assert.deepEqual(r.entries.map((e) => e.index), [1, 2], 'the acked entries are in the same batch');
});

test('a follower applies committed entries in the Ready that writes them, before they are durable here', () => {
  const core = makeCore({ id: 1, term: 1 });
  core.step(append(0, 1, 1, 0, 0, [entry(1, 1, 'a'), entry(2, 1, 'b'), entry(3, 1, 'c')], 2));
  assert.equal(core.status().commitIndex, 2);
  const r1 = core.ready();
  assert.deepEqual(r1.entries.map((e) => e.index), [1, 2, 3], 'the write that carries them');
  assert.deepEqual(r1.committed.map((e) => dec(e.data)), ['a', 'b'], 'committed (durable on a majority): applied once their write is issued');
  assert.ok(core.status().stableIndex < 1, 'nothing is durable here yet');
  assert.equal(ofType(r1.messages, MsgType.AppendEntriesReply).length, 0, 'the ack still waits for durability');
  core.persisted(r1.seq);
  assert.equal(drain(core).committed.length, 0, 'each entry is handed over once');
  core.step(append(0, 1, 1, 3, 1, [], 3));
  assert.deepEqual(drain(core).committed.map((e) => dec(e.data)), ['c']);
});

test('a write superseded by a truncation does not count as durable', () => {
  // Batch A writes 1..3 of term 1; before it is durable, a new leader replaces 2..3 (batch B).
  const core = makeCore({ id: 1, term: 1 });
  core.step(append(0, 1, 1, 0, 0, [entry(1, 1), entry(2, 1), entry(3, 1)], 0));
  const a = core.ready();
  core.step(append(2, 1, 2, 1, 1, [entry(2, 2), entry(3, 2)], 0));
  const b = core.ready();
  core.persisted(a.seq);
  assert.ok(core.status().stableIndex <= 1, `stableIndex ${core.status().stableIndex}: batch A's entries 2..3 were replaced, they are not the log's`);
  core.persisted(b.seq);
  assert.equal(core.status().stableIndex, 3);
  // B's ack (for the term-2 entries) is what goes out after B.
  assert.deepEqual(ofType(b.messagesAfterPersist, MsgType.AppendEntriesReply).map((m) => [m.to, m.matchIndex]), [[2, 3]]);
});

// ---------------------------------------------------------------------------- leader side

test('propose on a non-leader is rejected with not-leader and a leader hint', () => {
  const fresh = makeCore({ id: 1 });
  assert.deepEqual(fresh.propose(enc('x')), { ok: false, reason: 'not-leader', leaderHint: -1 });
  const follower = makeCore({ id: 1, term: 1, checkQuorum: false });
  follower.step(append(2, 1, 1, 0, 0, []));
  assert.deepEqual(follower.propose(enc('x')), { ok: false, reason: 'not-leader', leaderHint: 2 });
  assert.deepEqual(follower.proposeBatch([enc('x'), enc('y')]), { ok: false, reason: 'not-leader', leaderHint: 2 });
  const candidate = makeCore({ id: 1 });
  tickUntilCandidate(candidate);
  assert.deepEqual(candidate.propose(enc('x')), { ok: false, reason: 'not-leader', leaderHint: -1 });
  assert.equal(follower.status().lastLogIndex, 0, 'a refused proposal appends nothing');
  // A follower that learns of a newer term through a vote request forgets the old leader.
  follower.step(requestVote(0, 1, 5, 0, 0));
  assert.deepEqual(follower.propose(enc('x')), { ok: false, reason: 'not-leader', leaderHint: -1 });
});

test('propose and proposeBatch append at consecutive indices in the current term', () => {
  const core = steadyLeader();
  const { term, lastLogIndex } = core.status();
  assert.deepEqual(core.propose(enc('a')), { ok: true, index: lastLogIndex + 1, term });
  assert.deepEqual(core.proposeBatch([enc('b'), enc('c')]), { ok: true, index: lastLogIndex + 2, term });
  const r = drain(core);
  assert.deepEqual(r.entries.map((e) => [e.index, e.term, dec(e.data)]), [
    [lastLogIndex + 1, term, 'a'],
    [lastLogIndex + 2, term, 'b'],
    [lastLogIndex + 3, term, 'c'],
  ]);
});

test('proposals between two readies become one append and one AppendEntries per follower', () => {
  const core = steadyLeader();
  const first = core.status().lastLogIndex + 1;
  for (let k = 0; k < 10; k++) core.propose(enc(`cmd${k}`));
  core.proposeBatch([enc('x'), enc('y')]);
  const r = core.ready();
  assert.equal(r.entries.length, 12, 'one write carries all twelve');
  for (const to of [1, 2]) {
    const ae = appendsTo(r.messages, to);
    assert.equal(ae.length, 1, `one AppendEntries to ${to}`);
    assert.deepEqual(ae[0]!.entries.map((e) => e.index), Array.from({ length: 12 }, (_, k) => first + k));
  }
  assert.equal(r.messages.length, 2);
});

test('the inflight window bounds messages and bytes', () => {
  // By count: at most 4 AppendEntries in flight per follower.
  const byCount = steadyLeader({ maxInflightMsgs: 4, maxMsgEntries: 1 });
  const base = byCount.status().lastLogIndex;
  for (let k = 0; k < 10; k++) byCount.propose(enc(`c${k}`));
  let r = drain(byCount);
  for (const to of [1, 2]) assert.equal(appendsTo(r.messages, to).length, 4, `count window to ${to}`);
  // A heartbeat does not push more entries through a full window.
  for (let t = 0; t < HEARTBEAT_TICKS; t++) byCount.tick();
  r = drain(byCount);
  for (const m of appendsTo(r.messages, 1)) assert.equal(m.entries.length, 0, 'heartbeat carried entries through a full window');
  // Acking the first two frees two slots: exactly two more go.
  byCount.step(appendReply(1, 0, byCount.status().term, true, base + 2));
  r = drain(byCount);
  assert.deepEqual(appendsTo(r.messages, 1).map((m) => m.entries.map((e) => e.index)), [[base + 5], [base + 6]]);
  assert.equal(appendsTo(r.messages, 2).length, 0);

  // By bytes: entries of 300 bytes, a window of 1000 bytes: sending stops once in-flight bytes
  // reach the limit (the message that crosses it still goes, so a single large entry can move).
  const byBytes = steadyLeader({ maxInflightBytes: 1000, maxMsgEntries: 1 });
  for (let k = 0; k < 10; k++) byBytes.propose(new Uint8Array(300));
  r = drain(byBytes);
  for (const to of [1, 2]) {
    const ae = appendsTo(r.messages, to);
    const bytes = ae.reduce((n, m) => n + m.entries.reduce((s, e) => s + e.data.length, 0), 0);
    assert.equal(ae.length, 4, `byte window to ${to}: ${ae.length} messages`);
    assert.ok(bytes - 300 < 1000, `a message was sent with ${bytes - 300} bytes already in flight`);
  }
});

test('probe sends one message at a time', () => {
  // A new leader does not know where followers' logs match: one AppendEntries each, then it waits.
  const core = makeCore({ id: 0, peers: 3, entries: log(1, 1) });
  const first = elect(core, [1]);
  assert.equal(appendsTo(first.messages, 1).length, 1);
  for (let k = 0; k < 5; k++) {
    core.propose(enc(`c${k}`));
    const r = drain(core);
    assert.equal(appendsTo(r.messages, 1).length, 0, 'sent again while the probe is unanswered');
  }
  // Until the next heartbeat, which sends exactly one more.
  let more: AppendEntries[] = [];
  for (let t = 0; t < HEARTBEAT_TICKS; t++) {
    core.tick();
    more = more.concat(appendsTo(drain(core).messages, 1));
  }
  assert.equal(more.length, 1);
  // An answer (here a rejection with a hint) lets the next probe go at once, again just one.
  const m = more[0]!;
  core.step(appendReply(1, 0, m.term, false, m.prevLogIndex, 0, 2));
  const after = appendsTo(drain(core).messages, 1);
  assert.equal(after.length, 1);
  assert.equal(after[0]!.prevLogIndex, 1, 'the probe moves to the follower\'s hint');
});

test('a success in probe switches to replicate, which streams without waiting', () => {
  const core = makeCore({ id: 0, peers: 3, maxMsgEntries: 1 });
  const first = elect(core, [1]);
  const m = appendsTo(first.messages, 1)[0]!;
  core.step(appendReply(1, 0, m.term, true, m.prevLogIndex + m.entries.length));
  for (let k = 0; k < 3; k++) core.propose(enc(`c${k}`));
  const r = drain(core);
  assert.equal(appendsTo(r.messages, 1).length, 3, 'replicate sends every entry without waiting for acks');
  assert.equal(appendsTo(r.messages, 2).length, 0, 'the other follower is still probing');
});

test('fast backtracking moves nextIndex past a whole conflicting term in one step', () => {
  const cases = [
    {
      // The leader has no entry of the follower's conflicting term: skip all of it.
      //   leader:   1 3 3 | 4 (no-op)
      //   follower: 1 2 2 2 2 2
      leader: [1, 3, 3],
      follower: [1, 2, 2, 2, 2, 2],
      leaderTerm: 3,
      nextPrev: 1,
    },
    {
      // The leader has the conflicting term: resume right after its last entry of that term.
      //   leader:   1 1 2 2 3 3 | 4 (no-op)
      //   follower: 1 1 2 2 2 2 2 2
      leader: [1, 1, 2, 2, 3, 3],
      follower: [1, 1, 2, 2, 2, 2, 2, 2],
      leaderTerm: 3,
      nextPrev: 4,
    },
    {
      // The follower's log is short: resume at its end.
      //   leader:   1 1 1 1 | 2 (no-op)
      //   follower: 1
      leader: [1, 1, 1, 1],
      follower: [1],
      leaderTerm: 1,
      nextPrev: 1,
    },
  ];
  for (const c of cases) {
    const leader = makeCore({ id: 0, peers: 3, term: c.leaderTerm, entries: log(...c.leader) });
    const follower = makeCore({ id: 1, peers: 3, term: c.leaderTerm, entries: log(...c.follower) });
    const net = new HandNet([leader, follower, null]);
    const first = appendsTo(elect(leader, [2]).messages, 1);
    // Round trip 1: the probe at the leader's end is rejected with a hint.
    const reject = net.deliver(first);
    assert.equal(replyOf(reject).success, false);
    // The very next AppendEntries starts at the hinted point, skipping the conflicting run.
    const second = appendsTo(net.deliver(reject), 1);
    assert.equal(second.length, 1);
    assert.equal(second[0]!.prevLogIndex, c.nextPrev, `leader ${c.leader} / follower ${c.follower}`);
    // Round trip 2 succeeds: two round trips in all, whatever the length of the conflict.
    const ok = net.deliver(second);
    assert.equal(replyOf(ok).success, true);
    assert.deepEqual(terms(follower), terms(leader));
  }
});

test('a rejection in replicate state falls back to probe; a stale rejection moves nothing', () => {
  const core = steadyLeader({ maxMsgEntries: 1 });
  const term = core.status().term;
  const base = core.status().lastLogIndex;
  for (let k = 0; k < 3; k++) core.propose(enc(`c${k}`));
  drain(core);
  // A rejection of something at or below what is known to match is stale: ignored.
  core.step(appendReply(1, 0, term, false, base - 1, 0, 1));
  assert.equal(appendsTo(drain(core).messages, 1).length, 0, 'a stale rejection caused a resend');
  // A real rejection (entry base+1 was lost, so base+2 did not fit): probe from the hint.
  core.step(appendReply(1, 0, term, false, base + 1, 0, base + 1));
  const r = appendsTo(drain(core).messages, 1);
  assert.equal(r.length, 1, 'probe: one message');
  assert.equal(r[0]!.prevLogIndex, base);
});

test('a leader commits only entries of its current term by counting replicas (Figure 8)', () => {
  // Figure 8 (c): S1 led term 2 and got entry 2 onto S2 only; S5 led term 3 (entry 2 of term 3,
  // on S5 alone); S1 leads again in term 4 and copies entry 2 to S3. Entry 2 (term 2) is then on
  // a majority (S1, S2, S3), but committing it would be wrong: S5 could still win an election
  // (its last term 3 beats 2) and overwrite it. Only once an entry of term 4 is on a majority
  // may S1 commit, and that commits entry 2 with it.
  //
  //   index:  1 2 3
  //   S1 (0): 1 2 4   leader, term 4 (3 is its no-op)
  //   S2 (1): 1 2
  //   S3 (2): 1
  //   S4 (3): 1       unreachable
  //   S5 (4): 1 3     unreachable
  const s1 = makeCore({ id: 0, peers: 5, term: 3, entries: log(1, 2), maxMsgEntries: 1 });
  const s2 = makeCore({ id: 1, peers: 5, term: 3, entries: log(1, 2) });
  const s3 = makeCore({ id: 2, peers: 5, term: 3, entries: log(1) });
  const net = new HandNet([s1, s2, s3, null, null]);
  const won = elect(s1, [1, 2]);
  assert.equal(won.committed.length, 0);
  assert.equal(s1.status().term, 4);
  const toS3 = (m: Message) => m.to === 2 || m.from === 2;

  // Copy entry 2 to S3 only (S3 rejects the first probe, then takes entry 2 alone).
  let msgs = net.deliver(appendsTo(won.messages, 2)); // S3 rejects prev 2
  msgs = net.deliver(msgs); // S1 probes prev 1 with entry 2 only
  msgs = net.deliver(msgs, toS3); // S3 stores entry 2 and acks it
  assert.deepEqual(terms(s3), [1, 2]);
  const ack = replyOf(msgs);
  assert.deepEqual([ack.success, ack.matchIndex], [true, 2]);
  net.deliver([ack]);
  assert.equal(s1.status().commitIndex, 0, 'entry 2 of term 2 is on a majority, but must not be committed by counting');

  // Entry 3 (term 4) reaches S2: S1, S2 and S3 hold entry 2, but only S1 and S2 hold entry 3.
  net.settle(appendsTo(won.messages, 1));
  assert.deepEqual(terms(s2), [1, 2, 4]);
  assert.equal(s1.status().commitIndex, 0, 'entry 3 is on 2 of 5: not committed; entry 2 still not');
  assert.equal(net.applied[0]!.length, 0);

  // Entry 3 reaches S3 too: now an entry of the current term is on a majority.
  for (let t = 0; t < HEARTBEAT_TICKS; t++) s1.tick();
  net.settle(net.drain(0), 20, toS3);
  assert.equal(s1.status().commitIndex, 3, 'an entry of the current term on a majority commits, and everything before it');
  assert.deepEqual(net.applied[0]!.map((e) => [e.index, e.term]), [[1, 1], [2, 2], [3, 4]], 'applied in order, once each');
});

test('the leader counts itself toward commit only once durable', () => {
  const core = steadyLeader();
  const term = core.status().term;
  const index = core.status().lastLogIndex + 1;
  core.propose(enc('x'));
  const r = core.ready(); // the leader's own write of 'x' is in flight
  const ae = appendsTo(r.messages, 1)[0]!;
  assert.equal(ae.entries.at(-1)!.index, index, 'the leader may send before its own write is durable');
  // Follower 1 acks: leader + follower 1 is a majority of 3, but the leader's copy is not durable.
  core.step(appendReply(1, 0, term, true, index));
  const later = core.ready(); // a later Ready, still not reported durable
  assert.ok(core.status().commitIndex < index, 'committed with its own copy not yet durable');
  assert.equal(later.committed.length, 0);
  core.persisted(r.seq);
  assert.equal(core.status().commitIndex, index);
  assert.deepEqual(core.ready().committed.map((e) => dec(e.data)), ['x']);
});

test('a leader applies an entry both followers made durable while its own write is still in flight', () => {
  // Thesis 10.2.1: the followers alone are a majority of 3, so the leader's slow disk need not
  // hold the answer back.
  const core = steadyLeader();
  const term = core.status().term;
  const index = core.status().lastLogIndex + 1;
  core.propose(enc('y'));
  const r = core.ready();
  assert.deepEqual(r.entries.map((e) => e.index), [index], "the leader's own write is issued");
  core.step(appendReply(1, 0, term, true, index));
  core.step(appendReply(2, 0, term, true, index));
  assert.equal(core.status().commitIndex, index, 'committed by the followers');
  assert.ok(core.status().stableIndex < index, "the leader's copy is not durable yet");
  const later = core.ready();
  assert.deepEqual(later.committed.map((e) => dec(e.data)), ['y'], 'applied without waiting for the local write');
  assert.equal(later.entries.length, 0, 'no second write of the entry');
  core.persisted(later.seq);
  assert.equal(core.status().stableIndex, index);
  assert.equal(drain(core).committed.length, 0, 'each entry is handed over once');
});

test('a follower learns commits from leaderCommit in the next AppendEntries', () => {
  const leader = makeCore({ id: 0, peers: 3 });
  const f1 = makeCore({ id: 1, peers: 3 });
  const f2 = makeCore({ id: 2, peers: 3 });
  const net = new HandNet([leader, f1, f2]);
  net.settle(elect(leader, [1, 2]).messages);
  leader.propose(enc('x'));
  net.settle(sent(drain(leader)));
  assert.equal(leader.status().commitIndex, 2);
  assert.ok(f1.status().commitIndex < 2, 'the follower cannot know yet');
  for (let t = 0; t < HEARTBEAT_TICKS; t++) leader.tick();
  net.settle(sent(drain(leader)));
  assert.equal(f1.status().commitIndex, 2);
  assert.equal(f2.status().commitIndex, 2);
  assert.equal(f1.status().lastApplied, 2);
});
