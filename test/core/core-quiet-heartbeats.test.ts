/**
 * Quiet heartbeats (AppendEntries.quiet) and the idle heartbeat interval: an idle cluster sends a
 * reply for a fraction of its heartbeats, never when a read, a lease or a lagging follower needs
 * one, and check-quorum still hears every live follower in each window.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MsgType, type AppendEntries, type Message } from '../../src/core/types.js';
import type { RaftCore } from '../../src/core/raft.js';
import { append, appendReply, appendsTo, drain, elect, entry, log, makeCore, sent } from './core-helpers.js';

/** Runs `ticks` ticks on a leader whose followers answer every AppendEntries that wants an answer. */
function runLeader(core: RaftCore, followers: readonly number[], ticks: number): AppendEntries[] {
  const out: AppendEntries[] = [];
  for (let t = 0; t < ticks; t++) {
    core.tick();
    const r = drain(core);
    for (const m of r.messages) {
      if (m.type !== MsgType.AppendEntries || !followers.includes(m.to)) continue;
      out.push(m);
      if (m.quiet === true && m.entries.length === 0) continue; // an accepted quiet heartbeat: no answer
      core.step({ ...appendReply(m.to, core.id, m.term, true, m.prevLogIndex + m.entries.length), round: m.round });
    }
    drain(core);
  }
  return out;
}

test('a follower does not answer a quiet heartbeat it accepts, and answers one it rejects', () => {
  const core = makeCore({ id: 1, peers: 3, entries: log(1, 1) });
  const ok = drain(core);
  assert.ok(ok);
  core.step({ ...append(0, 1, 1, 2, 1, [], 2), quiet: true });
  assert.equal(sent(drain(core)).filter((m) => m.type === MsgType.AppendEntriesReply).length, 0, 'accepted: no answer');
  assert.equal(core.status().commitIndex, 2, 'the heartbeat still carried the commit index');
  core.step({ ...append(0, 1, 1, 5, 1, [], 2), quiet: true });
  const replies = sent(drain(core)).filter((m) => m.type === MsgType.AppendEntriesReply);
  assert.equal(replies.length, 1, 'a rejected quiet heartbeat is answered (it reveals a gap)');
  assert.equal((replies[0] as { success: boolean }).success, false);
  core.step({ ...append(0, 1, 1, 2, 1, [entry(3, 1)], 2), quiet: true });
  assert.equal(sent(drain(core)).filter((m) => m.type === MsgType.AppendEntriesReply).length, 1, 'entries are always answered, quiet or not');
});

test('an idle leader sends quiet heartbeats to caught-up followers once they answered in this check-quorum window', () => {
  const core = makeCore({ id: 0, peers: 3 });
  elect(core, [1, 2]);
  const msgs = runLeader(core, [1, 2], 60);
  const toOne = appendsTo(msgs as Message[], 1);
  const quiet = toOne.filter((m) => m.quiet === true);
  assert.ok(quiet.length > toOne.length / 2, `${quiet.length} of ${toOne.length} heartbeats were quiet`);
  assert.ok(quiet.every((m) => m.entries.length === 0), 'only empty heartbeats are ever quiet');
  assert.equal(core.status().role, 'leader', 'check-quorum still hears from the followers');
  // Every check-quorum window (2 x maxElectionTicks = 40 ticks) starts with answered heartbeats.
  const loud = toOne.filter((m) => m.quiet !== true);
  assert.ok(loud.length >= 2, `${loud.length} heartbeats asked for an answer in 60 ticks`);
});

test('no quiet heartbeats while a read waits, while lease reads come, or to a follower that lags', () => {
  const core = makeCore({ id: 0, peers: 3 });
  elect(core, [1, 2]);
  runLeader(core, [1, 2], 30);
  // A ReadIndex: the round it waits on asks every follower.
  assert.ok(core.readIndex(7).ok);
  const round = drain(core);
  const asks = round.messages.filter((m): m is AppendEntries => m.type === MsgType.AppendEntries);
  assert.ok(asks.length >= 2 && asks.every((m) => m.quiet !== true), 'the read round asks for answers');
  for (const m of asks) core.step({ ...appendReply(m.to, 0, m.term, true, m.prevLogIndex), round: m.round });
  assert.deepEqual(drain(core).readStates.map((r) => r.ctx), [7]);
  // Lease reads: every heartbeat asks, so the lease is renewed every round.
  core.leaseRead();
  const during = runLeader(core, [1, 2], 5);
  assert.ok(during.length > 0 && during.every((m) => m.quiet !== true), 'lease reads keep heartbeats answered');
  // A follower that does not answer its entries lags: its heartbeats ask.
  assert.ok(core.propose(new Uint8Array([1])).ok);
  const lagging: AppendEntries[] = [];
  for (let t = 0; t < 20; t++) {
    core.tick();
    for (const m of drain(core).messages) {
      if (m.type !== MsgType.AppendEntries) continue;
      if (m.to === 2) lagging.push(m);
      else core.step({ ...appendReply(m.to, 0, m.term, true, m.prevLogIndex + m.entries.length), round: m.round });
    }
  }
  assert.ok(lagging.length > 0 && lagging.every((m) => m.quiet !== true), 'a follower behind our log is always asked');
});

test('an idle leader stretches its heartbeats, below the shortest election timeout, and a proposal restores them', () => {
  // makeCore: electionTicks 10, heartbeatTicks 3.
  const core = makeCore({ id: 0, peers: 3 });
  elect(core, [1, 2]);
  const at: number[] = [];
  let t = 0;
  const step = (n: number): void => {
    for (let k = 0; k < n; k++) {
      t++;
      core.tick();
      for (const m of drain(core).messages) {
        if (m.type !== MsgType.AppendEntries || m.to !== 1) continue;
        at.push(t);
        core.step({ ...appendReply(m.to, 0, m.term, true, m.prevLogIndex + m.entries.length), round: m.round });
        core.step({ ...appendReply(2, 0, m.term, true, m.prevLogIndex + m.entries.length), round: m.round });
      }
      drain(core);
    }
  };
  step(60);
  const gaps = at.slice(1).map((x, k) => x - at[k]!);
  assert.ok(gaps.every((g) => g < 10), `every gap below electionTicks: ${gaps.join(',')}`);
  assert.equal(gaps[gaps.length - 1], 6, `idle: twice heartbeatTicks (${gaps.join(',')})`);
  assert.ok(core.propose(new Uint8Array([9])).ok);
  const proposedAt = t;
  step(9);
  // The entry goes out on the next tick; the heartbeats after it are heartbeatTicks apart again.
  const busy = at.filter((x) => x > proposedAt + 1);
  const busyGaps = busy.slice(1).map((x, k) => x - busy[k]!);
  assert.ok(busyGaps.length >= 1 && busyGaps.every((g) => g === 3), `busy again: ${at.filter((x) => x > proposedAt).join(',')}`);
});
