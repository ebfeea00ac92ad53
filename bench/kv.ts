/**
 * The key-value store's figures, through its public API (openStore, client(), put, get), when
 * the store is part of the build. The module is loaded at run time and used through the few
 * calls below, so the suite runs without it (and says so) and does not tie the bench to the
 * store's internals.
 *
 * Every figure is a closed loop: N independent clients (store.client()), each one operation at
 * a time, awaiting each answer before its next call, as N users of the store would be. For each
 * of put, linearizable get and lease get, with 1 and 64 clients, it gives operations per second
 * and the latency of one operation (call to answer) p50/p90/p99, on one durable store.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import type { Scratch } from '../src/profile/scratch.js';
import { ClosedLoop } from '../src/profile/closed-loop.js';
import { quantileSketch, summarize } from '../src/profile/stats.js';
import type { KvFigure } from './types.js';

type Value = string | Uint8Array;

/** What a figure calls: a client's put and get. */
interface KvOps {
  put(key: string, value: Value): Promise<void>;
  get(key: string, options?: { consistency?: 'linearizable' | 'lease' | 'stale' }): Promise<Value | undefined>;
}

interface KvStore extends KvOps {
  /** A new independent client (its own session), sharing the store's connections. */
  client(): KvOps;
  close(): Promise<void>;
}

interface KvModule {
  openStore(options: { dir?: string; peers?: number; sync?: boolean; keepData?: boolean; seed?: number }): Promise<KvStore>;
}

const MODULE = new URL('../src/kv/index.js', import.meta.url);

/** The store's module, or null when this build has none. */
export async function loadKv(): Promise<KvModule | null> {
  if (!existsSync(fileURLToPath(MODULE))) return null;
  const mod = (await import(MODULE.href)) as Partial<KvModule>;
  return typeof mod.openStore === 'function' ? (mod as KvModule) : null;
}

/** Value bytes of every put. */
const VALUE_BYTES = 64;
/** The bench's keys: key-0000 .. key-1023. */
const KEY_CHARS = 8;
/**
 * Bytes one of the bench's puts takes in the log: its command (op 1, client id 8 as a varint of
 * 52 bits, seq and ackedBelow 3 each, the key 1 + 8, the value 1 + 1 tag + 64) and the segment's
 * entry header (kind 1, term 8, length 4). The quorum-round limit writes rounds of such commands
 * (test/bench/quorum-round.test.ts holds it to the store's codec).
 */
export const PUT_ENTRY_BYTES = 1 + 8 + 3 + 3 + (1 + KEY_CHARS) + (1 + 1 + VALUE_BYTES) + (1 + 8 + 4);
/** Puts go to, and gets read, this many keys, all written before the first figure. */
const KEYS = 1024;
/** Client counts of the issue's figures. */
export const KV_CLIENTS = [1, 64] as const;
/**
 * Puts one client keeps in flight for the pipelined put figure (the store lets a client have
 * 1024 writes outstanding). It is there as the store's write ceiling: the same depth as the Raft
 * layer's `throughput/lmdb/<p>p/64B/1024` figure, so the gap between the two is what the store
 * adds (sessions, codec, applying to LMDB); the 64-client figure alone cannot tell whether the
 * store or the number of clients limits it. It costs one more measurement (about 2 s, 0.3 s
 * with --quick).
 */
export const KV_PIPELINE = 1024;

/** One figure to measure. */
export interface KvSpec {
  readonly id: string;
  readonly op: 'put' | 'get';
  readonly consistency: 'linearizable' | 'lease' | null;
  readonly clients: number;
  /** Operations in flight in all: one per client, or KV_PIPELINE from one client. */
  readonly outstanding: number;
}

/**
 * The figures, in the order they are measured and shown. Ids: kv/<op>/<peers>p/<clients>c, op one
 * of put, get-linearizable, get-lease; the pipelined put adds /<outstanding>out.
 */
export function kvSpecs(peers: number): KvSpec[] {
  const out: KvSpec[] = [];
  const ops = [
    ['put', 'put', null],
    ['get-linearizable', 'get', 'linearizable'],
    ['get-lease', 'get', 'lease'],
  ] as const;
  for (const [name, op, consistency] of ops) {
    for (const clients of KV_CLIENTS) out.push({ id: `kv/${name}/${peers}p/${clients}c`, op, consistency, clients, outstanding: clients });
    if (op === 'put') out.push({ id: `kv/put/${peers}p/1c/${KV_PIPELINE}out`, op, consistency, clients: 1, outstanding: KV_PIPELINE });
  }
  return out;
}

export interface KvPlan {
  readonly peers: number;
  /** Measured time per figure, after the warm-up, ms. */
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly want: (id: string) => boolean;
  readonly onStep: (label: string) => void;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * KV figures on one durable store of `plan.peers` peers. Each runs as bench/raft.ts's
 * throughput() does: the clients run through a warm-up of plan.warmupMs, then a tinybench task
 * whose every iteration waits for the next window's worth of answers (100 ms at the warm-up's
 * rate, shorter for short runs) for at least plan.durationMs. ops/s is answers over the whole
 * measured run / its wall time; the latencies are those of the operations answered in it.
 */
export async function kvFigures(kv: KvModule, scratch: Scratch, plan: KvPlan): Promise<KvFigure[]> {
  const out: KvFigure[] = [];
  const p = plan.peers;
  const specs = kvSpecs(p).filter((x) => plan.want(x.id));
  if (specs.length === 0) return out;
  const value = new Uint8Array(VALUE_BYTES).fill(7);
  const keys = Array.from({ length: KEYS }, (_, k) => `key-${String(k).padStart(KEY_CHARS - 4, '0')}`);
  const base = (x: KvSpec) => ({ id: x.id, op: x.op, consistency: x.consistency, peers: p, size: VALUE_BYTES, clients: x.clients, outstanding: x.outstanding, warmupSeconds: plan.warmupMs / 1000 });
  const failed = (x: KvSpec, err: unknown): KvFigure => ({ ...base(x), opsPerSec: Number.NaN, operations: 0, seconds: 0, dist: null, sketch: [], bound: null, error: message(err) });

  let store: KvStore | null = null;
  let opening: Promise<KvStore> | null = null;
  const untrack = scratch.track(async () => (await opening?.catch(() => null))?.close());
  try {
    plan.onStep(`key-value store, ${p} peers: opening, writing ${KEYS} keys`);
    opening = kv.openStore({ dir: scratch.path('kv'), peers: p, sync: true, keepData: false, seed: 7 });
    store = await opening;
    const s = store;
    // Gets read keys that exist; puts overwrite the same keys (a bounded key set).
    for (let k = 0; k < KEYS; k += 256) await Promise.all(keys.slice(k, k + 256).map((key) => s.put(key, value)));

    for (const x of specs) {
      const what = `${x.op}${x.consistency ? ` (${x.consistency})` : ''}, ${x.clients} client${x.clients > 1 ? 's' : ''}${x.outstanding > x.clients ? `, ${x.outstanding} in flight` : ''}`;
      plan.onStep(`key-value store, ${p} peers: ${what}`);
      const clients = Array.from({ length: x.clients }, () => s.client());
      const lanes = Array.from({ length: x.outstanding }, (_, k) => clients[k % clients.length]!);
      const getOpts = { consistency: x.consistency ?? 'linearizable' } as const;
      const op = x.op === 'put' ? (c: KvOps, i: number) => c.put(keys[i % KEYS]!, value) : (c: KvOps, i: number) => c.get(keys[i % KEYS]!, getOpts);
      const run = new ClosedLoop(lanes, op);
      try {
        run.start();
        const w0 = performance.now();
        await sleep(plan.warmupMs);
        if (run.error) throw run.error;
        const warmRate = (run.answered * 1000) / (performance.now() - w0);
        const windowMs = Math.min(100, plan.durationMs / 5);
        const perIteration = Math.max(1, Math.round((warmRate * windowMs) / 1000));
        let target = run.answered;
        const bench = new Bench({ time: plan.durationMs, iterations: 5, warmup: false, throws: true });
        bench.add(
          x.id,
          async () => {
            target += perIteration;
            await run.waitAnswered(target);
          },
          { async: true },
        );
        run.recording = true;
        const a0 = run.answered;
        const t0 = performance.now();
        await bench.run();
        const t1 = performance.now();
        const a1 = run.answered;
        run.recording = false;
        await run.stop();
        const r = bench.tasks[0]!.result;
        if (r.state === 'errored') throw r.error;
        if (r.state !== 'completed') throw new Error(`ended ${r.state}`);
        out.push({
          ...base(x),
          opsPerSec: ((a1 - a0) * 1000) / (t1 - t0),
          operations: a1 - a0,
          seconds: (t1 - t0) / 1000,
          dist: summarize(run.latencies),
          sketch: quantileSketch(run.latencies, 200),
          bound: null,
        });
      } catch (err) {
        out.push(failed(x, err));
        await run.stop().catch(() => undefined);
      }
    }
  } catch (err) {
    for (const x of specs) if (!out.some((f) => f.id === x.id)) out.push(failed(x, err));
  } finally {
    untrack();
    await store?.close().catch(() => undefined);
  }
  return out;
}
