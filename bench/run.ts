#!/usr/bin/env node
/**
 * npm run bench -- [--quick] [--filter TEXT] [--peers 3,5] [--duration S] [--trials N] [--json FILE]
 *
 * The benchmark suite: the machine's own limits, then every Raft figure through the public
 * Cluster API (commit throughput, sequential commit latency, election latency, an idle
 * cluster's cost), each beside the limit that bounds it. Prints a table, writes every figure
 * with the machine and options to a JSON file, and a chart (SVG) next to it. Temporary data
 * directories live in one scratch directory that is removed however the run ends.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { Cluster } from '../src/cluster/cluster.js';
import { parseArgs } from '../src/cli/args.js';
import { Scratch } from '../src/profile/scratch.js';
import { DEFAULT_COMPACT_EVERY, waitForLeader } from '../src/profile/workload.js';
import { renderChart } from './chart.js';
import { noiseMeter, type Noise } from './noise.js';
import { KV_CLIENTS, PUT_ENTRY_BYTES, kvFigures, kvSpecs, loadKv } from './kv.js';
import { measureLimits } from './limits.js';
import { ELECTION_TIMEOUT_MS, HEARTBEAT_MS, elections, idle, latency, retryAfterElection, startCluster, throughput, type ThroughputSpec } from './raft.js';
import { electionBound, kvBound, latencyBound, renderText, targets, throughputBound } from './report.js';
import type { BenchOptions, BenchReport, ElectionFigure, IdleFigure, KvFigure, LatencyFigure, Limits, Machine, ThroughputFigure } from './types.js';

const SIZES = [64, 1024] as const;
const STORAGES = ['lmdb', 'memory'] as const;

interface Settings extends BenchOptions {
  readonly limitMs: number;
  readonly warmupMs: number;
  /**
   * The store's figures warm up longer: its hot path is much more JavaScript than the Raft
   * figures', and V8 keeps compiling it for seconds. Measured (64-client puts, rate per second
   * from open): 18-20k in the first second, 27-30k at 3-5 s, 30-40k from 10 s, with the
   * process's CPU falling from 145% to 105%; TurboFan finished 198 functions in the first
   * second, 30-50 a second up to 7 s, 12-17 up to 12 s, then 4-6 (--trace-opt).
   */
  readonly kvWarmupMs: number;
  readonly idleMs: number;
}

function usage(): string {
  return [
    'npm run bench -- [options]',
    '  --quick          a short run (under 30 s): shorter measurements, 3 election trials',
    '  --filter TEXT    only figures whose id contains TEXT (comma-separated list, or /regex/);',
    '                   ids look like throughput/lmdb/5p/64B/1024, latency/memory/3p/64B,',
    '                   election/crash/5p, election/partition/5p, idle/5p, kv/put/3p/64c,',
    '                   kv/get-linearizable/3p/1c, kv/get-lease/3p/64c (key-value store, smallest --peers).',
    '                   The machine limits always run.',
    '  --peers LIST     cluster sizes, default 3,5 (idle and elections use the largest)',
    '  --duration S     seconds per throughput or latency measurement (default 1.5, quick 0.2)',
    '  --trials N       election trials per kind (default 30, quick 3)',
    '  --compact-every N  throughput and latency clusters: every peer snapshots each N applied entries, as a',
    "                   service would (default 100000, etcd's --snapshot-count); 0: never (the log then grows",
    '                   in every worker\'s memory for the whole run)',
    '  --json FILE      where the JSON goes (default bench-results/bench-<time>.json); the chart is FILE with .svg',
  ].join('\n');
}

function settings(argv: readonly string[]): Settings {
  const a = parseArgs(argv, { quick: 'boolean', filter: 'string', peers: 'string', duration: 'number', trials: 'number', 'compact-every': 'number', json: 'string', help: 'boolean' });
  if (a.help) {
    console.log(usage());
    process.exit(0);
  }
  const quick = a.quick === true;
  const peers = ((a.peers as string | undefined) ?? '3,5').split(',').map((s) => Number(s.trim()));
  for (const p of peers) if (!(Number.isInteger(p) && p >= 1 && p <= 15)) throw new Error(`--peers: ${p} is not a cluster size from 1 to 15`);
  const duration = (a.duration as number | undefined) ?? (quick ? 0.2 : 1.5);
  if (!(duration > 0)) throw new Error('--duration must be positive');
  const trials = (a.trials as number | undefined) ?? (quick ? 3 : 30);
  if (!(Number.isInteger(trials) && trials >= 1)) throw new Error('--trials must be a positive integer');
  const compactEvery = (a['compact-every'] as number | undefined) ?? DEFAULT_COMPACT_EVERY;
  if (!(Number.isInteger(compactEvery) && compactEvery >= 0)) throw new Error('--compact-every must be a non-negative integer');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const json = resolve((a.json as string | undefined) ?? `bench-results/bench-${stamp}.json`);
  return {
    quick,
    filter: (a.filter as string | undefined) ?? null,
    peers: [...new Set(peers)].sort((x, y) => x - y),
    duration,
    trials,
    compactEvery,
    json,
    chart: json.replace(/\.json$/i, '') + '.svg',
    limitMs: quick ? 120 : 600,
    warmupMs: quick ? 80 : 400,
    kvWarmupMs: quick ? 200 : 10000,
    idleMs: quick ? 700 : 3000,
  };
}

function matcher(filter: string | null): (id: string) => boolean {
  if (filter === null || filter === '') return () => true;
  if (filter.length > 2 && filter.startsWith('/') && filter.endsWith('/')) {
    const re = new RegExp(filter.slice(1, -1));
    return (id) => re.test(id);
  }
  const parts = filter.split(',').map((s) => s.trim()).filter(Boolean);
  return (id) => parts.some((p) => id.includes(p));
}

function machine(loadAvgAtStart: number, noise: Noise | null): Machine {
  const req = createRequire(import.meta.url);
  const version = (pkg: string): string => {
    try {
      let dir = dirname(req.resolve(pkg));
      for (let k = 0; k < 4; k++) {
        try {
          const j = JSON.parse(readFileSync(`${dir}/package.json`, 'utf8')) as { name?: string; version?: string };
          if (j.name === pkg && j.version) return j.version;
        } catch {
          /* keep looking up */
        }
        dir = dirname(dir);
      }
    } catch {
      /* not resolvable */
    }
    return 'unknown';
  };
  let commit: string | null = null;
  try {
    commit = execFileSync('git', ['rev-parse', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() || null;
  } catch {
    commit = null;
  }
  const c = cpus();
  return {
    cpuModel: c[0]?.model.trim() ?? 'unknown',
    cpus: c.length,
    memoryMiB: Math.round(totalmem() / 2 ** 20),
    platform: process.platform,
    kernel: release(),
    node: process.version,
    v8: process.versions.v8,
    lmdb: version('lmdb'),
    tinybench: version('tinybench'),
    tmpdir: tmpdir(),
    commit,
    loadAvgAtStart,
    otherProcessesCpuPct: noise?.otherProcessesCpuPct ?? null,
    stealPct: noise?.stealPct ?? null,
  };
}

/** One line on stderr, rewritten in place on a terminal, with a time estimate. */
class Progress {
  private readonly t0 = performance.now();
  private stepStart = performance.now();
  private doneEst = 0;
  private currentEst = 0;
  private label = '';
  private step = 0;
  private readonly tty = process.stderr.isTTY === true;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly totalEst: number,
    private readonly steps: number,
  ) {}

  begin(label: string, est: number): void {
    this.doneEst += this.currentEst;
    this.currentEst = est;
    this.step++;
    this.stepStart = performance.now();
    this.label = label;
    if (this.tty) {
      this.draw();
      this.timer ??= setInterval(() => this.draw(), 500);
      this.timer.unref();
    } else process.stderr.write(`[${this.step}/${this.steps}] ${label} (at ${((performance.now() - this.t0) / 1000).toFixed(1)} s)\n`);
  }

  /** Updates the label of the current step (a trial count, say). */
  note(label: string): void {
    this.label = label;
    if (this.tty) this.draw();
  }

  /** No redraws while an idle cluster is measured: the process's own CPU is part of the figure. */
  pause(on: boolean): void {
    if (!this.tty) return;
    if (on && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    } else if (!on && !this.timer) {
      this.timer = setInterval(() => this.draw(), 500);
      this.timer.unref();
    }
  }

  end(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.tty) process.stderr.write('\r\x1b[2K');
    process.stderr.write(`done in ${((performance.now() - this.t0) / 1000).toFixed(0)} s\n`);
  }

  private draw(): void {
    const elapsed = (performance.now() - this.t0) / 1000;
    const inStep = (performance.now() - this.stepStart) / 1000;
    const left = Math.max(0, this.totalEst - this.doneEst - Math.min(inStep, this.currentEst));
    const line = `[${this.step}/${this.steps}] ${this.label} · ${elapsed.toFixed(0)} s elapsed · about ${left.toFixed(0)} s left`;
    process.stderr.write(`\r\x1b[2K${line.slice(0, (process.stderr.columns || 120) - 1)}`);
  }
}

/** One cluster, and the figures measured on it in turn (latency first, on a short log). */
interface Group {
  readonly storage: 'lmdb' | 'memory';
  readonly peers: number;
  readonly latencyId: string | null;
  readonly specs: (ThroughputSpec & { readonly size: number })[];
}

async function main(): Promise<void> {
  const s = settings(process.argv.slice(2));
  const want = matcher(s.filter);
  const biggest = s.peers[s.peers.length - 1]!;
  const dur = s.duration * 1000;

  // The plan: which figures run, and a time estimate for each step.
  const groups: Group[] = [];
  for (const storage of STORAGES) {
    for (const peers of s.peers) {
      const specs: Group['specs'][number][] = [];
      for (const size of SIZES) {
        const base = `${storage}/${peers}p/${size}B`;
        specs.push(
          { id: `throughput/${base}/1`, size, outstanding: 1, call: 'propose' },
          { id: `throughput/${base}/64`, size, outstanding: 64, call: 'proposeBatch' },
          { id: `throughput/${base}/1024`, size, outstanding: 1024, call: 'proposeBatch' },
        );
        // propose() itself under load, once per storage: the call most users start with.
        if (size === 64 && peers === s.peers[0]) specs.splice(specs.length - 1, 0, { id: `throughput/${base}/64/propose`, size, outstanding: 64, call: 'propose' });
      }
      const latencyId = want(`latency/${storage}/${peers}p/64B`) ? `latency/${storage}/${peers}p/64B` : null;
      const selected = specs.filter((x) => want(x.id));
      if (latencyId || selected.length > 0) groups.push({ storage, peers, latencyId, specs: selected });
    }
  }
  const idleId = `idle/${biggest}p`;
  // An election needs a majority left after the leader goes: 3 peers at least.
  const electionKinds = biggest >= 3 ? (['crash', 'partition'] as const).filter((k) => want(`election/${k}/${biggest}p`)) : [];
  const kv = await loadKv();
  const kvPeers = s.peers[0]!;
  const kvCount = kv === null ? 0 : kvSpecs(kvPeers).filter((x) => want(x.id)).length;
  const kvWanted = kvCount > 0;
  const est = {
    limits: (7 * (s.limitMs + 100) + 4 * s.peers.length * ((s.limitMs >= 500 ? 1000 : s.limitMs) + 250) + 400) / 1000,
    idle: (s.idleMs + Math.min(1000, s.idleMs / 2) + Math.min(1000, s.idleMs) + 800) / 1000,
    group: 1.0,
    latency: (dur + 300) / 1000,
    throughput: (dur + s.warmupMs + 200) / 1000,
    trial: { crash: 0.55, partition: 0.45 },
  };
  const steps: { label: string; est: number }[] = [{ label: 'machine limits', est: est.limits }];
  if (want(idleId)) steps.push({ label: `idle ${biggest}-peer cluster`, est: est.idle });
  for (const g of groups) {
    steps.push({ label: 'cluster', est: est.group + (g.latencyId ? est.latency : 0) + g.specs.length * est.throughput });
  }
  // Opening the store and writing its keys, then each figure as long as a throughput run.
  if (kvWanted) steps.push({ label: 'key-value store', est: 1.5 + kvCount * (est.throughput + (s.kvWarmupMs - s.warmupMs) / 1000) });
  for (const k of electionKinds) steps.push({ label: `election ${k}`, est: s.trials * est.trial[k] + 1 });
  const progress = new Progress(
    steps.reduce((a, x) => a + x.est, 0),
    steps.length,
  );

  const loadAvgAtStart = loadavg()[0]!;
  if (loadAvgAtStart > cpus().length / 2) {
    process.stderr.write(`note: the load average is ${loadAvgAtStart.toFixed(1)} on ${cpus().length} cores; other work on this machine will show in the figures\n`);
  }
  const noise = noiseMeter();
  const scratch = Scratch.create('raftwork-bench-');
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const throughputFigs: ThroughputFigure[] = [];
  const latencyFigs: LatencyFigure[] = [];
  const electionFigs: ElectionFigure[] = [];
  let idleFig: IdleFigure | null = null;
  let kvFigs: KvFigure[] | null = kv === null ? null : [];
  let limits: Limits;
  try {
    progress.begin('machine limits: MessagePort, LMDB, fsync', steps[0]!.est);
    // The quorum round carries what the many-client put figure's rounds carry: one put per client.
    const round = { entries: Math.max(...KV_CLIENTS), entryBytes: PUT_ENTRY_BYTES };
    limits = await measureLimits((n) => scratch.path(n), s.limitMs, SIZES, s.peers, round);

    if (want(idleId)) {
      progress.begin(`idle ${biggest}-peer cluster (CPU and RSS)`, est.idle);
      progress.pause(true);
      idleFig = await idle(scratch, biggest, s.idleMs);
      progress.pause(false);
    }

    let k = want(idleId) ? 2 : 1;
    for (const g of groups) {
      const name = `${g.storage} ${g.peers} peers`;
      progress.begin(`${name}: starting the cluster`, steps[k++]!.est);
      let cluster: Cluster | null = null;
      let done: (() => Promise<void>) | null = null;
      let compactions = (): number => 0;
      try {
        ({ cluster, done, compactions } = await startCluster(scratch, g.storage, g.peers, s.compactEvery));
        const c = cluster;
        const leader = { peer: await waitForLeader(c) };
        if (g.latencyId) {
          progress.note(`${name}: sequential commit latency`);
          const f = await retryAfterElection(c, leader, (l) => latency(c, l, { id: g.latencyId!, storage: g.storage, peers: g.peers, size: 64 }, dur));
          latencyFigs.push({ ...f, bound: latencyBound(f, limits) });
        }
        for (const spec of g.specs) {
          progress.note(`${name}: throughput, ${spec.size} B, ${spec.outstanding} outstanding (${spec.call})`);
          const f = await retryAfterElection(c, leader, (l) =>
            throughput(c, l, { storage: g.storage, peers: g.peers, size: spec.size }, spec, dur, s.warmupMs, compactions),
          );
          throughputFigs.push({ ...f, bound: throughputBound(f, limits) });
        }
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        for (const spec of g.specs) {
          if (!throughputFigs.some((f) => f.id === spec.id)) {
            throughputFigs.push({ id: spec.id, storage: g.storage, peers: g.peers, size: spec.size, outstanding: spec.outstanding, call: spec.call, commitsPerSec: Number.NaN, commits: 0, seconds: 0, logBytesPerEntry: null, warmupSeconds: 0, windowMs: 0, windows: null, bound: null, error: msg });
          }
        }
        if (g.latencyId && !latencyFigs.some((f) => f.id === g.latencyId)) latencyFigs.push({ id: g.latencyId, storage: g.storage, peers: g.peers, size: 64, dist: null, sketch: [], bound: null, error: msg });
      } finally {
        await done?.();
      }
    }

    if (kv !== null && kvWanted) {
      progress.begin('key-value store', steps[k++]!.est);
      const figs = await kvFigures(kv, scratch, { peers: kvPeers, durationMs: dur, warmupMs: s.kvWarmupMs, want, onStep: (l) => progress.note(l) });
      kvFigs = figs.map((f) => ({ ...f, bound: kvBound(f, limits) }));
    }

    for (const kind of electionKinds) {
      const label = `election after leader ${kind === 'crash' ? 'crash' : 'partition'}, ${biggest} peers`;
      progress.begin(`${label}: trial 1/${s.trials}`, s.trials * est.trial[kind] + 1);
      const f = await elections(scratch, kind, biggest, s.trials, (n) => progress.note(`${label}: trial ${Math.min(n + 1, s.trials)}/${s.trials}`));
      electionFigs.push({ ...f, bound: electionBound(f) });
    }
  } finally {
    progress.end();
    await scratch.cleanup();
  }

  const options: BenchOptions = { quick: s.quick, filter: s.filter, peers: s.peers, duration: s.duration, trials: s.trials, compactEvery: s.compactEvery, json: s.json, chart: s.chart };
  const partial = { limits, throughput: throughputFigs, latency: latencyFigs, election: electionFigs, idle: idleFig, kv: kvFigs };
  const report: BenchReport = {
    schema: 'raftwork-bench/1',
    startedAt,
    seconds: (performance.now() - t0) / 1000,
    machine: machine(loadAvgAtStart, noise()),
    options,
    cluster: {
      electionTimeoutMs: ELECTION_TIMEOUT_MS,
      heartbeatMs: HEARTBEAT_MS,
      note: `Commands are Uint8Arrays of the stated size. 'lmdb fsync' is the default durable storage (every write fsync'ed before it is acknowledged); throughput runs ${s.duration} s per configuration after a ${s.warmupMs / 1000} s warm-up.`,
    },
    ...partial,
    targets: targets(partial),
  };
  console.log(renderText(report));
  mkdirSync(dirname(s.json), { recursive: true });
  writeFileSync(s.json, JSON.stringify(report, jsonNumbers, 1) + '\n');
  writeFileSync(s.chart, renderChart(report));
  console.log(`\nJSON:  ${s.json}\nchart: ${s.chart}`);
  const errors = [...throughputFigs, ...latencyFigs, ...electionFigs, ...(kvFigs ?? []), ...(idleFig ? [idleFig] : [])].filter((f) => f.error);
  if (errors.length > 0) {
    console.error(`\n${errors.length} figure(s) failed: ${errors.map((f) => f.id).join(', ')}`);
    process.exitCode = 1;
  }
}

/** NaN and Infinity become null in the JSON; other numbers keep 6 significant digits. */
function jsonNumbers(_key: string, v: unknown): unknown {
  if (typeof v !== 'number') return v;
  if (!Number.isFinite(v)) return null;
  return Number.isInteger(v) ? v : Number(v.toPrecision(6));
}

main().catch((err: unknown) => {
  console.error(`raftwork bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
