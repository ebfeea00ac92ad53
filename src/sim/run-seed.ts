import { InvariantError } from '../core/assert.js';
import { createRng } from '../core/rng.js';
import { InvariantViolation } from './checker.js';
import { profileByName } from './profiles.js';
import { Simulator } from './simulator.js';

/**
 * Liveness bound: once faults stop, every peer is up and links are healed, a leader is elected
 * and a fresh proposal commits within this much simulated time (election timeouts 150-300 ms).
 * It is 6.824's bound for electing a leader, and leaves room for several split votes and for a
 * peer with a high term from a minority side forcing one more election.
 */
export const LIVENESS_BOUND_MS = 5000;

export interface SeedOptions {
  readonly seed: number;
  readonly peers: number;
  readonly profile: string;
  /** Simulated milliseconds of faults and load before the liveness check. */
  readonly chaosMs?: number;
  readonly traceLines?: number;
}

export interface SeedResult {
  readonly ok: boolean;
  readonly seed: number;
  readonly peers: number;
  readonly profile: string;
  /** Committed (applied) entries on the final leader, and terms reached. */
  readonly commits: number;
  readonly terms: number;
  readonly messages: number;
  readonly violation?: string;
  readonly trace?: string[];
}

/** Runs one seed: a chaos phase under the profile, then the liveness check. */
export function runSeed(opts: SeedOptions): SeedResult {
  const profile = profileByName(opts.profile);
  const chaosMs = opts.chaosMs ?? 4000;
  const sim = new Simulator({
    peers: opts.peers,
    seed: opts.seed,
    snapshotEvery: profile.snapshotEvery,
    diskLatencyMs: profile.diskLatencyMs,
    maxMsgEntries: profile.maxMsgEntries,
    traceCapacity: opts.traceLines ?? 200,
  });
  const rng = createRng((opts.seed * 2654435761) >>> 0);
  const n = opts.peers;
  let proposals = 0;
  const summary = (ok: boolean, extra: Partial<SeedResult> = {}): SeedResult => {
    let commits = 0;
    let terms = 0;
    for (let p = 0; p < n; p++) {
      const st = sim.status(p);
      commits = Math.max(commits, st.lastApplied);
      terms = Math.max(terms, st.term);
    }
    return { ok, seed: opts.seed, peers: n, profile: profile.name, commits, terms, messages: sim.rpcs.reduce((a, b) => a + b, 0), ...extra };
  };

  try {
    sim.setNetwork(profile.network);
    let nextFault = 200 + rng.next() * 400;
    while (sim.now < chaosMs) {
      // Clients: a proposal every few ms, mostly to a peer that thinks it leads, sometimes to
      // any peer (which refuses unless it leads).
      sim.runFor(2 + rng.next() * 20);
      const leaders = sim.leaders();
      const target = leaders.length > 0 && rng.next() < 0.8 ? leaders[rng.int(0, leaders.length)]!.peer : rng.int(0, n);
      sim.propose(target, `c${opts.seed}.${proposals++}`);
      // Reads: ReadIndex and lease reads on whoever claims to lead; each is checked to see
      // everything committed before it began.
      if (leaders.length > 0 && rng.next() < 0.3) {
        const reader = leaders[rng.int(0, leaders.length)]!.peer;
        if (rng.next() < 0.5) sim.readIndex(reader);
        else sim.leaseRead(reader);
      }
      if (sim.now >= nextFault) {
        injectFault(sim, rng, profile, n);
        nextFault = sim.now + (profile.crashLeaders ? 20 + rng.next() * 300 : 100 + rng.next() * 500);
      }
    }

    // Faults stop: heal, restart everyone, reliable network. A leader must then commit.
    sim.heal();
    sim.setNetwork({ dropRate: 0, duplicateRate: 0, delayMs: [0.05, 0.5], longReordering: false, longDelays: false });
    for (let p = 0; p < n; p++) if (!sim.isUp(p)) sim.restart(p);
    const start = sim.now;
    let pending: { peer: number; index: number; term: number; cmd: string } | null = null;
    const committed = (): boolean => {
      if (pending) {
        const st = sim.status(pending.peer);
        if (st.lastApplied >= pending.index && sim.appliedLogs[pending.peer]!.get(pending.index) === pending.cmd) return true;
        if (!st.up || st.term !== pending.term) pending = null;
      }
      if (!pending) {
        const leaders = sim.leaders();
        if (leaders.length > 0) {
          const leader = leaders.reduce((a, b) => (b.term > a.term ? b : a));
          const cmd = `live${opts.seed}.${leader.term}`;
          const r = sim.propose(leader.peer, cmd);
          if (r.ok) pending = { peer: leader.peer, index: r.index, term: r.term, cmd };
        }
      }
      return false;
    };
    if (!sim.runUntil(committed, LIVENESS_BOUND_MS)) {
      return summary(false, {
        violation: `Liveness violated: no proposal committed within ${LIVENESS_BOUND_MS} ms after faults stopped at ${start.toFixed(0)} ms`,
        trace: sim.trace.dump(),
      });
    }
    return summary(true);
  } catch (err) {
    if (err instanceof InvariantViolation || err instanceof InvariantError) {
      return summary(false, { violation: err.message, trace: sim.trace.dump() });
    }
    return summary(false, { violation: `crash: ${(err as Error).stack ?? String(err)}`, trace: sim.trace.dump() });
  }
}

function injectFault(sim: Simulator, rng: ReturnType<typeof createRng>, profile: ReturnType<typeof profileByName>, n: number): void {
  const options: (() => void)[] = [];
  if (profile.crashLeaders) {
    // Let the leader take a proposal, run a few ms, then crash it; keep a majority up.
    const leaders = sim.leaders();
    if (leaders.length > 0) {
      const { peer } = leaders[0]!;
      sim.propose(peer, `f${sim.seed}.${Math.floor(sim.now)}`);
      sim.runFor(rng.next() * 13);
      sim.crash(peer);
    }
    let down = 0;
    for (let p = 0; p < n; p++) if (!sim.isUp(p)) down++;
    if (down > (n - 1) / 2) {
      for (let p = 0; p < n; p++) if (!sim.isUp(p) && rng.next() < 0.5) sim.restart(p);
    }
    return;
  }
  if (profile.crashes) {
    options.push(() => sim.crash(rng.int(0, n)));
    options.push(() => {
      for (let p = 0; p < n; p++) if (!sim.isUp(p)) return sim.restart(p);
    });
  }
  if (profile.partitions) {
    options.push(() => {
      const order = Array.from({ length: n }, (_, i) => i);
      for (let i = n - 1; i > 0; i--) {
        const j = rng.int(0, i + 1);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      const cut = rng.int(1, n);
      sim.partition([order.slice(0, cut), order.slice(cut)]);
    });
    options.push(() => sim.heal());
  }
  if (profile.linkCuts) {
    options.push(() => {
      const a = rng.int(0, n);
      const b = (a + rng.int(1, n)) % n;
      sim.net.setLink(a, b, false);
      if (rng.next() < 0.5) sim.net.setLink(b, a, false);
      sim.trace.add(sim.now, `cut link p${a}->p${b}`);
    });
    options.push(() => sim.heal());
  }
  if (options.length === 0) return;
  options[rng.int(0, options.length)]!();
}
