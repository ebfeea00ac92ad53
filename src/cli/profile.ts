#!/usr/bin/env node
/**
 * npm run profile -- [--seconds 5] [--peers 5] [--storage lmdb|memory] [--size 64]
 *                    [--outstanding 1024] [--single] [--sampling-us 100] [--no-stages] [--out DIR]
 * npm run profile -- --kv [--clients 64] [--peers 3] [--size 64] [--seconds 5] [--stages-only]
 *
 * Runs a replication workload through the public Cluster API with the V8 CPU profiler on in
 * every peer worker (and in the main thread), writes one .cpuprofile per peer, prints the top
 * functions by self time of the leader and of a follower, and the life of a command stage by
 * stage (p50/p99), from timestamps the peers take on the hot path while the profiler runs.
 * With --kv the workload is the key-value store's clients instead (profile-kv.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { Cluster } from '../cluster/cluster.js';
import { ClusterCpuProfiles, printProfiles, printWhere, writeProfiles } from '../profile/cpu-profiles.js';
import { int, ms, pct, table } from '../profile/format.js';
import { Scratch } from '../profile/scratch.js';
import type { StageDump } from '../profile/stage-log.js';
import { batching, stageReport, type BatchingRow, type StageReport } from '../profile/stage-report.js';
import { commandOfSize, Compactor, DEFAULT_COMPACT_EVERY, Pump, waitForLeader } from '../profile/workload.js';
import { parseArgs } from './args.js';
import { profileKv } from './profile-kv.js';
import { currentThreadId, sampleThreads, threadRates } from '../profile/thread-stats.js';
import { printGcPauses, printStageCost, printThreads, startStageClocks, threadTable, type StageClock } from '../profile/print.js';
import { GcRecorder } from '../profile/gc-pauses.js';

/** Time a run may take beyond its warm-up and profiled seconds: starting, the workload's drain (10 s), reports. */
const WATCHDOG_SLACK_MS = 90_000;

const sleep = (msec: number): Promise<void> => new Promise((r) => setTimeout(r, msec));

interface Options {
  seconds: number;
  peers: number;
  storage: 'lmdb' | 'memory';
  size: number;
  outstanding: number;
  /** Commands per proposeBatch call (0: the whole window in one call). */
  chunk: number;
  /** Each peer snapshots every this many applied entries (0: never). */
  compactEvery: number;
  batch: boolean;
  samplingUs: number;
  stages: boolean;
  /** Run the V8 CPU profiler (off: stage timestamps only). */
  cpu: boolean;
  out: string;
  top: number;
  warmupMs: number;
  /** Profile the key-value store's puts (profile-kv.ts) instead of proposals to the log. */
  kv: boolean;
  /** --kv: independent clients, each one put at a time. */
  clients: number;
}

function options(argv: readonly string[]): Options {
  const a = parseArgs(argv, {
    seconds: 'number',
    peers: 'number',
    storage: 'string',
    size: 'number',
    outstanding: 'number',
    chunk: 'number',
    'compact-every': 'number',
    single: 'boolean',
    'sampling-us': 'number',
    'no-stages': 'boolean',
    'stages-only': 'boolean',
    out: 'string',
    top: 'number',
    warmup: 'number',
    kv: 'boolean',
    clients: 'number',
    help: 'boolean',
  });
  if (a.help) {
    console.log(
      [
        'npm run profile -- [options]',
        '  --seconds N        how long to profile (default 5)',
        '  --peers N          cluster size (default 5)',
        '  --storage S        lmdb (durable, default) or memory',
        '  --size B           bytes per command in the log (default 64)',
        '  --outstanding N    proposals kept in flight (default 1024; 0 profiles an idle cluster)',
        '  --chunk N          commands per proposeBatch call (default 0: the whole window in one call, as the bench)',
        '  --compact-every N  each peer snapshots every N applied entries, as a service would (default 100000, etcd\'s\n                     --snapshot-count; 0: never, and the log grows without bound)',
        '  --single           one propose() per command instead of proposeBatch',
        '  --sampling-us N    CPU profiler sampling interval (default 100)',
        '  --no-stages        no stage timestamps (CPU profiles only)',
        '  --stages-only      no CPU profiler (stage timings undisturbed by its sampling)',
        '  --out DIR          where the .cpuprofile files go (default bench-results/profile-<time>)',
        '  --top N            functions listed per thread (default 12)',
        '  --warmup S         seconds of workload before profiling (default 1; 10 with --kv)',
        '  --kv               profile the key-value store instead: --clients independent clients, each one put of',
        '                     --size bytes at a time, on a durable store; the report cuts each replication round into',
        "                     the log's part and the store's (--peers defaults to 3 here)",
        '  --clients N        with --kv: how many clients (default 64, the issue\'s put figure)',
      ].join('\n'),
    );
    process.exit(0);
  }
  const num = (k: string, d: number, ok: (v: number) => boolean): number => {
    const v = (a[k] as number | undefined) ?? d;
    if (!ok(v)) throw new Error(`--${k}: invalid value ${v}`);
    return v;
  };
  const storage = (a.storage as string | undefined) ?? 'lmdb';
  if (storage !== 'lmdb' && storage !== 'memory') throw new Error(`--storage must be lmdb or memory, got ${storage}`);
  if (a['stages-only'] === true && a['no-stages'] === true) throw new Error('--stages-only and --no-stages leave nothing to measure; pick one');
  const kv = a.kv === true;
  if (kv) {
    const raw = ['outstanding', 'chunk', 'compact-every', 'single'].filter((k) => a[k] !== undefined);
    if (raw.length > 0) throw new Error(`--kv runs store clients, one put each at a time: --${raw.join(', --')} shape proposals to the log and do not apply; use --clients N`);
    if (a.storage !== undefined && a.storage !== 'lmdb') throw new Error(`--kv profiles the durable store: its state lives in LMDB; drop --storage ${String(a.storage)}`);
  } else if (a.clients !== undefined) throw new Error('--clients is for --kv (store clients); without --kv use --outstanding N');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  return {
    seconds: num('seconds', 5, (v) => v > 0 && v <= 600),
    peers: num('peers', kv ? 3 : 5, (v) => Number.isInteger(v) && v >= 1 && v <= 15),
    storage,
    size: num('size', 64, (v) => Number.isInteger(v) && v >= 8 && v <= 1 << 20),
    outstanding: num('outstanding', 1024, (v) => Number.isInteger(v) && v >= 0),
    chunk: num('chunk', 0, (v) => Number.isInteger(v) && v >= 0),
    compactEvery: num('compact-every', DEFAULT_COMPACT_EVERY, (v) => Number.isInteger(v) && v >= 0),
    batch: a.single !== true,
    samplingUs: num('sampling-us', 100, (v) => v >= 10),
    stages: a['no-stages'] !== true,
    cpu: a['stages-only'] !== true,
    out: resolve((a.out as string | undefined) ?? join('bench-results', `profile-${stamp}`)),
    top: num('top', 12, (v) => Number.isInteger(v) && v > 0),
    // The store's hot path takes V8 about 10 s to compile (bench/run.ts, kvWarmupMs); the log's, about 1.
    warmupMs: num('warmup', kv ? 10 : 1, (v) => v >= 0) * 1000,
    kv,
    clients: num('clients', 64, (v) => Number.isInteger(v) && v >= 1 && v <= 4096),
  };
}

/** The last step announced, for the watchdog's message. */
let lastStep = 'starting';

function status(line: string): void {
  lastStep = line;
  process.stderr.write(`${line}\n`);
}

/**
 * Ends a run that has stopped making progress, saying where, rather than leaving the process
 * (and a test waiting on it) running: every step has its own bound but the calls to workers,
 * and a worker that never answers would otherwise hold the run forever. The scratch directory
 * is still removed (its 'exit' handler).
 */
function watchdog(limitMs: number): void {
  setTimeout(() => {
    console.error(`raftwork profile: still running ${Math.round(limitMs / 1000)} s after the start, at step "${lastStep}"; giving up (a peer, or a call to one, is stuck)`);
    process.exit(3);
  }, limitMs).unref();
}

function printStages(rep: StageReport): void {
  console.log(`\nStages of a command (${int(rep.commands)} commands, times in ms on one clock shared by all threads)`);
  const rows: string[][] = [['stage', 'p50', 'p90', 'p99']];
  for (const r of rep.stages) rows.push([r.stage, ms(r.dist.p50), ms(r.dist.p90), ms(r.dist.p99)]);
  console.log(table(rows));
  console.log('\nMilestones, time since proposed');
  const m: string[][] = [['milestone', 'p50', 'p90', 'p99']];
  for (const r of rep.milestones) m.push([r.stage, ms(r.dist.p50), ms(r.dist.p90), ms(r.dist.p99)]);
  console.log(table(m));
  const own = rep.stages.slice(0, -1);
  const biggest = own.reduce((a, b) => (b.dist.p50 > a.dist.p50 ? b : a));
  console.log(`\nLargest stage at p50: ${biggest.stage} (${ms(biggest.dist.p50)}).`);
  console.log(`The leader's own write completed the quorum for ${pct(rep.leaderDurableLastPct)} of commands.`);
}

async function main(): Promise<void> {
  const o = options(process.argv.slice(2));
  watchdog(o.warmupMs + o.seconds * 1000 + WATCHDOG_SLACK_MS);
  mkdirSync(o.out, { recursive: true });
  if (o.kv) return profileKv(o, status);
  const scratch = Scratch.create('raftwork-profile-');
  try {
    status(`starting ${o.peers} peers (${o.storage}${o.storage === 'lmdb' ? ', fsync on' : ''})`);
    const starting = Cluster.start({
      peers: o.peers,
      storage: o.storage,
      seed: 1,
      ...(o.storage === 'lmdb' ? { dataDir: scratch.path('cluster'), keepData: false } : {}),
    });
    // Tracked from the start, so that Ctrl-C during start() still closes it before the removal.
    const untrack = scratch.track(async () => (await starting.catch(() => null))?.close());
    const cluster = await starting;
    const leader = await waitForLeader(cluster);
    const idle = o.outstanding === 0;
    status(`leader: peer ${leader}; workload: ${idle ? 'none (idle cluster)' : `${o.outstanding} outstanding, ${o.size}-byte commands, ${o.batch ? 'proposeBatch' : 'propose'}`}`);

    const proposals: [number, number, number][] = [];
    const applied: [number, number, number][] = [];
    let recFrom = Infinity;
    let recTo = Infinity;
    const compactor = o.compactEvery > 0 && !idle ? new Compactor(cluster, o.compactEvery) : null;
    const pump = new Pump({
      cluster,
      leader,
      outstanding: Math.max(1, o.outstanding),
      command: commandOfSize(o.size),
      batch: o.batch,
      ...(o.chunk > 0 ? { chunk: o.chunk } : {}),
      onProposed: (t, first, count) => {
        if (t >= recFrom && t <= recTo) proposals.push([t, first, count]);
      },
      onApplied: (t, lo, hi) => {
        if (t >= recFrom) applied.push([t, lo, hi]);
      },
    });
    const all = Array.from({ length: o.peers }, (_, i) => i);
    // Stage recording starts before the workload, while the peers are idle: the call that starts
    // it also reads the worker's clock, and an idle round trip bounds the clock offset tightly (of
    // a few tries, the shortest). Records of the warm-up are ignored (proposals are taken from
    // the profiled window only).
    const clocks: StageClock[] = o.stages && !idle ? await startStageClocks(cluster, all) : [];
    if (!idle) pump.start();
    await sleep(o.warmupMs);
    if (pump.error) throw pump.error;

    const cpu = new ClusterCpuProfiles(cluster, all, o.cpu);
    await cpu.start(o.samplingUs);
    const peerThreads = await Promise.all(all.map((i) => cluster.profiler(i).osThreadId()));
    const mainGc = o.stages && !idle ? new GcRecorder() : null;
    const threadsBefore = sampleThreads();
    recFrom = performance.now();
    const a0 = pump.applied;
    status(`profiling for ${o.seconds} s (${o.cpu ? `CPU profiler sampling every ${o.samplingUs} us` : 'no CPU profiler'}${o.stages && !idle ? ', stage timestamps on' : ''})`);
    await sleep(o.seconds * 1000);
    recTo = performance.now();
    const threadsAfter = sampleThreads();
    const a1 = pump.applied;
    const mainGcLog = mainGc ? await mainGc.stop() : null;
    if (pump.error) throw pump.error;

    // Profiles stop first, so the cost calibration done by stopStages stays out of them.
    const profiles = await cpu.stop();
    const dumps: (StageDump | null)[] = o.stages && !idle ? await Promise.all(all.map((i) => cluster.profiler(i).stopStages())) : [];
    await pump.stop();
    compactor?.close();
    untrack();
    await cluster.close();

    const files = writeProfiles(o.out, profiles, leader);

    const rate = ((a1 - a0) * 1000) / (recTo - recFrom);
    console.log(
      idle
        ? `\nraftwork profile: ${o.peers} peers, ${o.storage}, idle (nothing proposed) for ${o.seconds} s`
        : `\nraftwork profile: ${o.peers} peers, ${o.storage}${o.storage === 'lmdb' ? ' (fsync)' : ''}, ${o.size}-byte commands, ` +
            `${o.outstanding} outstanding via ${o.batch ? 'proposeBatch' : 'propose'}; ${int(rate)} commits/s while profiled (${o.seconds} s)`,
    );
    printProfiles(profiles, leader, 'Main thread (the caller: proposals, apply stream)', o.top);

    const threads =
      threadsBefore !== null && threadsAfter !== null
        ? threadTable(threadRates(threadsBefore, threadsAfter, recTo - recFrom), peerThreads, leader, currentThreadId())
        : null;
    if (threads !== null) printThreads(threads, o.cpu);
    const gc = o.stages && !idle ? printGcPauses(dumps, leader, mainGcLog, recFrom, recTo) : null;

    let report: StageReport | null = null;
    let batches: BatchingRow[] = [];
    if (o.stages && !idle) {
      report = stageReport({ peers: o.peers, leader, dumps, proposals, applied });
      if (report) printStages(report);
      else console.log('\nStages: no command completed every stage while recording (too short a run?)');
      batches = batching(dumps, leader);
      console.log('\nBatching while recording (a write is one Ready with entries: one LMDB transaction, one fsync)');
      const b: string[][] = [['peer', 'Readies/s', 'writes/s', 'entries/write', 'AppendEntries/s', 'entries/AppendEntries']];
      for (const r of batches) {
        b.push([
          `${r.peer} (${r.role})`,
          int(r.readiesPerSec),
          int(r.writesPerSec),
          r.entriesPerWrite.toFixed(0),
          r.role === 'leader' ? int(r.appendsPerSec) : '',
          r.role === 'leader' ? r.entriesPerAppend.toFixed(0) : '',
        ]);
      }
      console.log(table(b));
      printStageCost(dumps, leader, clocks);
    }
    writeFileSync(
      join(o.out, 'summary.json'),
      JSON.stringify({ options: o, leader, commitsPerSecond: rate, stages: report, batching: batches, clocks, threads, gc, files }, null, 2) + '\n',
    );
    printWhere(o.out, profiles, files);
  } finally {
    await scratch.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(`raftwork profile: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
