import type { Rng } from '../core/rng.js';

/**
 * The simulated network's fault settings. All randomness comes from the simulator's seeded
 * generator, so a seed fixes every drop, duplicate and delay.
 */
export interface NetworkFaults {
  /** Probability that a message is lost. */
  dropRate: number;
  /** Probability that a delivered message is delivered a second time (later). */
  duplicateRate: number;
  /** Every message is delayed uniformly within [min, max] ms. */
  delayMs: readonly [number, number];
  /** As 6.824's labrpc: two thirds of replies get an extra 200..2200 ms, so they arrive far out of order. */
  longReordering: boolean;
  /** A few messages (1%) are held for 1..5 s: the network sometimes sits on a message for a long time. */
  longDelays: boolean;
}

export const RELIABLE: NetworkFaults = {
  dropRate: 0,
  duplicateRate: 0,
  delayMs: [0.05, 0.5],
  longReordering: false,
  longDelays: false,
};

/** labrpc's unreliable network: about 10% lost, 0-27 ms delays. */
export const UNRELIABLE: Partial<NetworkFaults> = { dropRate: 0.1, duplicateRate: 0.02, delayMs: [0, 27] };

/** Which directed links are up, and the faults applied to every message on an up link. */
export class SimNetwork {
  faults: NetworkFaults = { ...RELIABLE };
  private readonly up: boolean[][];

  constructor(readonly peers: number, private readonly rng: Rng) {
    this.up = Array.from({ length: peers }, () => new Array<boolean>(peers).fill(true));
  }

  set(faults: Partial<NetworkFaults>): void {
    this.faults = { ...this.faults, ...faults };
  }

  linkUp(from: number, to: number): boolean {
    return this.up[from]![to]!;
  }

  setLink(from: number, to: number, up: boolean): void {
    this.up[from]![to] = up;
  }

  /** Every link in and out of `peer`. */
  setPeer(peer: number, up: boolean): void {
    for (let p = 0; p < this.peers; p++) {
      if (p === peer) continue;
      this.up[peer]![p] = up;
      this.up[p]![peer] = up;
    }
  }

  /** Links are up within each group and down between groups; peers in no group are isolated. */
  partition(groups: readonly (readonly number[])[]): void {
    const groupOf = new Array<number>(this.peers).fill(-1);
    groups.forEach((g, k) => g.forEach((p) => (groupOf[p] = k)));
    for (let a = 0; a < this.peers; a++) {
      for (let b = 0; b < this.peers; b++) {
        if (a !== b) this.up[a]![b] = groupOf[a] !== -1 && groupOf[a] === groupOf[b];
      }
    }
  }

  heal(): void {
    for (const row of this.up) row.fill(true);
  }

  /**
   * The delivery delays for one message sent now: an empty list if it is lost, two entries if
   * it is duplicated.
   */
  deliveries(isReply: boolean): number[] {
    const f = this.faults;
    if (f.dropRate > 0 && this.rng.next() < f.dropRate) return [];
    const first = this.delay(isReply);
    if (f.duplicateRate > 0 && this.rng.next() < f.duplicateRate) return [first, this.delay(isReply) + first];
    return [first];
  }

  private delay(isReply: boolean): number {
    const f = this.faults;
    let d = f.delayMs[0] + this.rng.next() * (f.delayMs[1] - f.delayMs[0]);
    if (isReply && f.longReordering && this.rng.next() < 2 / 3) d += 200 + this.rng.next() * 2000;
    if (f.longDelays && this.rng.next() < 0.01) d += 1000 + this.rng.next() * 4000;
    return d;
  }
}
