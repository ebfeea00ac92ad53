/**
 * Leader election rules of the core (Figure 2, sections 5.2 and 5.4.1 of the extended paper),
 * each checked on cores stepped by hand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MsgType } from '../../src/core/types.js';
import {
  append,
  appendReply,
  drain,
  elect,
  ELECTION_TICKS,
  entry,
  HEARTBEAT_TICKS,
  installSnapshot,
  log,
  makeCore,
  ofType,
  requestVote,
  sent,
  tickUntilCandidate,
  voteReply,
} from './core-helpers.js';

test('election timeout is randomized in [electionTicks, 2*electionTicks)', () => {
  const seen = new Set<number>();
  for (let seed = 1; seed <= 200; seed++) {
    const core = makeCore({ seed });
    const first = tickUntilCandidate(core);
    assert.ok(first >= ELECTION_TICKS && first < 2 * ELECTION_TICKS, `seed ${seed}: campaigned after ${first} ticks`);
    seen.add(first);
    // Each new term draws again: a candidate that does not win campaigns again in range.
    drain(core);
    const term = core.status().term;
    let again = 0;
    while (core.status().term === term) {
      core.tick();
      again++;
      assert.ok(again < 2 * ELECTION_TICKS, `seed ${seed}: candidate did not campaign again within ${2 * ELECTION_TICKS} ticks`);
    }
    assert.ok(again >= ELECTION_TICKS, `seed ${seed}: campaigned again after only ${again} ticks`);
    seen.add(again);
  }
  // Every value of the range shows up: the timeout really is drawn, and from the whole range.
  assert.deepEqual([...seen].sort((a, b) => a - b), Array.from({ length: ELECTION_TICKS }, (_, k) => ELECTION_TICKS + k));
});

test('a follower that hears from its leader does not campaign', () => {
  const core = makeCore({ id: 1, term: 1 });
  for (let t = 0; t < 10 * ELECTION_TICKS; t++) {
    core.tick();
    if (t % (ELECTION_TICKS - 1) === 0) core.step(append(0, 1, 1, 0, 0, []));
    drain(core);
  }
  assert.equal(core.status().role, 'follower');
  assert.equal(core.status().term, 1);
});

test('a vote is not released before the driver reports it durable (it is in messagesAfterPersist)', () => {
  const core = makeCore({ id: 1, term: 1 });
  assert.deepEqual(core.step(requestVote(2, 1, 2, 0, 0)), { ok: true });
  const r = core.ready();
  assert.deepEqual(r.hardState, { currentTerm: 2, votedFor: 2 }, 'the vote must be in the batch to persist');
  assert.equal(ofType(r.messages, MsgType.RequestVoteReply).length, 0, 'a vote must not go out before it is durable');
  assert.deepEqual(ofType(r.messagesAfterPersist, MsgType.RequestVoteReply), [voteReply(1, 2, 2, true)]);
  // A candidate's own RequestVotes promise nothing, so they go out at once.
  const cand = makeCore({ id: 0 });
  tickUntilCandidate(cand);
  const rc = cand.ready();
  assert.equal(ofType(rc.messages, MsgType.RequestVote).length, 2);
  assert.equal(ofType(rc.messagesAfterPersist, MsgType.RequestVote).length, 0);
});

test('a candidate counts its own vote only once persisted', () => {
  const core = makeCore({ id: 0, peers: 3 });
  tickUntilCandidate(core);
  const r = core.ready();
  const term = core.status().term;
  // One other vote plus our own is a majority of 3, but ours is not durable yet.
  core.step(voteReply(1, 0, term, true));
  assert.equal(core.status().role, 'candidate', 'won with a vote for itself that is not durable');
  core.persisted(r.seq - 1);
  assert.equal(core.status().role, 'candidate', 'an earlier batch being durable does not make the vote durable');
  core.persisted(r.seq);
  assert.equal(core.status().role, 'leader');
  assert.equal(core.status().term, term);
});

test('a candidate wins with votes from a majority, each counted once', () => {
  const core = makeCore({ id: 0, peers: 5 });
  tickUntilCandidate(core);
  drain(core);
  const term = core.status().term;
  core.step(voteReply(1, 0, term, true));
  core.step(voteReply(1, 0, term, true)); // a duplicate
  core.step(voteReply(2, 0, term, false));
  assert.equal(core.status().role, 'candidate', 'self + one peer (counted twice) is not 3 of 5');
  core.step(voteReply(3, 0, term, true));
  assert.equal(core.status().role, 'leader');
});

test('votedFor persists in the hard state', () => {
  const a = makeCore({ id: 1, term: 3 });
  a.step(requestVote(2, 1, 4, 0, 0));
  const r = drain(a);
  assert.deepEqual(r.hardState, { currentTerm: 4, votedFor: 2 });
  assert.equal(a.status().votedFor, 2);

  // A restarted peer with that hard state remembers its vote: no second vote in term 4...
  const b = makeCore({ id: 1, term: r.hardState!.currentTerm, votedFor: r.hardState!.votedFor });
  b.step(requestVote(0, 1, 4, 0, 0));
  const rb = drain(b);
  assert.deepEqual(ofType(rb.messagesAfterPersist, MsgType.RequestVoteReply), [voteReply(1, 0, 4, false)]);
  assert.equal(rb.hardState, null, 'a refused vote changes nothing durable');
  // ...but the same candidate asking again is granted again (its reply may have been lost).
  b.step(requestVote(2, 1, 4, 0, 0));
  const rb2 = drain(b);
  assert.deepEqual(ofType(rb2.messagesAfterPersist, MsgType.RequestVoteReply), [voteReply(1, 2, 4, true)]);
  assert.equal(rb2.hardState, null, 'a repeated vote for the same candidate needs no new write');

  // A vote within the current term (no term change to persist) must be written all the same.
  const c = makeCore({ id: 1, term: 4 });
  c.step(requestVote(2, 1, 4, 0, 0));
  const rc = c.ready();
  assert.deepEqual(rc.hardState, { currentTerm: 4, votedFor: 2 }, 'a vote in the current term was not persisted');
  assert.deepEqual(ofType(rc.messagesAfterPersist, MsgType.RequestVoteReply).map((m) => m.voteGranted), [true]);
});

test('a peer grants at most one vote per term', () => {
  const core = makeCore({ id: 0, term: 1 });
  core.step(requestVote(1, 0, 2, 0, 0));
  core.step(requestVote(2, 0, 2, 0, 0));
  const replies = ofType(drain(core).messagesAfterPersist, MsgType.RequestVoteReply);
  assert.deepEqual(replies.map((m) => [m.to, m.voteGranted]), [[1, true], [2, false]]);
});

test('RequestVote up-to-date check: a later last term wins, then a longer log (section 5.4.1)', () => {
  // Our log ends at index 3, term 2.
  const cases: { lastLogIndex: number; lastLogTerm: number; grant: boolean; why: string }[] = [
    { lastLogIndex: 1, lastLogTerm: 3, grant: true, why: 'higher last term, shorter log' },
    { lastLogIndex: 3, lastLogTerm: 2, grant: true, why: 'same last term, same length' },
    { lastLogIndex: 5, lastLogTerm: 2, grant: true, why: 'same last term, longer log' },
    { lastLogIndex: 2, lastLogTerm: 2, grant: false, why: 'same last term, shorter log' },
    { lastLogIndex: 9, lastLogTerm: 1, grant: false, why: 'lower last term, longer log' },
    { lastLogIndex: 0, lastLogTerm: 0, grant: false, why: 'empty log' },
  ];
  for (const c of cases) {
    const core = makeCore({ id: 0, term: 2, entries: log(1, 1, 2) });
    core.step(requestVote(1, 0, 5, c.lastLogIndex, c.lastLogTerm));
    const reply = ofType(drain(core).messagesAfterPersist, MsgType.RequestVoteReply)[0]!;
    assert.equal(reply.voteGranted, c.grant, c.why);
    assert.equal(core.status().term, 5, `${c.why}: the higher term is adopted either way`);
    assert.equal(core.status().votedFor, c.grant ? 1 : -1, c.why);
  }
});

test('granting a vote resets the election timer; refusing one does not', () => {
  // Our log ends at 1/t1. Find the seed's timeout first, then replay it with a RequestVote of
  // our own term arriving one tick before it fires.
  const probe = makeCore({ id: 0, seed: 7, term: 1, entries: log(1) });
  const timeout = tickUntilCandidate(probe);
  for (const grant of [true, false]) {
    const core = makeCore({ id: 0, seed: 7, term: 1, entries: log(1) });
    for (let t = 0; t < timeout - 1; t++) core.tick();
    assert.deepEqual(core.step(requestVote(1, 0, 1, grant ? 1 : 0, grant ? 1 : 0)), { ok: true });
    drain(core);
    core.tick();
    assert.equal(core.status().role, grant ? 'follower' : 'candidate', grant ? 'a granted vote must reset the timer' : 'a refused vote must not');
  }
});

test('any higher term makes a peer step down', () => {
  const messages = [
    requestVote(1, 0, 9, 0, 0), // refused: the candidate's log is behind ours
    voteReply(1, 0, 9, false),
    append(1, 0, 9, 0, 0, []),
    appendReply(1, 0, 9, false, 0),
    installSnapshot(1, 0, 9, 1, 1),
    { type: MsgType.InstallSnapshotReply, term: 9, from: 1, to: 0, matchIndex: 0 } as const,
  ];
  for (const role of ['follower', 'candidate', 'leader'] as const) {
    for (const m of messages) {
      // checkQuorum off: with it, a leader ignores RequestVote while its lease holds (tested below).
      const core = makeCore({ id: 0, term: 2, entries: log(1, 2), checkQuorum: false });
      if (role === 'candidate') {
        tickUntilCandidate(core);
        drain(core);
      } else if (role === 'leader') elect(core, [1]);
      assert.equal(core.status().role, role);
      assert.deepEqual(core.step(m), { ok: true });
      const st = core.status();
      const what = `${role} receiving type ${m.type} of term 9`;
      assert.equal(st.role, 'follower', what);
      assert.equal(st.term, 9, what);
      assert.equal(st.votedFor, -1, what);
      const r = core.ready();
      assert.deepEqual(r.hardState, { currentTerm: 9, votedFor: -1 }, `${what}: the new term must be persisted`);
      const expectLeader = m.type === MsgType.AppendEntries || m.type === MsgType.InstallSnapshot ? 1 : -1;
      assert.equal(st.leaderId, expectLeader, what);
    }
  }
});

test('a message from an older term is answered with the current term and changes nothing', () => {
  const core = makeCore({ id: 0, term: 5, entries: log(1, 4) });
  const before = core.status();
  for (const m of [
    requestVote(1, 0, 4, 10, 4),
    append(2, 0, 4, 2, 4, [entry(3, 4)], 3),
    installSnapshot(1, 0, 4, 2, 4),
    voteReply(1, 0, 4, true),
    appendReply(2, 0, 4, true, 2),
  ]) {
    assert.deepEqual(core.step(m), { ok: true });
  }
  const r = drain(core);
  assert.deepEqual(core.status(), before, 'stale messages must not change state');
  assert.equal(r.hardState, null);
  assert.equal(r.entries.length, 0);
  assert.deepEqual(
    sent(r).map((m) => [m.type, m.to, m.term]),
    [
      [MsgType.RequestVoteReply, 1, 5],
      [MsgType.AppendEntriesReply, 2, 5],
      [MsgType.InstallSnapshotReply, 1, 5],
    ],
    'requests are answered (with our term, so the sender steps down); replies are dropped',
  );
  for (const m of sent(r)) if (m.type === MsgType.RequestVoteReply) assert.equal(m.voteGranted, false);
  for (const m of sent(r)) if (m.type === MsgType.AppendEntriesReply) assert.equal(m.success, false);
});

test('a candidate that hears AppendEntries from a leader of its term becomes its follower', () => {
  const core = makeCore({ id: 0 });
  tickUntilCandidate(core);
  drain(core);
  const term = core.status().term;
  core.step(append(2, 0, term, 0, 0, [entry(1, term)]));
  const st = core.status();
  assert.equal(st.role, 'follower');
  assert.equal(st.term, term);
  assert.equal(st.leaderId, 2);
  assert.equal(st.votedFor, 0, 'stepping down within a term keeps the vote');
  assert.equal(st.lastLogIndex, 1);
});

test('a new leader appends a no-op of its term and sends it to every follower', () => {
  const core = makeCore({ id: 0, peers: 3, term: 2, entries: log(1, 2) });
  const r = elect(core, [1]);
  const st = core.status();
  assert.equal(st.term, 3);
  assert.equal(st.lastLogIndex, 3);
  assert.equal(core.log.entry(3).kind, 1, 'the entry is a no-op');
  assert.equal(core.log.entry(3).term, 3);
  assert.deepEqual(r.entries.map((e) => [e.index, e.term]), [[3, 3]]);
  for (const to of [1, 2]) {
    const ae = r.messages.filter((m) => m.type === MsgType.AppendEntries && m.to === to);
    assert.equal(ae.length, 1, `one AppendEntries to ${to}`);
  }
});

test('heartbeats every heartbeatTicks while the leader has work, twice as far apart once idle, and back at once with a proposal', () => {
  const core = makeCore({ id: 0, peers: 3 });
  elect(core, [1, 2]);
  // Keep check-quorum content: the followers answer every AppendEntries.
  const sentAt: number[][] = [[], [], []];
  const run = (from: number, to: number, atStart?: () => void): void => {
    for (let t = from; t <= to; t++) {
      core.tick();
      if (t === from) atStart?.();
      const r = drain(core);
      for (const m of r.messages) {
        if (m.type !== MsgType.AppendEntries) continue;
        sentAt[m.to]!.push(t);
        core.step(appendReply(m.to, 0, m.term, true, m.prevLogIndex + m.entries.length));
      }
      drain(core);
    }
  };
  run(1, 30);
  // The first heartbeat (tick 3) carries the no-op again (its first send went unanswered), and
  // sending entries is work: every HEARTBEAT_TICKS until ELECTION_TICKS after it, then every 6
  // (twice HEARTBEAT_TICKS, still below ELECTION_TICKS - HEARTBEAT_TICKS).
  const idle = [3, 6, 9, 12, 18, 24, 30];
  assert.deepEqual(sentAt[1], idle);
  assert.deepEqual(sentAt[2], idle);
  // A proposal is work: heartbeats come every HEARTBEAT_TICKS again.
  run(31, 45, () => assert.ok(core.propose(new Uint8Array([1])).ok));
  const after = sentAt[1]!.filter((t) => t > 31 && t <= 31 + ELECTION_TICKS);
  assert.ok(after.length >= 3, `heartbeats after the proposal: ${after.join(', ')}`);
  for (let k = 1; k < after.length; k++) assert.equal(after[k]! - after[k - 1]!, HEARTBEAT_TICKS, `busy again: ${after.join(', ')}`);
  assert.equal(core.status().role, 'leader');
});

test('check quorum: a leader that hears from no majority within twice the longest election timeout steps down', () => {
  // Silence: the leader steps down within one election timeout (plus the round in progress).
  const silent = makeCore({ id: 0, peers: 5 });
  elect(silent, [1, 2]);
  const term = silent.status().term;
  let ticks = 0;
  while (silent.status().role === "leader" && ticks < 6 * ELECTION_TICKS) {
    silent.tick();
    drain(silent);
    ticks++;
  }
  assert.equal(silent.status().role, 'follower', 'a leader cut off from every follower must step down');
  assert.ok(ticks <= 4 * ELECTION_TICKS, `stepped down only after ${ticks} ticks (the check spans twice the longest election timeout)`);
  assert.equal(silent.status().term, term, 'stepping down does not change the term');
  assert.deepEqual(silent.propose(new Uint8Array(1)), { ok: false, reason: 'not-leader', leaderHint: -1 });

  // Only a minority answering (1 of 4 followers + itself = 2 of 5): it still steps down.
  const minority = makeCore({ id: 0, peers: 5 });
  elect(minority, [1, 2]);
  for (let t = 0; t < 6 * ELECTION_TICKS && minority.status().role === "leader"; t++) {
    minority.tick();
    drain(minority);
    minority.step(appendReply(1, 0, term, true, 0));
  }
  assert.equal(minority.status().role, 'follower', 'a leader hearing from a minority must step down');

  // A majority answering (2 of 4 followers + itself = 3 of 5): it stays.
  const majority = makeCore({ id: 0, peers: 5 });
  elect(majority, [1, 2]);
  for (let t = 0; t < 5 * ELECTION_TICKS; t++) {
    majority.tick();
    drain(majority);
    majority.step(appendReply(1, 0, term, true, 0));
    majority.step(appendReply(3, 0, term, true, 0));
  }
  assert.equal(majority.status().role, 'leader', 'a leader hearing from a majority must stay');

  // With checkQuorum off, silence does not depose it.
  const off = makeCore({ id: 0, peers: 5, checkQuorum: false });
  elect(off, [1, 2]);
  for (let t = 0; t < 5 * ELECTION_TICKS; t++) {
    off.tick();
    drain(off);
  }
  assert.equal(off.status().role, 'leader');
});

test('a leader or candidate does not vote for another candidate of its own term', () => {
  const cand = makeCore({ id: 0 });
  tickUntilCandidate(cand);
  drain(cand);
  const term = cand.status().term;
  cand.step(requestVote(1, 0, term, 5, term));
  assert.deepEqual(
    ofType(drain(cand).messagesAfterPersist, MsgType.RequestVoteReply).map((m) => m.voteGranted),
    [false],
  );
  assert.equal(cand.status().votedFor, 0);
});

test('with check quorum, a peer that heard from a leader within the election timeout ignores RequestVote, term and all', () => {
  // A follower that just heard from leader 2 in term 1.
  const follower = makeCore({ id: 1, term: 1 });
  follower.step(append(2, 1, 1, 0, 0, []));
  drain(follower);
  follower.step(requestVote(0, 1, 5, 9, 4));
  let r = drain(follower);
  assert.equal(follower.status().term, 1, 'the term must not move while the leader is live');
  assert.equal(ofType(r.messagesAfterPersist, MsgType.RequestVoteReply).length, 0);
  // Once an election timeout passes without the leader, the same request is honoured.
  for (let t = 0; t < ELECTION_TICKS; t++) follower.tick();
  if (follower.status().role === 'follower') {
    follower.step(requestVote(0, 1, 5, 9, 4));
    r = drain(follower);
    assert.equal(follower.status().term, 5);
    assert.equal(ofType(r.messagesAfterPersist, MsgType.RequestVoteReply)[0]!.voteGranted, true);
  }
  // A leader ignores it too while it leads.
  const leader = makeCore({ id: 0, term: 2, entries: log(1, 2) });
  elect(leader, [1]);
  const term = leader.status().term;
  leader.step(requestVote(1, 0, term + 5, 99, term));
  assert.equal(leader.status().role, 'leader');
  assert.equal(leader.status().term, term);
});

test('the vote-refusal window ends one tick short of the shortest election timeout (tick-phase allowance), for votes and pre-votes', () => {
  // Peers tick in their own phase: when a candidate with the shortest timeout fires, a voter
  // that heard the same heartbeat may have counted one tick less. It must not refuse then.
  for (const preVote of [false, true]) {
    const follower = makeCore({ id: 1, term: 1 });
    follower.step(append(2, 1, 1, 0, 0, []));
    drain(follower);
    const ask = { ...requestVote(0, 1, 5, 9, 4), preVote };
    for (let t = 0; t < ELECTION_TICKS - 2; t++) follower.tick();
    follower.step(ask);
    let r = drain(follower);
    assert.equal(ofType([...r.messages, ...r.messagesAfterPersist], MsgType.RequestVoteReply).filter((m) => m.voteGranted).length, 0, `refused at electionTicks - 2 (preVote ${preVote})`);
    assert.equal(follower.status().term, 1);
    follower.tick();
    assert.equal(follower.status().role, 'follower', 'the timer (at least electionTicks) has not fired');
    follower.step(ask);
    r = drain(follower);
    const granted = ofType([...r.messages, ...r.messagesAfterPersist], MsgType.RequestVoteReply).filter((m) => m.voteGranted);
    assert.equal(granted.length, 1, `granted at electionTicks - 1 (preVote ${preVote})`);
  }
});

test('a lease read is served for electionTicks - 3 ticks after the round a majority confirmed, and not after', () => {
  // The lease must end before any voter that confirmed the round can vote again: it refuses for
  // more than electionTicks - 2 ticks after it heard the round (see LEASE_MARGIN_TICKS).
  const leader = makeCore({ id: 0, term: 1, peers: 3 });
  const sentNoop = ofType(elect(leader, [1]).messages, MsgType.AppendEntries).find((m) => m.to === 1)!;
  const st = leader.status();
  // The no-op commits (the lease needs an entry of its term committed) once a follower matches
  // it; that follower's reply echoes the round the no-op went out in, which confirms it.
  leader.step({ ...appendReply(1, 0, st.term, true, st.lastLogIndex), round: sentNoop.round });
  drain(leader);
  // The heartbeats sent meanwhile are never answered: the lease runs from the no-op's round.
  for (let t = 0; t < ELECTION_TICKS - 3; t++) {
    assert.equal(leader.leaseRead().ok, true, `lease holds ${t} ticks after the confirmed round`);
    leader.tick();
    drain(leader);
  }
  assert.equal(leader.leaseRead().ok, false, 'lease over at electionTicks - 3 ticks');
});

test('Pre-Vote: a peer whose timer fires asks first, changing neither its term nor its vote', () => {
  const core = makeCore({ id: 0, term: 3, entries: log(1, 2), preVote: true });
  for (let t = 0; t < 3 * ELECTION_TICKS && core.status().role === 'follower'; t++) core.tick();
  assert.equal(core.status().role, 'precandidate');
  assert.equal(core.status().term, 3);
  assert.equal(core.status().votedFor, -1);
  const r = drain(core);
  assert.equal(r.hardState, null, 'nothing to persist for a pre-vote');
  const asks = ofType(r.messages, MsgType.RequestVote);
  assert.equal(asks.length, 2);
  for (const m of asks) {
    assert.equal(m.preVote, true);
    assert.equal(m.term, 4, 'asks about the next term');
  }
  // One granted pre-vote is a majority of 3 with our own: now the real campaign, in term 4.
  core.step({ type: MsgType.RequestVoteReply, term: 4, from: 1, to: 0, voteGranted: true, preVote: true });
  assert.equal(core.status().role, 'candidate');
  assert.equal(core.status().term, 4);
  assert.equal(core.status().votedFor, 0);
});

test('Pre-Vote: granted only for a later term, an up-to-date log, and no live leader; the voter changes nothing', () => {
  const voter = () => makeCore({ id: 1, term: 3, entries: log(1, 2, 3) });
  const ask = (term: number, lastIndex: number, lastTerm: number) =>
    ({ type: MsgType.RequestVote, term, from: 0, to: 1, lastLogIndex: lastIndex, lastLogTerm: lastTerm, preVote: true }) as const;
  const answer = (core: ReturnType<typeof voter>, m: ReturnType<typeof ask>) => {
    core.step(m);
    const r = drain(core);
    assert.equal(r.hardState, null, 'a pre-vote persists nothing');
    return ofType(r.messages, MsgType.RequestVoteReply)[0]!;
  };
  let v = voter();
  let reply = answer(v, ask(4, 3, 3));
  assert.equal(reply.voteGranted, true);
  assert.equal(reply.preVote, true);
  assert.equal(v.status().term, 3, 'the voter keeps its term');
  assert.equal(v.status().votedFor, -1, 'and its vote');
  v = voter();
  assert.equal(answer(v, ask(4, 2, 2)).voteGranted, false, 'a log behind ours');
  v = voter();
  assert.equal(answer(v, ask(3, 3, 3)).voteGranted, false, 'not a later term');
  v = voter();
  v.step(append(2, 1, 3, 3, 3, []));
  drain(v);
  assert.equal(answer(v, ask(4, 3, 3)).voteGranted, false, 'we hear from a live leader');
});

test('Pre-Vote: a rejection carrying a higher term makes the pre-candidate a follower of it', () => {
  const core = makeCore({ id: 0, term: 3, preVote: true });
  for (let t = 0; t < 3 * ELECTION_TICKS && core.status().role === 'follower'; t++) core.tick();
  assert.equal(core.status().role, 'precandidate');
  core.step({ type: MsgType.RequestVoteReply, term: 7, from: 2, to: 0, voteGranted: false, preVote: true });
  assert.equal(core.status().role, 'follower');
  assert.equal(core.status().term, 7);
});

/** Ticks (draining each Ready as durable) until the core is a pre-candidate; fails if it never is. */
function tickUntilPreCandidate(core: ReturnType<typeof makeCore>): void {
  for (let t = 0; t < 4 * ELECTION_TICKS * 2; t++) {
    core.tick();
    drain(core);
    if (core.status().role === 'precandidate') return;
  }
  throw new Error(`core stayed ${core.status().role}`);
}

test('Pre-Vote: a candidate that timed out still wins its term from late votes', () => {
  const core = makeCore({ id: 0, term: 1, entries: log(1), preVote: true });
  tickUntilPreCandidate(core);
  core.step({ type: MsgType.RequestVoteReply, term: 2, from: 1, to: 0, voteGranted: true, preVote: true });
  assert.equal(core.status().role, 'candidate');
  drain(core); // its own vote for term 2, durable
  tickUntilPreCandidate(core); // no answer within the timeout: asking about term 3 now
  assert.equal(core.status().term, 2);
  core.step(voteReply(1, 0, 2, true)); // the vote for term 2, late
  assert.equal(core.status().role, 'leader', 'its own durable vote and a late one are a majority of 3');
  assert.equal(core.status().term, 2);
});

test('a peer restarted with its own vote never wins that term from votes granted before the restart', () => {
  // Seed 7504984 (3 peers, chaos): peer 1 led term 2, crashed with entries 24-25 sent but not
  // durable, restarted, and won term 2 again from two delayed vote replies; its new entry 24 of
  // term 2 differed from the one a follower held.
  const core = makeCore({ id: 0, term: 2, votedFor: 0, entries: log(1, 2, 2), preVote: true });
  tickUntilPreCandidate(core);
  core.step(voteReply(1, 0, 2, true));
  core.step(voteReply(2, 0, 2, true));
  assert.equal(core.status().role, 'precandidate', 'votes of an earlier life must not make it leader of term 2 again');
  assert.equal(core.status().term, 2);
  // It can still lead, in a new term.
  core.step({ type: MsgType.RequestVoteReply, term: 3, from: 1, to: 0, voteGranted: true, preVote: true });
  assert.equal(core.status().role, 'candidate');
  assert.equal(core.status().term, 3);
});

test('a leader that stepped down never leads the same term again', () => {
  const core = makeCore({ id: 0, term: 1, entries: log(1), preVote: true });
  tickUntilPreCandidate(core);
  core.step({ type: MsgType.RequestVoteReply, term: 2, from: 1, to: 0, voteGranted: true, preVote: true });
  drain(core);
  core.step(voteReply(1, 0, 2, true));
  assert.equal(core.status().role, 'leader');
  // Nobody answers: check quorum deposes it, and its timer then fires.
  for (let t = 0; t < 6 * ELECTION_TICKS && core.status().role === 'leader'; t++) {
    core.tick();
    drain(core);
  }
  assert.equal(core.status().role, 'follower');
  tickUntilPreCandidate(core);
  // Late votes for the term it already led: a duplicate of peer 1's, and peer 2's.
  core.step(voteReply(1, 0, 2, true));
  core.step(voteReply(2, 0, 2, true));
  assert.notEqual(core.status().role, 'leader');
  assert.equal(core.status().term, 2);
});
