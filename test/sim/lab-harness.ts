/**
 * A test harness in the spirit of MIT 6.824's Raft lab config.go, on the deterministic
 * Simulator: every wait is simulated time, every random choice comes from the seed, so a
 * failure replays exactly from the seed printed in its message.
 *
 * Differences from the lab worth knowing when reading the tests:
 * - Every new leader appends a no-op (EntryKind.Noop) at the start of its term. It takes a log
 *   index but never appears in sim.appliedLogs, so indices returned by one() are not 1, 2, 3 as in
 *   the lab. The tests assert what matters instead: commands commit in order, at increasing
 *   indices, the same on every peer, with only no-ops between them (see commandsBetween()).
 * - Snapshots in the simulator carry the state machine's hash, not its log, so a peer that caught
 *   up through InstallSnapshot has no appliedLogs entry for the indices the snapshot covers. Like
 *   the lab's applierSnap (which decodes the log out of the snapshot), nCommitted() counts such a
 *   peer as having committed what the cluster applied there; the SafetyChecker has already checked
 *   that the snapshot's state equals what the other peers applied.
 * - Concurrency (the lab's goroutines) is cooperative: a Task is a generator that yields how many
 *   simulated milliseconds it sleeps; runTasks() interleaves tasks on simulated time.
 */
import { createRng, type Rng } from '../../src/core/rng.js';
import type { ProposeResult } from '../../src/core/types.js';
import { Simulator, type SimOptions } from '../../src/sim/simulator.js';

/** The lab's RaftElectionTimeout: the tester allows elections to take up to a second. */
export const ELECTION_TIMEOUT_MS = 1000;

/** The lab's SnapShotInterval: the service snapshots about every 10 applied entries. */
export const SNAPSHOT_INTERVAL = 10;

/** The lab's MAXLOGSIZE: bytes of Raft log a peer may keep when it snapshots. */
export const MAX_LOG_SIZE = 2000;

/** A cooperative task: yields simulated milliseconds to sleep; returns its result. */
export type Task<T = void> = Generator<number, T, void>;

export class LabFailure extends Error {
  override name = 'LabFailure';
}

export interface LabOptions extends Omit<SimOptions, 'seed' | 'peers'> {
  readonly servers: number;
  readonly seed: number;
  readonly unreliable?: boolean;
}

interface Running {
  readonly gen: Task<unknown>;
  wakeAt: number;
  done: boolean;
  result: unknown;
  readonly order: number;
}

export interface Handle<T> {
  readonly done: () => boolean;
  readonly result: () => T;
}

export class Lab {
  readonly sim: Simulator;
  readonly n: number;
  readonly seed: number;
  /** The harness's own random choices (the lab's rand), separate from the simulator's. */
  readonly rng: Rng;
  /** As the lab's cfg.connected: up, and linked to the other connected peers. */
  readonly connected: boolean[];
  /** The highest lastApplied each peer reached, across crashes (see nCommitted). */
  private readonly appliedHigh: number[];
  private starts = 0;
  private counter = 0;
  private tasks: Running[] | null = null;
  private taskOrder = 0;
  private readonly deliveredByKind = new Map<string, number>();
  /** Snapshots peers received through InstallSnapshot, in order. */
  readonly installed: { peer: number; index: number; at: number }[] = [];
  /** True while restart() boots a peer: the snapshot it loads then comes from its own disk. */
  private booting = false;

  constructor(opts: LabOptions) {
    const { servers, seed, unreliable, ...simOpts } = opts;
    this.n = servers;
    this.seed = seed;
    this.sim = new Simulator({ ...simOpts, peers: servers, seed });
    this.rng = createRng((seed * 0x9e3779b1 + 0x7f4a7c15) >>> 0);
    this.connected = new Array<boolean>(servers).fill(true);
    this.appliedHigh = new Array<number>(servers).fill(0);
    if (unreliable) this.setUnreliable(true);
    // Count deliveries from the simulator's trace lines: "p<from>->p<to> <describe(msg)>".
    const trace = this.sim.trace;
    const add = trace.add.bind(trace);
    trace.add = (now, text) => {
      const m = /^p\d+->p\d+ (\w+)/.exec(text);
      if (m) this.deliveredByKind.set(m[1]!, (this.deliveredByKind.get(m[1]!) ?? 0) + 1);
      add(now, text);
    };
    // Record every snapshot a peer's state machine loads other than from its own disk at boot:
    // those came through InstallSnapshot.
    const checker = this.sim.checker;
    const loaded = checker.snapshotApplied.bind(checker);
    checker.snapshotApplied = (peer, index, hash) => {
      if (!this.booting) this.installed.push({ peer, index, at: this.sim.now });
      loaded(peer, index, hash);
    };
  }

  /**
   * Messages delivered so far, by kind as the simulator's describe() names them (RequestVote,
   * VoteReply, Append, AppendOK, AppendReject, InstallSnapshot, SnapshotReply).
   */
  delivered(kind: string): number {
    return this.deliveredByKind.get(kind) ?? 0;
  }

  // ------------------------------------------------------------------ failing

  fail(message: string): never {
    throw new LabFailure(`[seed ${this.seed}, t=${this.sim.now.toFixed(0)}ms] ${message}`);
  }

  check(cond: boolean, message: string | (() => string)): void {
    if (!cond) this.fail(typeof message === 'string' ? message : message());
  }

  /** The simulator's recent events, for a failure message. */
  traceTail(lines = 40): string {
    return this.sim.trace.dump().slice(-lines).join('\n');
  }

  // ------------------------------------------------------------------ commands and randomness

  /** A fresh command string, unique across this run. */
  cmd(label = 'c'): string {
    return `${label}.${this.seed}.${++this.counter}`;
  }

  /** A random lowercase string of `len` characters (the lab's randstring). */
  randString(len: number): string {
    let s = '';
    for (let i = 0; i < len; i++) s += String.fromCharCode(97 + this.rng.int(0, 26));
    return s;
  }

  /** An integer in [0, n). */
  randInt(n: number): number {
    return this.rng.int(0, n);
  }

  // ------------------------------------------------------------------ the cluster

  sleep(ms: number): void {
    this.sim.runFor(ms);
  }

  /** As the lab's disconnect: cut every link in and out of peer i. */
  disconnect(i: number): void {
    this.connected[i] = false;
    this.sim.disconnect(i);
  }

  /**
   * As the lab's connect: link peer i, both ways, to every peer that is connected. (The
   * simulator's own connect() would link it to everyone, reconnecting disconnected peers too.)
   */
  connect(i: number): void {
    this.connected[i] = true;
    for (let j = 0; j < this.n; j++) {
      if (j === i || !this.connected[j]) continue;
      this.sim.net.setLink(i, j, true);
      this.sim.net.setLink(j, i, true);
    }
    this.sim.trace.add(this.sim.now, `p${i} connected (to ${this.connected.flatMap((c, j) => (c && j !== i ? [j] : [])).join(',')})`);
  }

  /** As the lab's crash1: disconnect and stop the peer; writes in flight are lost. */
  crash(i: number): void {
    this.noteApplied();
    this.disconnect(i);
    this.sim.crash(i);
  }

  /** As the lab's start1: (crash if running, then) start peer i from its disk. Stays disconnected until connect(i). */
  restart(i: number): void {
    this.noteApplied();
    if (this.sim.isUp(i)) this.disconnect(i);
    this.booting = true;
    try {
      this.sim.restart(i);
    } finally {
      this.booting = false;
    }
  }

  isUp(i: number): boolean {
    return this.sim.isUp(i);
  }

  setUnreliable(on: boolean): void {
    this.sim.setNetwork(on ? { dropRate: 0.1, duplicateRate: 0.02, delayMs: [0, 27] } : { dropRate: 0, duplicateRate: 0, delayMs: [0.05, 0.5] });
  }

  setLongReordering(on: boolean): void {
    this.sim.setNetwork({ longReordering: on });
  }

  /** As the lab's rf.Start(cmd): propose on peer i, whatever it thinks it is. */
  propose(i: number, cmd: string): ProposeResult | { ok: false; reason: 'down' } {
    return this.sim.propose(i, cmd);
  }

  /** As the lab's rf.GetState(). */
  getState(i: number): { term: number; isLeader: boolean } {
    const st = this.sim.status(i);
    return { term: st.term, isLeader: st.up && st.role === 'leader' };
  }

  rpcTotal(): number {
    return this.sim.rpcs.reduce((a, b) => a + b, 0);
  }

  bytesTotal(): number {
    return this.sim.bytes;
  }

  /** The most log bytes any peer keeps in memory (the lab's LogSize, for the raft state). */
  logSize(): number {
    let max = 0;
    for (let i = 0; i < this.n; i++) max = Math.max(max, this.sim.logBytes(i));
    return max;
  }

  // ------------------------------------------------------------------ the lab's checks

  /** Exactly one connected leader in the latest term with a leader, within about 5 s (10 polls of 450-550 ms). */
  checkOneLeader(): number {
    return this.runTasks([this.checkOneLeaderTask()])[0] as number;
  }

  *checkOneLeaderTask(): Task<number> {
    for (let iters = 0; iters < 10; iters++) {
      yield 450 + this.rng.int(0, 100);
      const byTerm = new Map<number, number[]>();
      for (let i = 0; i < this.n; i++) {
        if (!this.connected[i] || !this.isUp(i)) continue;
        const { term, isLeader } = this.getState(i);
        if (isLeader) byTerm.set(term, [...(byTerm.get(term) ?? []), i]);
      }
      let lastTerm = -1;
      for (const [term, leaders] of byTerm) {
        if (leaders.length > 1) this.fail(`term ${term} has ${leaders.length} (>1) leaders: ${leaders.join(', ')}`);
        if (term > lastTerm) lastTerm = term;
      }
      if (lastTerm !== -1) return byTerm.get(lastTerm)![0]!;
    }
    return this.fail(`expected one leader, got none\n${this.traceTail()}`);
  }

  /** Every connected peer is in the same term; returns it. */
  checkTerms(): number {
    let term = -1;
    for (let i = 0; i < this.n; i++) {
      if (!this.connected[i] || !this.isUp(i)) continue;
      const t = this.getState(i).term;
      if (term === -1) term = t;
      else if (t !== term) this.fail(`servers disagree on term: ${this.terms()}`);
    }
    return term;
  }

  /** No connected peer thinks it is the leader. */
  checkNoLeader(): void {
    for (let i = 0; i < this.n; i++) {
      if (this.connected[i] && this.isUp(i) && this.getState(i).isLeader) {
        this.fail(`expected no leader among connected servers, but ${i} claims to be leader (term ${this.getState(i).term})`);
      }
    }
  }

  terms(): string {
    return Array.from({ length: this.n }, (_, i) => `p${i}:t${this.getState(i).term}${this.getState(i).isLeader ? '*' : ''}${this.connected[i] ? '' : '(dc)'}${this.isUp(i) ? '' : '(down)'}`).join(' ');
  }

  /**
   * How many peers have committed (applied) the entry at `index`, and what it is. Fails if two
   * peers applied different things there. A no-op counts as committed with value 'noop@<term>'.
   */
  nCommitted(index: number): { count: number; cmd: string | undefined } {
    this.noteApplied();
    let count = 0;
    let cmd: string | undefined;
    let first = -1;
    for (let i = 0; i < this.n; i++) {
      let v = this.sim.appliedLogs[i]!.get(index);
      // A no-op, or an index this peer skipped over by installing a snapshot.
      if (v === undefined && this.appliedHigh[i]! >= index) v = this.sim.checker.appliedAt(index);
      if (v === undefined) continue;
      if (count > 0 && v !== cmd) this.fail(`committed values do not match: index ${index}, peer ${first}: ${cmd}, peer ${i}: ${v}`);
      if (count === 0) first = i;
      count++;
      cmd = v;
    }
    return { count, cmd };
  }

  /** The highest index any peer has applied. */
  maxApplied(): number {
    this.noteApplied();
    return Math.max(...this.appliedHigh);
  }

  /** Every (peer, index) at which `cmd` was applied, on any peer in any life. */
  whereApplied(cmd: string): { peer: number; index: number }[] {
    const out: { peer: number; index: number }[] = [];
    for (let i = 0; i < this.n; i++) {
      for (const [index, v] of this.sim.appliedLogs[i]!) if (v === cmd) out.push({ peer: i, index });
    }
    return out;
  }

  /** Fails if any of `cmds` was applied anywhere. */
  checkNeverApplied(cmds: readonly string[], why: string): void {
    for (const c of cmds) {
      const at = this.whereApplied(c);
      this.check(at.length === 0, () => `${c} was applied (${JSON.stringify(at)}) but ${why}`);
    }
  }

  /** The commands (not no-ops) any peer applied above `index`. */
  commandsAbove(index: number): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.n; i++) {
      for (const [k, v] of this.sim.appliedLogs[i]!) if (k > index) out.push(`p${i}@${k}:${v}`);
    }
    return out;
  }

  /**
   * What the cluster applied at indices (from, to), exclusive: the tests use it to check that only
   * no-ops sit between two commands one() returned.
   */
  appliedBetween(from: number, to: number): string[] {
    const out: string[] = [];
    for (let i = from + 1; i < to; i++) out.push(this.sim.checker.appliedAt(i) ?? `<nothing applied at ${i}>`);
    return out;
  }

  /** Fails unless every index strictly between `from` and `to` holds a no-op (or one of `allowed`). */
  checkOnlyNoopsBetween(from: number, to: number, allowed: readonly string[] = []): void {
    const between = this.appliedBetween(from, to);
    const odd = between.filter((v) => !v.startsWith('noop@') && !allowed.includes(v));
    this.check(odd.length === 0, () => `expected only no-ops between index ${from} and ${to}, found ${JSON.stringify(between)}`);
  }

  private noteApplied(): void {
    for (let i = 0; i < this.n; i++) {
      const st = this.sim.status(i);
      if (st.up && st.lastApplied > this.appliedHigh[i]!) this.appliedHigh[i] = st.lastApplied;
    }
  }

  /**
   * The lab's one(): finds a leader by proposing on connected peers in turn, then waits up to 2 s
   * for `expectedServers` peers to commit the command at the index it was given; with `retry`,
   * tries again (with the same command) until 10 s have passed. Returns the command's index.
   */
  one(cmd: string, expectedServers: number, retry: boolean): number {
    return this.runTasks([this.oneTask(cmd, expectedServers, retry)])[0] as number;
  }

  *oneTask(cmd: string, expectedServers: number, retry: boolean): Task<number> {
    const t0 = this.sim.now;
    while (this.sim.now - t0 < 10_000) {
      let index = -1;
      for (let si = 0; si < this.n; si++) {
        this.starts = (this.starts + 1) % this.n;
        if (!this.connected[this.starts] || !this.isUp(this.starts)) continue;
        const r = this.propose(this.starts, cmd);
        if (r.ok) {
          index = r.index;
          break;
        }
      }
      if (index !== -1) {
        const t1 = this.sim.now;
        while (this.sim.now - t1 < 2000) {
          const { count, cmd: got } = this.nCommitted(index);
          if (count > 0 && count >= expectedServers && got === cmd) return index;
          yield 20;
        }
        if (!retry) this.fail(`one(${cmd}) failed to reach agreement on ${expectedServers} servers at index ${index}; ${this.terms()}\n${this.traceTail()}`);
      } else {
        yield 50;
      }
    }
    return this.fail(`one(${cmd}) failed to reach agreement on ${expectedServers} servers within 10 s; ${this.terms()}\n${this.traceTail()}`);
  }

  /**
   * The lab's wait(): waits (10 ms, doubling up to 1 s, 30 rounds) for `n` peers to commit
   * `index`. Returns the command there, or null if some peer moved past `startTerm` (-1: never).
   */
  wait(index: number, n: number, startTerm: number): string | null {
    return this.runTasks([this.waitTask(index, n, startTerm)])[0] as string | null;
  }

  *waitTask(index: number, n: number, startTerm: number): Task<string | null> {
    let to = 10;
    for (let iters = 0; iters < 30; iters++) {
      if (this.nCommitted(index).count >= n) break;
      yield to;
      if (to < 1000) to *= 2;
      if (startTerm > -1) {
        for (let i = 0; i < this.n; i++) {
          if (this.isUp(i) && this.getState(i).term > startTerm) return null;
        }
      }
    }
    const { count, cmd } = this.nCommitted(index);
    if (count < n) this.fail(`only ${count} decided for index ${index}; wanted ${n}; ${this.terms()}\n${this.traceTail()}`);
    return cmd ?? null;
  }

  // ------------------------------------------------------------------ cooperative tasks

  /**
   * Runs tasks together on simulated time until all have finished (including tasks they spawn);
   * returns the results of the tasks given. A task that fails fails the whole run at once.
   */
  runTasks(tasks: readonly Task<unknown>[]): unknown[] {
    if (this.tasks !== null) throw new Error('runTasks is not reentrant: inside a task, use yield* instead');
    this.tasks = [];
    const mine = tasks.map((t) => this.add(t));
    try {
      for (;;) {
        let next: Running | null = null;
        for (const r of this.tasks) {
          if (r.done) continue;
          if (next === null || r.wakeAt < next.wakeAt || (r.wakeAt === next.wakeAt && r.order < next.order)) next = r;
        }
        if (next === null) break;
        if (next.wakeAt > this.sim.now) this.sim.runFor(next.wakeAt - this.sim.now);
        const step = next.gen.next();
        if (step.done) {
          next.done = true;
          next.result = step.value;
        } else {
          next.wakeAt = this.sim.now + Math.max(0, step.value);
        }
      }
    } finally {
      this.tasks = null;
    }
    return mine.map((r) => r.result);
  }

  /** Starts a task alongside the running ones (the lab's `go func()`). Only from inside a task. */
  spawn<T>(task: Task<T>): Handle<T> {
    if (this.tasks === null) throw new Error('spawn() only from inside runTasks');
    const r = this.add(task);
    return { done: () => r.done, result: () => r.result as T };
  }

  /** Sleeps until every handle has finished (the lab's wg.Wait()). */
  *join(handles: readonly Handle<unknown>[]): Task {
    while (!handles.every((h) => h.done())) yield 5;
  }

  private add(gen: Task<unknown>): Running {
    const r: Running = { gen, wakeAt: this.sim.now, done: false, result: undefined, order: ++this.taskOrder };
    this.tasks!.push(r);
    return r;
  }
}

/**
 * The seeds a lab test runs: `defaults`, unless LAB_SEEDS is set ("7", "1,5,9" or "1-200"), which
 * replays one failing seed or sweeps many.
 */
export function labSeeds(defaults: readonly number[]): readonly number[] {
  const spec = process.env['LAB_SEEDS'];
  if (spec === undefined || spec.trim() === '') return defaults;
  const out: number[] = [];
  for (const part of spec.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+))?\s*$/.exec(part);
    if (!m) throw new Error(`LAB_SEEDS: cannot parse ${JSON.stringify(part)}; use e.g. "7", "1,5,9" or "1-200"`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let k = lo; k <= hi; k++) out.push(k);
  }
  return out;
}

/**
 * Runs `body` once per seed on a fresh cluster. A failure names the seed and, for a broken
 * invariant or an unexpected error, the simulator's last events.
 */
export function forSeeds(seeds: readonly number[], opts: Omit<LabOptions, 'seed'>, body: (lab: Lab) => void): void {
  for (const seed of seeds) {
    const lab = new Lab({ ...opts, seed });
    try {
      body(lab);
    } catch (err) {
      if (err instanceof LabFailure) throw err;
      const e = err as Error;
      throw new LabFailure(`[seed ${seed}, t=${lab.sim.now.toFixed(0)}ms] ${e.name}: ${e.message}\n${lab.traceTail()}`, { cause: err });
    }
  }
}
