/**
 * Helpers for the KV store's tests, in the spirit of 6.824's kvraft test_test.go: concurrent
 * clients doing random operations on a few keys, every operation recorded with its call and
 * return times, and the history checked with the linearizability checker.
 *
 * Recording: times are performance.now(). An operation whose outcome was never learned (a write
 * that failed with NoQuorumError) is recorded with output { unknown: true } and return Infinity:
 * it may have happened at any point after its call, or never. A failed read is not recorded (it
 * has no effect). Values are never empty, so a get of an absent key is recorded as '' (the kv
 * model's reading of a missing key) without ambiguity.
 */
import assert from 'node:assert/strict';
import { checkOperationsParallel } from '../../src/check/parallel.js';
import type { KvInput, KvOperation, KvOutput } from '../../src/check/kv-model.js';
import type { KvClient, ReadConsistency, Store } from '../../src/kv/index.js';
import { NoQuorumError } from '../../src/kv/errors.js';
import { createRng, type Rng } from '../../src/core/rng.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Rounds of faults on a 5-peer store, as in 6.824's partition-and-crash tests: each round splits
 * the peers 3 / 2 at random for `partitionMs`, crashes one peer, heals the network, and restarts
 * the crashed peer 300 ms later.
 */
export async function churn(store: Store, rng: Rng, rounds: number, partitionMs: number): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    const order = [0, 1, 2, 3, 4].sort(() => rng.next() - 0.5);
    store.cluster.partition([order.slice(0, 3), order.slice(3)]);
    await sleep(partitionMs);
    const victim = order[rng.int(0, 5)]!;
    await store.cluster.crash(victim);
    store.cluster.heal();
    await sleep(300);
    await store.cluster.restart(victim);
  }
}

export function testSeed(): number {
  const s = process.env['RAFTWORK_KV_SEED'];
  if (s !== undefined && s.trim() !== '') return Number(s);
  return Math.floor(Math.random() * 2 ** 31);
}

export class History {
  readonly ops: KvOperation[] = [];
  /** Acknowledged writes per key, for durability checks: key -> the writes that returned. */
  unknown = 0;

  add(clientId: number, input: KvInput, call: number, output: KvOutput, ret: number): void {
    this.ops.push({ clientId, input, call, output, return: ret });
  }

  async check(what: string): Promise<void> {
    const r = await checkOperationsParallel<KvInput, KvOutput>('kv', this.ops, { timeoutMs: 60_000 });
    if (r.result !== 'ok') {
      const ill = r.illegal;
      const detail = ill
        ? `${ill.label}: after ${ill.longestPrefix.length} of ${ill.operations} operations (state ${ill.stateAfterPrefix}), ` +
          `last linearized: ${ill.longestPrefixDescribed.slice(-8).join('; ')}; rejected next: ${JSON.stringify(ill.rejected).slice(0, 1500)}`
        : JSON.stringify(r.partitions.filter((p) => p.result !== 'ok').slice(0, 3));
      assert.fail(`${what}: history of ${this.ops.length} operations is ${r.result}: ${detail}`);
    }
  }
}

/** A client whose every operation is recorded. */
export class RecordingClient {
  constructor(
    readonly id: number,
    readonly client: KvClient,
    readonly history: History,
    readonly consistency: ReadConsistency = 'linearizable',
  ) {}

  async get(key: string): Promise<string | undefined> {
    const call = performance.now();
    let v;
    try {
      v = await this.client.get(key, { consistency: this.consistency });
    } catch (err) {
      if (err instanceof NoQuorumError) return undefined;
      throw err;
    }
    if (v !== undefined && typeof v !== 'string') throw new Error(`get(${key}) returned bytes`);
    this.history.add(this.id, { op: 'get', key }, call, { value: v ?? '' }, performance.now());
    return v;
  }

  put(key: string, value: string): Promise<unknown> {
    return this.write({ op: 'put', key, value }, () => this.client.put(key, value), () => ({}));
  }

  append(key: string, value: string): Promise<unknown> {
    return this.write({ op: 'append', key, value }, () => this.client.append(key, value), () => ({}));
  }

  delete(key: string): Promise<unknown> {
    return this.write({ op: 'delete', key }, () => this.client.delete(key), (existed) => ({ existed: existed as boolean }));
  }

  cas(key: string, expected: string | null, value: string): Promise<unknown> {
    return this.write(
      { op: 'cas', key, expected, value },
      () => this.client.cas(key, expected ?? undefined, value),
      (ok) => ({ ok: ok as boolean }),
    );
  }

  private async write(input: KvInput, run: () => Promise<unknown>, out: (r: unknown) => KvOutput): Promise<unknown> {
    const call = performance.now();
    try {
      const r = await run();
      this.history.add(this.id, input, call, out(r), performance.now());
      return r;
    } catch (err) {
      if (!(err instanceof NoQuorumError)) throw err;
      this.history.add(this.id, input, call, { unknown: true }, Infinity);
      this.history.unknown++;
      return undefined;
    }
  }
}

export interface Workload {
  readonly clients: number;
  readonly keys: number;
  /** Runs until this resolves. */
  readonly until: Promise<unknown>;
  readonly seed: number;
  /** Which operations (weights): get, put, append, cas, delete. */
  readonly mix?: readonly [number, number, number, number, number];
  readonly consistency?: ReadConsistency;
  /** A pause between a client's operations, ms (0: none). */
  readonly thinkMs?: number;
}

export interface WorkloadResult {
  readonly history: History;
  readonly ops: number;
  /** Per client: the appended values acknowledged, in order (6.824's checkClntAppends). */
  readonly appends: Map<string, string[]>[];
}

/**
 * `clients` concurrent clients doing random operations on keys k0..k(keys-1), recorded. Every
 * value is unique (`c<client>.<n>;`), so appended pieces can be counted in the final values.
 */
/** A promise a workload runs until, and the function that ends it. */
export function stopSignal(): { until: Promise<void>; stop: () => void } {
  let stop!: () => void;
  const until = new Promise<void>((r) => (stop = r));
  return { until, stop };
}

export async function runWorkload(store: Store, w: Workload): Promise<WorkloadResult> {
  const history = new History();
  let stop = false;
  void w.until.then(() => (stop = true));
  const mix = w.mix ?? [4, 2, 3, 1, 1];
  const total = mix.reduce((a, b) => a + b, 0);
  let ops = 0;
  const appends: Map<string, string[]>[] = [];
  await Promise.all(
    Array.from({ length: w.clients }, async (_, ci) => {
      const rng: Rng = createRng(w.seed * 31 + ci);
      const rc = new RecordingClient(ci, store.client(), history, w.consistency);
      const mine = new Map<string, string[]>();
      appends.push(mine);
      let n = 0;
      while (!stop) {
        const key = `k${rng.int(0, w.keys)}`;
        const value = `c${ci}.${n++};`;
        let r = rng.int(0, total);
        let op = 0;
        while (r >= mix[op]!) r -= mix[op++]!;
        switch (op) {
          case 0:
            await rc.get(key);
            break;
          case 1:
            await rc.put(key, value);
            break;
          case 2: {
            const before = history.unknown;
            await rc.append(key, value);
            if (history.unknown === before) {
              const list = mine.get(key) ?? [];
              list.push(value);
              mine.set(key, list);
            }
            break;
          }
          case 3: {
            const cur = await rc.get(key);
            await rc.cas(key, cur ?? null, value);
            break;
          }
          default:
            await rc.delete(key);
        }
        ops++;
        if (w.thinkMs) await sleep(w.thinkMs);
      }
    }),
  );
  return { history, ops, appends };
}

/**
 * 6.824's append-only check: with only appends (and gets), every acknowledged piece of every
 * client appears exactly once in the final value, and each client's pieces in its order.
 */
export function checkAppends(finalValue: string, pieces: readonly string[], what: string): void {
  let at = -1;
  for (const p of pieces) {
    const i = finalValue.indexOf(p);
    assert.ok(i >= 0, `${what}: acknowledged append ${p} is missing from the value`);
    assert.equal(finalValue.indexOf(p, i + 1), -1, `${what}: append ${p} was applied twice`);
    assert.ok(i > at, `${what}: append ${p} is out of order`);
    at = i;
  }
}

/** Waits until `cond` holds, polling; fails after `ms`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (await cond()) return;
    await sleep(20);
  }
  assert.fail(`timed out after ${ms} ms waiting for ${what}`);
}
