import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { Cluster, type ApplyMsg, type ClusterOptions } from '../../src/cluster/cluster.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A real cluster plus a record of what each peer applied, in the spirit of 6.824's config.go:
 * it checks on every apply that no two peers apply different commands at one index and that each
 * peer applies in order.
 */
export class Harness {
  readonly applied: Map<number, unknown>[];
  /** The next index each peer must apply (after a snapshot: the one after it). */
  private readonly nextIndex: number[];
  readonly errors: string[] = [];
  private readonly off: () => void;

  private constructor(readonly cluster: Cluster) {
    const n = cluster.peers;
    this.applied = Array.from({ length: n }, () => new Map());
    this.nextIndex = new Array<number>(n).fill(0);
    this.off = cluster.onApply((peer, msg) => this.record(peer, msg));
  }

  static async start(options: ClusterOptions): Promise<Harness> {
    return new Harness(await Cluster.start({ sync: false, ...options }));
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
        this.errors.push(`commit index ${msg.index}: peer ${peer} applied ${JSON.stringify(msg.command)}, peer ${p} ${JSON.stringify(other)}`);
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

  /** Exactly one leader among the connected peers, found within 5 s; returns it. */
  async checkOneLeader(among?: readonly number[]): Promise<number> {
    const peers = among ?? [...Array(this.cluster.peers).keys()];
    for (let iter = 0; iter < 10; iter++) {
      await sleep(450 + Math.random() * 100);
      const byTerm = new Map<number, number[]>();
      for (const p of peers) {
        if (!this.cluster.isUp(p)) continue;
        const st = await this.cluster.state(p).catch(() => null);
        if (st?.isLeader) byTerm.set(st.term, [...(byTerm.get(st.term) ?? []), p]);
      }
      let last = -1;
      for (const [term, leaders] of byTerm) {
        assert.equal(leaders.length, 1, `term ${term} has ${leaders.length} leaders: ${leaders}`);
        last = Math.max(last, term);
      }
      if (last !== -1) return byTerm.get(last)![0]!;
    }
    assert.fail('expected one leader, got none');
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

  /**
   * Proposes `cmd` on whichever peer leads, until `expected` peers applied it; as 6.824's one().
   * Returns its index.
   */
  async one(cmd: unknown, expected: number, retry = true): Promise<number> {
    const deadline = Date.now() + 10_000;
    let start = 0;
    while (Date.now() < deadline) {
      let index = -1;
      for (let k = 0; k < this.cluster.peers; k++) {
        start = (start + 1) % this.cluster.peers;
        if (!this.cluster.isUp(start)) continue;
        const r = await this.cluster.propose(start, cmd).catch(() => null);
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
        if (!retry) assert.fail(`one(${JSON.stringify(cmd)}) failed to reach agreement`);
      } else {
        await sleep(50);
      }
    }
    assert.fail(`one(${JSON.stringify(cmd)}) failed to reach agreement in 10 s`);
  }

  async close(): Promise<void> {
    this.off();
    await this.cluster.close();
  }
}
