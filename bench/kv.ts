/**
 * The key-value store's figures, through its public API (openStore, put, get), when the store
 * is part of the build. The module is loaded at run time and used through the few calls below,
 * so the suite runs without it (and says so) and does not tie the bench to the store's internals.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import type { Scratch } from '../src/profile/scratch.js';
import { within } from '../src/profile/workload.js';
import { quantileSketch, summarize } from '../src/profile/stats.js';
import type { KvFigure } from './types.js';

type Value = string | Uint8Array;

interface KvStore {
  put(key: string, value: Value): Promise<void>;
  get(key: string, options?: { consistency?: 'linearizable' | 'lease' | 'stale' }): Promise<Value | undefined>;
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

export interface KvPlan {
  readonly peers: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly windows: readonly number[];
  readonly want: (id: string) => boolean;
  readonly onStep: (label: string) => void;
}

/** Keeps `window` puts in flight (promise-driven: each answer issues the next). */
class PutPump {
  done = 0;
  error: Error | null = null;
  private inflight = 0;
  private next = 0;
  private running = false;
  private waiters: { n: number; resolve: () => void; reject: (e: Error) => void }[] = [];

  constructor(
    private readonly store: KvStore,
    private readonly window: number,
    private readonly value: Value,
  ) {}

  start(): void {
    this.running = true;
    this.issue();
  }

  waitDone(n: number): Promise<void> {
    if (this.error) return Promise.reject(this.error);
    if (this.done >= n) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ n, resolve, reject }));
  }

  async stop(): Promise<void> {
    this.running = false;
    const ok = await within(this.waitDone(this.done + this.inflight).then(() => true), 10_000, false);
    if (!ok) throw new Error(`${this.inflight} puts unanswered after 10 s`);
  }

  private issue(): void {
    while (this.running && this.inflight < this.window && !this.error) {
      this.inflight++;
      this.store.put(`key-${this.next++ % 65536}`, this.value).then(this.answered, this.failed);
    }
  }

  private readonly answered = (): void => {
    this.inflight--;
    this.done++;
    if (this.waiters.length > 0) {
      const keep: typeof this.waiters = [];
      for (const w of this.waiters) (this.done >= w.n ? w.resolve() : keep.push(w));
      this.waiters = keep;
    }
    this.issue();
  };

  private readonly failed = (err: unknown): void => {
    this.inflight--;
    if (this.error) return;
    this.error = err instanceof Error ? err : new Error(String(err));
    for (const w of this.waiters) w.reject(this.error);
    this.waiters = [];
  };
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** KV figures on one durable store of `plan.peers` peers: put throughput, put and get latency. */
export async function kvFigures(kv: KvModule, scratch: Scratch, plan: KvPlan): Promise<KvFigure[]> {
  const out: KvFigure[] = [];
  const p = plan.peers;
  const value = new Uint8Array(64).fill(7);
  const ids = {
    put: `kv/put-latency/${p}p/64B`,
    getLin: `kv/get-latency/linearizable/${p}p`,
    getLease: `kv/get-latency/lease/${p}p`,
    thr: (w: number) => `kv/put-throughput/${p}p/64B/${w}`,
  };
  const wanted = [ids.put, ids.getLin, ids.getLease, ...plan.windows.map(ids.thr)].filter(plan.want);
  if (wanted.length === 0) return out;
  let store: KvStore | null = null;
  let opening: Promise<KvStore> | null = null;
  const untrack = scratch.track(async () => (await opening?.catch(() => null))?.close());
  try {
    plan.onStep(`key-value store, ${p} peers: opening`);
    opening = kv.openStore({ dir: scratch.path('kv'), peers: p, sync: true, keepData: false, seed: 7 });
    store = await opening;
    const s = store;
    await s.put('bench-probe', value);

    const latencyOf = async (id: string, op: () => Promise<unknown>, what: KvFigure['what'], consistency: string | null): Promise<void> => {
      if (!plan.want(id)) return;
      plan.onStep(`key-value store, ${p} peers: ${what}${consistency ? ` (${consistency})` : ''}`);
      try {
        const bench = new Bench({ time: plan.durationMs, iterations: 50, warmupTime: 200, warmupIterations: 20, retainSamples: true, throws: true });
        bench.add(id, op, { async: true });
        await bench.run();
        const r = bench.tasks[0]!.result;
        if (r.state === 'errored') throw r.error;
        if (r.state !== 'completed') throw new Error(`ended ${r.state}`);
        const samples = Array.from(r.latency.samples ?? []);
        out.push({ id, what, peers: p, size: 64, outstanding: 1, consistency, opsPerSec: Number.NaN, dist: summarize(samples), sketch: quantileSketch(samples, 200), bound: null });
      } catch (err) {
        out.push({ id, what, peers: p, size: 64, outstanding: 1, consistency, opsPerSec: Number.NaN, dist: null, sketch: [], bound: null, error: message(err) });
      }
    };
    let k = 0;
    await latencyOf(ids.put, () => s.put(`lat-${k++ % 1024}`, value), 'put latency', null);
    await latencyOf(ids.getLin, () => s.get('bench-probe', { consistency: 'linearizable' }), 'get latency', 'linearizable');
    await latencyOf(ids.getLease, () => s.get('bench-probe', { consistency: 'lease' }), 'get latency', 'lease');

    for (const w of plan.windows) {
      const id = ids.thr(w);
      if (!plan.want(id)) continue;
      plan.onStep(`key-value store, ${p} peers: put throughput, ${w} outstanding`);
      const pump = new PutPump(s, w, value);
      try {
        pump.start();
        const w0 = performance.now();
        await new Promise((r) => setTimeout(r, plan.warmupMs));
        if (pump.error) throw pump.error;
        const per = Math.max(1, Math.round(((pump.done * 1000) / (performance.now() - w0)) * (Math.min(100, plan.durationMs / 5) / 1000)));
        let target = pump.done;
        const bench = new Bench({ time: plan.durationMs, iterations: 5, warmup: false, throws: true });
        bench.add(id, async () => {
          target += per;
          await pump.waitDone(target);
        }, { async: true });
        const a0 = pump.done;
        const t0 = performance.now();
        await bench.run();
        const rate = ((pump.done - a0) * 1000) / (performance.now() - t0);
        await pump.stop();
        out.push({ id, what: 'put throughput', peers: p, size: 64, outstanding: w, consistency: null, opsPerSec: rate, dist: null, sketch: [], bound: null });
      } catch (err) {
        out.push({ id, what: 'put throughput', peers: p, size: 64, outstanding: w, consistency: null, opsPerSec: Number.NaN, dist: null, sketch: [], bound: null, error: message(err) });
        await pump.stop().catch(() => undefined);
      }
    }
  } catch (err) {
    for (const id of wanted) {
      if (!out.some((f) => f.id === id)) {
        out.push({ id, what: id.includes('throughput') ? 'put throughput' : id.includes('get') ? 'get latency' : 'put latency', peers: p, size: 64, outstanding: 1, consistency: null, opsPerSec: Number.NaN, dist: null, sketch: [], bound: null, error: message(err) });
      }
    }
  } finally {
    untrack();
    await store?.close().catch(() => undefined);
  }
  return out;
}
