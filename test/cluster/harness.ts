/**
 * A test harness for real clusters (worker threads + LMDB), in the spirit of MIT 6.824's Raft
 * lab config.go. It records what every peer applies and checks on each apply that no two peers
 * apply different commands at one index and that each peer applies in increasing index order.
 *
 * Differences from the lab worth knowing when reading the tests:
 * - Every new leader appends a no-op. It takes a log index but never reaches onApply, so the
 *   indexes one() returns increase but are not 1, 2, 3, and nCommitted() of a no-op's index is 0.
 *   Tests wait only on indexes they know hold commands.
 * - The lab's crash1 also disconnects a peer and start1 brings it back disconnected; here link
 *   state is independent of crash/restart (the Cluster keeps it), so crash(i) leaves the peer's
 *   links as they were and restart(i) comes back with them. The lab always connects right after
 *   start1, so the scenarios are the same.
 * - Waits are real time. The lab's limits are kept: a leader within 5 s (10 polls of 450-550 ms),
 *   one() gives a command 10 s (2 s per attempt).
 */
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { Cluster, type ApplyMsg, type ClusterOptions, type PeerState, type ProposeReply } from '../../src/cluster/cluster.js';
import { createRng, type Rng } from '../../src/core/rng.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The lab's RaftElectionTimeout: the tester allows an election to take up to a second. */
export const ELECTION_TIMEOUT_MS = 1000;

/** RAFTWORK_LAB_FULL=1 runs the lab's full iteration counts where the default suite runs fewer. */
export const LAB_FULL = process.env['RAFTWORK_LAB_FULL'] === '1';

/** The seed of the harness's own random choices (which peer to cut, how long to pause). */
export function labSeed(): number {
  const s = process.env['RAFTWORK_LAB_SEED'];
  if (s !== undefined && s.trim() !== '') return Number(s);
  return Math.floor(Math.random() * 2 ** 31);
}

export class Harness {
  readonly applied: Map<number, unknown>[];
  /** The next index each peer must apply (after a snapshot: the one after it). */
  private readonly nextIndex: number[];
  readonly errors: string[] = [];
  /** As the lab's cfg.connected: whether the test has peer i connected (see connect()). */
  readonly connected: boolean[];
  readonly n: number;
  readonly seed: number;
  readonly rng: Rng;
  private readonly off: () => void;
  private counter = 0;
  private starts = 0;

  private constructor(readonly cluster: Cluster, seed: number) {
    const n = cluster.peers;
    this.n = n;
    this.seed = seed;
    this.rng = createRng(seed);
    this.applied = Array.from({ length: n }, () => new Map());
    this.nextIndex = new Array<number>(n).fill(0);
    this.connected = new Array<boolean>(n).fill(true);
    this.off = cluster.onApply((peer, msg) => this.record(peer, msg));
  }

  /** Starts a cluster with LMDB without fsync unless `sync` is given. */
  static async start(options: ClusterOptions, seed = labSeed()): Promise<Harness> {
    return new Harness(await Cluster.start({ sync: false, ...options }), seed);
  }

  private record(peer: number, msg: ApplyMsg): void {
    if (msg.type === 'snapshot') {
      this.nextIndex[peer] = msg.index + 1;
      return;
    }
    // Indexes increase strictly; a leader's no-op takes an index the stream skips. A restarted
    // peer starts over (from its snapshot), re-applying the same commands.
    if (this.nextIndex[peer] !== 0 && msg.index < this.nextIndex[peer]!) {
      this.errors.push(`peer ${peer} applied ${msg.index} after ${this.nextIndex[peer]! - 1}`);
    }
    this.nextIndex[peer] = msg.index + 1;
    for (let p = 0; p < this.applied.length; p++) {
      const other = this.applied[p]!.get(msg.index);
      if (other !== undefined && !isDeepStrictEqual(other, msg.command)) {
        this.errors.push(`commit index ${msg.index}: peer ${peer} applied ${short(msg.command)}, peer ${p} ${short(other)}`);
      }
    }
    this.applied[peer]!.set(msg.index, msg.command);
  }

  /** A peer restarted: it will apply from its snapshot or from the beginning again. */
  restarted(peer: number): void {
    this.nextIndex[peer] = 0;
  }

  checkNoErrors(): void {
    assert.deepEqual(this.errors, []);
  }

  // ------------------------------------------------------------------ commands and randomness

  /** A fresh command string, unique across this run. */
  cmd(label = 'c'): string {
    return `${label}.${++this.counter}`;
  }

  /** An integer in [0, n). */
  randInt(n: number): number {
    return this.rng.int(0, n);
  }

  /** A random lowercase string of `len` characters (the lab's randstring). */
  randString(len: number): string {
    let s = '';
    for (let i = 0; i < len; i++) s += String.fromCharCode(97 + this.rng.int(0, 26));
    return s;
  }

  // ------------------------------------------------------------------ faults, as the lab names them

  /** The lab's disconnect(i): cut every link in and out of peer i. */
  disconnect(i: number): void {
    this.connected[i] = false;
    this.cluster.disconnect(i);
  }

  /** The lab's connect(i): cluster.connect(i) links i to the peers that are connected, only. */
  connect(i: number): void {
    this.connected[i] = true;
    this.cluster.connect(i);
  }

  /** The lab's crash1: stops the worker; only what reached LMDB survives. Links are kept. */
  async crash(i: number): Promise<void> {
    await this.cluster.crash(i);
  }

  /** The lab's start1: a fresh worker from what is in LMDB (crashing the running one first). */
  async restart(i: number): Promise<void> {
    if (this.cluster.isUp(i)) await this.cluster.crash(i);
    this.restarted(i);
    await this.cluster.restart(i);
  }

  /**
   * Restarts every peer in turn, so that each delivers its whole log to onApply again (after a
   * restart a peer applies from its snapshot, or from the beginning). Used after reopening a
   * dataDir: applies made before Cluster.start resolved reach no listener (see durability.test.ts).
   */
  async replayAll(): Promise<void> {
    for (let i = 0; i < this.n; i++) {
      this.applied[i]!.clear();
      await this.restart(i);
    }
  }

  isUp(i: number): boolean {
    return this.cluster.isUp(i);
  }

  setUnreliable(on: boolean): void {
    this.cluster.setNetwork({ reliable: !on });
  }

  setLongReordering(on: boolean): void {
    this.cluster.setNetwork({ longReordering: on });
  }

  // ------------------------------------------------------------------ the service's calls

  /** As the lab's rf.Start(cmd); null if the peer is down. */
  async propose(i: number, cmd: unknown): Promise<ProposeReply | null> {
    if (!this.isUp(i)) return null;
    return this.cluster.propose(i, cmd).catch(() => null);
  }

  /** As the lab's rf.GetState(); a peer that is down (or goes down meanwhile) is not a leader. */
  async getState(i: number): Promise<{ term: number; isLeader: boolean; state: PeerState | null }> {
    const st = this.isUp(i) ? await this.cluster.state(i).catch(() => null) : null;
    return { term: st?.term ?? -1, isLeader: st?.isLeader ?? false, state: st };
  }

  async rpcTotal(): Promise<number> {
    return (await this.cluster.stats()).rpcs.reduce((a, b) => a + b, 0);
  }

  async bytesTotal(): Promise<number> {
    return (await this.cluster.stats()).bytes;
  }

  /** Every peer's term and role, for failure messages: "p0:t3* p1:t3 p2:t2(dc) p3:(down)". */
  async terms(): Promise<string> {
    const out: string[] = [];
    for (let i = 0; i < this.n; i++) {
      const { state } = await this.getState(i);
      const dc = this.connected[i] ? '' : '(dc)';
      out.push(state ? `p${i}:t${state.term}${state.isLeader ? '*' : ''}${dc} c${state.commitIndex}/l${state.lastLogIndex}` : `p${i}:(down)${dc}`);
    }
    return `${out.join(' ')} [seed ${this.seed}]`;
  }

  // ------------------------------------------------------------------ the lab's checks

  /** Exactly one leader among the connected, running peers (or `among`), found within 5 s; returns it. */
  async checkOneLeader(among?: readonly number[]): Promise<number> {
    for (let iter = 0; iter < 10; iter++) {
      await sleep(450 + Math.random() * 100);
      const peers = among ?? [...Array(this.n).keys()].filter((p) => this.connected[p]);
      const byTerm = new Map<number, number[]>();
      for (const p of peers) {
        const st = await this.getState(p);
        if (st.isLeader) byTerm.set(st.term, [...(byTerm.get(st.term) ?? []), p]);
      }
      let last = -1;
      for (const [term, leaders] of byTerm) {
        assert.equal(leaders.length, 1, `term ${term} has ${leaders.length} leaders: ${leaders}`);
        last = Math.max(last, term);
      }
      if (last !== -1) return byTerm.get(last)![0]!;
    }
    assert.fail(`expected one leader, got none; ${await this.terms()}`);
  }

  /** Every connected, running peer is in the same term; returns it. */
  async checkTerms(): Promise<number> {
    let term = -1;
    for (let i = 0; i < this.n; i++) {
      if (!this.connected[i] || !this.isUp(i)) continue;
      const t = (await this.getState(i)).term;
      if (term === -1) term = t;
      else if (t !== term) assert.fail(`servers disagree on term: ${await this.terms()}`);
    }
    return term;
  }

  /** No connected peer thinks it is the leader. */
  async checkNoLeader(): Promise<void> {
    for (let i = 0; i < this.n; i++) {
      if (this.connected[i] && (await this.getState(i)).isLeader) {
        assert.fail(`expected no leader among connected servers, but ${i} claims to be leader; ${await this.terms()}`);
      }
    }
  }

  /** How many peers applied something at `index`, and what (all must agree). */
  nCommitted(index: number): { count: number; command: unknown } {
    let count = 0;
    let command: unknown;
    for (const log of this.applied) {
      if (!log.has(index)) continue;
      const c = log.get(index);
      if (count > 0) assert.ok(isDeepStrictEqual(c, command), `peers disagree at ${index}`);
      command = c;
      count++;
    }
    return { count, command };
  }

  /** Every (peer, index) at which `cmd` was applied. */
  whereApplied(cmd: unknown): { peer: number; index: number }[] {
    const out: { peer: number; index: number }[] = [];
    for (let p = 0; p < this.n; p++) {
      for (const [index, v] of this.applied[p]!) if (isDeepStrictEqual(v, cmd)) out.push({ peer: p, index });
    }
    return out;
  }

  /** Fails if any of `cmds` was applied anywhere. */
  checkNeverApplied(cmds: readonly unknown[], why: string): void {
    for (const c of cmds) {
      const at = this.whereApplied(c);
      assert.equal(at.length, 0, `${short(c)} was applied (${JSON.stringify(at)}) but ${why}`);
    }
  }

  /** The commands any peer applied above `index`. */
  commandsAbove(index: number): string[] {
    const out: string[] = [];
    for (let p = 0; p < this.n; p++) {
      for (const [k, v] of this.applied[p]!) if (k > index) out.push(`p${p}@${k}:${short(v)}`);
    }
    return out;
  }

  /**
   * Proposes `cmd` on whichever connected peer leads, until `expected` peers applied it; as
   * 6.824's one(): 2 s per attempt, 10 s in all (with `retry`; without, one attempt). Returns its index.
   */
  async one(cmd: unknown, expected: number, retry = true): Promise<number> {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      let index = -1;
      for (let k = 0; k < this.n; k++) {
        this.starts = (this.starts + 1) % this.n;
        if (!this.connected[this.starts]) continue;
        const r = await this.propose(this.starts, cmd);
        if (r?.isLeader) {
          index = r.index;
          break;
        }
      }
      if (index !== -1) {
        const until = Date.now() + 2000;
        while (Date.now() < until) {
          const { count, command } = this.nCommitted(index);
          if (count > 0 && count >= expected && isDeepStrictEqual(command, cmd)) return index;
          await sleep(20);
        }
        if (!retry) assert.fail(`one(${short(cmd)}) failed to reach agreement on ${expected} peers at index ${index}; ${await this.terms()}`);
      } else {
        await sleep(50);
      }
    }
    assert.fail(`one(${short(cmd)}) failed to reach agreement on ${expected} peers in 10 s; ${await this.terms()}`);
  }

  /**
   * The lab's wait(): waits (10 ms doubling up to 1 s, 30 rounds) for `n` peers to apply `index`,
   * which must hold a command (a no-op never reaches onApply). Returns the command, or null if
   * some peer moved past `startTerm` meanwhile (-1: never give up that way).
   */
  async wait(index: number, n: number, startTerm: number): Promise<unknown> {
    let to = 10;
    for (let iters = 0; iters < 30; iters++) {
      if (this.nCommitted(index).count >= n) break;
      await sleep(to);
      if (to < 1000) to *= 2;
      if (startTerm > -1) {
        for (let i = 0; i < this.n; i++) {
          if ((await this.getState(i)).term > startTerm) return null;
        }
      }
    }
    const { count, command } = this.nCommitted(index);
    if (count < n) assert.fail(`only ${count} decided for index ${index}; wanted ${n}; ${await this.terms()}`);
    return command;
  }

  /** Waits until `cond` holds, polling every `everyMs`, for at most `ms`; returns whether it held. */
  async until(cond: () => boolean | Promise<boolean>, ms: number, everyMs = 20): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (await cond()) return true;
      if (Date.now() >= deadline) return false;
      await sleep(everyMs);
    }
  }

  async close(): Promise<void> {
    this.off();
    await this.cluster.close();
  }
}

/**
 * Starts a harness, runs `body`, checks that no two peers ever disagreed on an applied index,
 * and closes the cluster however the body ended.
 */
export async function withHarness(options: ClusterOptions, body: (h: Harness) => Promise<void>): Promise<void> {
  const h = await Harness.start(options);
  try {
    await body(h);
    h.checkNoErrors();
  } catch (err) {
    if (err instanceof Error) err.message += ` [harness seed ${h.seed}; replay with RAFTWORK_LAB_SEED=${h.seed}]`;
    throw err;
  } finally {
    await h.close();
  }
}

function short(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
