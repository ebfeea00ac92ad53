/**
 * The peer driver's deadline timer (src/peer/driver.ts): logical time follows real time, one
 * setTimeout is armed for the core's next deadline instead of a setInterval per tick, a leader
 * never counts fewer ticks than real time has passed, and a follower whose thread was blocked
 * reads the heartbeats queued for it before it would start an election.
 *
 * Most tests run a real RaftCore under a fake clock the test moves by hand (the driver's
 * `clock` option); the immediates the driver uses to batch its work are real, so the tests let
 * the event loop turn after each step.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftCore, type RaftConfig, type RestoredState } from '../../src/core/raft.js';
import { createRng } from '../../src/core/rng.js';
import { EntryKind, MsgType, type Entry, type Message, type Snapshot } from '../../src/core/types.js';
import { PeerDriver, type DriverClock } from '../../src/peer/driver.js';
import { SNAPSHOT_CHUNK_BYTES, SNAPSHOT_STALL_MS } from '../../src/peer/snapshot-stream.js';
import { append, appendReply, elect } from '../core/core-helpers.js';

const TICK_MS = 10;

/** A clock the test moves. Timers fire only from advance(), each at its own time, in order. */
class FakeClock implements DriverClock {
  t = 5000;
  armed = 0;
  cleared = 0;
  fired = 0;
  private nextId = 1;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    assert.ok(Number.isFinite(ms) && ms >= 0, `setTimeout(${ms})`);
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + ms, fn });
    this.armed++;
    return id;
  }
  clearTimeout(handle: unknown): void {
    if (this.timers.delete(handle as number)) this.cleared++;
  }
  get pending(): number {
    return this.timers.size;
  }
  /** When the earliest pending timer is due, or Infinity. */
  get nextAt(): number {
    let at = Number.POSITIVE_INFINITY;
    for (const x of this.timers.values()) at = Math.min(at, x.at);
    return at;
  }
  /** Fires the earliest timer due at or before `to` (moving time to it); returns whether one fired. */
  fireNext(to: number): boolean {
    let id = -1;
    let best = Number.POSITIVE_INFINITY;
    for (const [k, x] of this.timers) {
      if (x.at <= to && x.at < best) {
        best = x.at;
        id = k;
      }
    }
    if (id < 0) return false;
    const x = this.timers.get(id)!;
    this.timers.delete(id);
    this.t = Math.max(this.t, x.at);
    this.fired++;
    x.fn();
    return true;
  }
  /** Moves time to `to`, firing the timers due on the way, with the event loop turning after each. */
  async advanceTo(to: number): Promise<void> {
    while (this.fireNext(to)) await turns();
    this.t = Math.max(this.t, to);
    await turns();
  }
}

/** Lets the event loop turn a few times: the driver's immediates and promise callbacks run. */
async function turns(n = 3): Promise<void> {
  for (let k = 0; k < n; k++) await new Promise<void>((resolve) => setImmediate(resolve));
}

interface Rig {
  readonly driver: PeerDriver;
  readonly core: RaftCore;
  readonly clock: FakeClock;
  readonly sent: Message[];
  readonly start: number;
  /** Whole ticks of real (fake) time since start(). */
  realTicks(): number;
}

function rig(core: RaftCore, opts: { clock?: FakeClock; snapshot?: Snapshot | null } = {}): Rig {
  const clock = opts.clock ?? new FakeClock();
  const sent: Message[] = [];
  const driver = new PeerDriver({
    core,
    store: { write: () => Promise.resolve(), compact: () => Promise.resolve() },
    wire: { send: (msgs) => void sent.push(...msgs), flush: () => undefined },
    sink: { entries: () => undefined, snapshot: () => undefined },
    tickMs: TICK_MS,
    snapshot: opts.snapshot ?? null,
    onFatal: (err) => {
      throw err;
    },
    clock,
  });
  const start = clock.now();
  driver.start();
  return { driver, core, clock, sent, start, realTicks: () => Math.floor((clock.now() - start) / TICK_MS) };
}

function newCore(cfg: Partial<Omit<RaftConfig, 'rng'>> & { seed?: number }, restored?: RestoredState): RaftCore {
  const { seed, ...rest } = cfg;
  const config: RaftConfig = { id: 0, peers: 3, electionTicks: 15, maxElectionTicks: 30, heartbeatTicks: 5, rng: createRng(seed ?? 1), ...rest };
  return new RaftCore(config, restored);
}

const votesIn = (msgs: readonly Message[]): number => msgs.filter((m) => m.type === MsgType.RequestVote).length;

test('an idle follower that hears its leader is never woken by its timer, and its ticks follow real time', async () => {
  const r = rig(newCore({ id: 1 }));
  const seconds = 10;
  // The leader (peer 0) sends a heartbeat every 50 ms (5 ticks), its phase drifting.
  for (let k = 1; k * 50 <= seconds * 1000; k++) {
    await r.clock.advanceTo(r.start + k * 50 + (k % 7));
    r.driver.receive(append(0, 1, 1, 0, 0, []));
    await turns();
  }
  await r.clock.advanceTo(r.start + seconds * 1000);
  assert.equal(r.core.status().role, 'follower');
  assert.equal(votesIn(r.sent), 0, 'a follower that hears its leader never campaigns');
  const ticks = r.realTicks();
  assert.equal(ticks, seconds * 100);
  assert.equal(r.driver.logicalTicks, ticks, 'logical time is real time');
  assert.equal(r.driver.ticksApplied, ticks, 'every tick applied (none dropped) while nothing blocks');
  assert.equal(r.driver.ticksDropped, 0);
  // Each heartbeat moves the election deadline, and the timer moves with it; so the timer itself
  // never fires while heartbeats come. (In real Node the thread still wakes at each superseded
  // deadline, since a thread's libuv timer only moves earlier: see PeerDriver.arm.)
  const heartbeats = seconds * 20;
  assert.ok(r.clock.fired <= 1, `the timer fired ${r.clock.fired} times while the leader was heard`);
  assert.ok(r.clock.armed <= heartbeats + 2, `${r.clock.armed} timers armed for ${heartbeats} heartbeats: at most one per heartbeat`);
  assert.ok(r.clock.armed * 5 < ticks, `${r.clock.armed} timers for ${ticks} ticks: never one per tick`);
  assert.equal(r.driver.timersArmed, r.clock.armed);
  assert.equal(r.clock.pending, 1, 'one timer armed at any time');
  r.driver.stop();
});

test('a follower that stops hearing its leader campaigns at its election deadline, to the tick', async () => {
  const core = newCore({ id: 1, preVote: false, seed: 5 });
  const r = rig(core);
  r.driver.receive(append(0, 1, 1, 0, 0, []));
  await turns();
  const due = core.ticksUntilDue();
  assert.equal(r.driver.armedTick, due, 'the timer is armed for the election deadline');
  await r.clock.advanceTo(r.start + due * TICK_MS - 1);
  assert.equal(core.status().role, 'follower', 'one tick early: still a follower');
  await r.clock.advanceTo(r.start + due * TICK_MS + 5);
  assert.equal(core.status().role, 'candidate');
  assert.equal(votesIn(r.sent), 2);
  assert.equal(r.driver.ticksApplied, due);
  r.driver.stop();
});

test('ticks applied equal elapsed real time: a leader catches up exactly before any input, however late', async () => {
  // One peer: it elects itself and leads; its ticks must match real time at every input.
  const core = newCore({ peers: 1 });
  const r = rig(core);
  await r.clock.advanceTo(r.start + 30 * TICK_MS);
  assert.equal(core.status().role, 'leader');
  const rng = createRng(42);
  for (let k = 0; k < 300; k++) {
    const jump = rng.next() < 0.1 ? 200 + rng.next() * 2000 : rng.next() * 37;
    if (rng.next() < 0.5) {
      // The event loop was blocked (or idle): no timer fired in between; an input arrives.
      r.clock.t += jump;
      const p = k % 3 === 0 ? r.driver.propose(new Uint8Array([k & 0xff])) : r.driver.leaseRead();
      assert.equal(p.ok, true);
      assert.equal(r.driver.logicalTicks, r.realTicks(), `input ${k}: logical time is behind real time`);
    } else {
      // Time passes with the timer firing at each deadline; between deadlines nothing is applied
      // (nothing is due), and the next input catches up.
      await r.clock.advanceTo(r.clock.t + jump);
      assert.ok(r.clock.nextAt > r.clock.t, `timer ${k}: a deadline was missed`);
      assert.ok(r.driver.logicalTicks <= r.realTicks(), `timer ${k}: logical time ran ahead of real time`);
      assert.equal(r.driver.leaseRead().ok, true);
      assert.equal(r.driver.logicalTicks, r.realTicks(), `timer ${k}`);
    }
    await turns(1);
  }
  assert.equal(r.driver.ticksDropped, 0, 'a leader never drops a tick');
  assert.equal(r.driver.ticksApplied, r.realTicks());
  r.driver.stop();
});

test("a leader's lease runs out in real time even if its event loop was blocked (no timer fired)", async () => {
  // A 3-peer leader whose first round was acknowledged by a majority: its lease runs from tick 0
  // for electionTicks - 2 = 13 ticks.
  const core = newCore({ id: 0, peers: 3, electionTicks: 15 });
  const clock = new FakeClock();
  const r = rig(core, { clock });
  await clock.advanceTo(r.start + 40 * TICK_MS);
  assert.notEqual(core.status().role, 'leader');
  // Win the election by hand, then acknowledge the first round.
  for (const m of r.sent.splice(0)) {
    if (m.type === MsgType.RequestVote) r.driver.receive({ type: MsgType.RequestVoteReply, term: m.term, from: m.to, to: 0, voteGranted: true, preVote: m.preVote });
  }
  await turns();
  for (const m of r.sent.splice(0)) {
    if (m.type === MsgType.RequestVote && !m.preVote) r.driver.receive({ type: MsgType.RequestVoteReply, term: m.term, from: m.to, to: 0, voteGranted: true, preVote: false });
  }
  await turns();
  assert.equal(core.status().role, 'leader');
  const first = r.sent.find((m) => m.type === MsgType.AppendEntries);
  assert.ok(first && first.type === MsgType.AppendEntries);
  r.driver.receive({ ...appendReply(1, 0, first.term, true, first.prevLogIndex + first.entries.length), round: first.round });
  await turns();
  assert.equal(r.driver.leaseRead().ok, true, 'the lease holds right after a majority confirmed the round');
  // The thread is blocked for 200 ms: no timer fires, and no reply is read. Then a lease read
  // comes in: 20 ticks have passed, past the lease; it must not be served from the lease.
  clock.t += 200;
  assert.equal(r.driver.leaseRead().ok, false, 'a lease counted in ticks must follow real time');
  assert.equal(r.driver.logicalTicks, r.realTicks());
  r.driver.stop();
});

test('a follower whose thread was blocked reads the heartbeats queued behind its timer before it would campaign', async () => {
  for (const heartbeatQueued of [true, false]) {
    const core = newCore({ id: 1, preVote: true, seed: 3 });
    const r = rig(core);
    r.driver.receive(append(0, 1, 1, 0, 0, []));
    await turns();
    // Blocked for a second: the election timer is long overdue, and so is the timer.
    r.clock.t += 1000;
    assert.ok(r.clock.fireNext(r.clock.t), 'the overdue timer fires first (libuv runs timers before I/O)');
    // ...then, in the same turn of the event loop, the input that arrived meanwhile.
    if (heartbeatQueued) r.driver.receive(append(0, 1, 1, 0, 0, []));
    await turns();
    if (heartbeatQueued) {
      assert.equal(core.status().role, 'follower', 'the queued heartbeat came first: no election');
      assert.equal(votesIn(r.sent), 0);
      assert.ok(r.driver.ticksDropped > 0, 'the ticks of the block were dropped: a follower may under-count');
    } else {
      // Nothing queued: the leader really was silent for a second. One election, not one per
      // election timeout that fits in the second.
      assert.equal(core.status().role, 'precandidate');
      assert.equal(votesIn(r.sent), 2, 'one round of pre-votes');
    }
    assert.ok(r.driver.ticksApplied <= r.realTicks(), 'a follower never counts more ticks than real time');
    assert.equal(r.driver.ticksApplied + r.driver.ticksDropped, r.realTicks());
    r.driver.stop();
  }
});

test('the timer is re-armed when the deadline moves earlier (becoming leader), not on every message', async () => {
  const core = newCore({ id: 0, peers: 1 });
  const r = rig(core);
  const electionAt = r.driver.armedTick;
  assert.ok(electionAt >= 15 && electionAt < 30);
  await r.clock.advanceTo(r.start + electionAt * TICK_MS + 2);
  assert.equal(core.status().role, 'leader');
  assert.equal(r.driver.armedTick, r.driver.logicalTicks + 5, 'armed for the first heartbeat');
  assert.equal(r.clock.pending, 1);
});

test('stop() clears the timer, and nothing arms one after it', async () => {
  const r = rig(newCore({ id: 1 }));
  assert.equal(r.clock.pending, 1);
  r.driver.stop();
  assert.equal(r.clock.pending, 0);
  r.clock.t += 10_000;
  r.driver.receive(append(0, 1, 1, 0, 0, []));
  await turns();
  assert.equal(r.clock.pending, 0);
  assert.equal(r.driver.armedTick, Number.POSITIVE_INFINITY);
});

test('while a snapshot stream is active the timer fires every tick, so a stalled stream is resent', async () => {
  // The leader's log starts after a snapshot at 5, larger than one chunk; follower 2 has nothing.
  const entries: Entry[] = [6, 7, 8].map((index) => ({ index, term: 1, kind: EntryKind.Normal, data: new Uint8Array([index]) }));
  const core = newCore({ id: 0, peers: 3, preVote: false }, { hardState: { currentTerm: 1, votedFor: -1 }, snapshot: { index: 5, term: 1 }, entries });
  elect(core, [1]);
  const data = new Uint8Array(SNAPSHOT_CHUNK_BYTES + 100);
  const r = rig(core, { snapshot: { index: 5, term: 1, data } });
  const term = core.status().term;
  r.driver.receive(appendReply(1, 0, term, true, 9));
  await turns();
  const heartbeatAt = r.driver.armedTick;
  r.driver.receive(appendReply(2, 0, term, false, 8, 0, 1));
  await turns();
  const chunks = (): number => r.sent.filter((m) => m.type === MsgType.InstallSnapshot && m.to === 2 && m.offset === 0).length;
  assert.equal(chunks(), 1, 'the stream started');
  assert.ok(r.driver.armedTick < heartbeatAt, 'the deadline moved to the next tick');
  assert.equal(r.driver.armedTick, r.driver.logicalTicks + 1);
  const armed = r.clock.armed;
  // No acks: after the stall time the stream resends from byte 0.
  await r.clock.advanceTo(r.start + SNAPSHOT_STALL_MS + 3 * TICK_MS);
  assert.ok(chunks() >= 2, 'a stalled stream is resent');
  assert.ok(r.clock.armed - armed >= SNAPSHOT_STALL_MS / TICK_MS, 'a timer per tick while the stream is active');
  r.driver.stop();
});

test('with the real clock: a lone peer elects itself in about an election timeout, and stop() leaves nothing pending', async () => {
  const core = new RaftCore({ id: 0, peers: 1, electionTicks: 10, maxElectionTicks: 20, heartbeatTicks: 3, rng: createRng(9) });
  const driver = new PeerDriver({
    core,
    store: { write: () => Promise.resolve(), compact: () => Promise.resolve() },
    wire: { send: () => undefined, flush: () => undefined },
    sink: { entries: () => undefined, snapshot: () => undefined },
    tickMs: 5,
    snapshot: null,
    onFatal: (err) => {
      throw err;
    },
  });
  const t0 = performance.now();
  driver.start();
  while (!core.isLeader()) {
    assert.ok(performance.now() - t0 < 2000, 'no leader within 2 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const ms = performance.now() - t0;
  assert.ok(ms >= 10 * 5 - 1, `leader after ${ms.toFixed(1)} ms, before the shortest election timeout`);
  await new Promise((resolve) => setTimeout(resolve, 100));
  // Ticks are applied when an input comes or the timer fires: with no input they trail real
  // time (by up to a heartbeat interval), and any call into the core catches them up first.
  const before = Math.floor((performance.now() - t0) / 5);
  assert.ok(driver.ticksApplied <= before, `${driver.ticksApplied} ticks applied, ahead of ${before} ticks of real time`);
  driver.status();
  const real = Math.floor((performance.now() - t0) / 5);
  // Counted as the driver counts time: ticks applied plus those a non-leader's bounded catch-up
  // dropped (a thread blocked on a loaded host, while this peer was still a candidate, drops some).
  assert.ok(Math.abs(driver.logicalTicks - real) <= 1, `${driver.logicalTicks} ticks accounted for (${driver.ticksApplied} applied, ${driver.ticksDropped} dropped) in ${real} ticks of real time, after a call`);
  assert.ok(driver.timersArmed < real / 2, `${driver.timersArmed} timers for ${real} ticks (a leader wakes once per heartbeat)`);
  driver.stop();
});
