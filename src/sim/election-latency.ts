/**
 * Election latency on the simulator: from a leader's crash until another peer leads in a later
 * term, once per seed. Simulated time has no noise, so a change to the election rules shows here
 * in milliseconds that the real bench's 30 trials cannot resolve (their p50 moves by ±10 ms from
 * run to run on the 2-core VM). Network delay, disk latency and timing are the simulator's
 * defaults (10 ms ticks, election timeouts 150-300 ms, heartbeats 50 ms), as in a real cluster.
 * Idle, the leader stretches its heartbeats to 100 ms, so at the crash its followers last heard
 * from it longer ago and time out sooner; `busy` keeps proposals coming (one every 20 ms) until
 * the crash, as the real bench's trials mostly have it.
 */
import { createRng } from '../core/rng.js';
import { Simulator } from './simulator.js';

export interface ElectionLatencyOptions {
  readonly seeds: number;
  readonly firstSeed?: number;
  readonly peers: number;
  /** Propose a command every 20 ms until the crash (heartbeats stay at 50 ms). Default false. */
  readonly busy?: boolean;
}

export interface ElectionLatencyResult {
  /** Milliseconds from the crash to the new leader, one per seed that elected one. */
  readonly samples: number[];
  /** Seeds with no new leader within 5 s of the crash (a liveness bug if ever non-empty). */
  readonly stuck: number[];
}

const LEADER_WITHIN_MS = 5000;

export function electionLatency(o: ElectionLatencyOptions): ElectionLatencyResult {
  if (!Number.isInteger(o.peers) || o.peers < 3) throw new RangeError(`an election after a crash needs at least 3 peers, got ${o.peers}`);
  if (!Number.isInteger(o.seeds) || o.seeds < 1) throw new RangeError(`seeds must be a positive integer, got ${o.seeds}`);
  const first = o.firstSeed ?? 1;
  const samples: number[] = [];
  const stuck: number[] = [];
  for (let seed = first; seed < first + o.seeds; seed++) {
    const sim = new Simulator({ peers: o.peers, seed });
    if (!sim.runUntil(() => sim.leaders().length > 0, LEADER_WITHIN_MS)) {
      stuck.push(seed);
      continue;
    }
    // Settle, then crash at a point anywhere within a (possibly stretched) heartbeat interval.
    const settleMs = 500 + createRng(seed ^ 0x2545f491).next() * 100;
    if (o.busy) {
      for (let t = 0; t < settleMs; t += 20) {
        const now = sim.leaders();
        if (now.length > 0) sim.propose(now[now.length - 1]!.peer, 'x');
        sim.runFor(Math.min(20, settleMs - t));
      }
    } else sim.runFor(settleMs);
    const leaders = sim.leaders();
    const old = leaders[leaders.length - 1]!;
    sim.crash(old.peer);
    const t0 = sim.now;
    const elected = sim.runUntil(() => sim.leaders().some((l) => l.term > old.term && l.peer !== old.peer), LEADER_WITHIN_MS);
    if (elected) samples.push(sim.now - t0);
    else stuck.push(seed);
  }
  return { samples, stuck };
}
