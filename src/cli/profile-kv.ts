/**
 * `npm run profile -- --kv`: the key-value store's put path, profiled. N independent clients
 * (store.client()), each one put at a time, on a durable store; while they run, the peers take
 * their stage timestamps and, unless --stages-only, the V8 CPU profiler samples every thread.
 * The report cuts each replication round into the log's part and the store's (round-report.ts).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cluster } from '../cluster/cluster.js';
import { openStore, type Store } from '../kv/index.js';
import { ClosedLoop } from '../profile/closed-loop.js';
import { ClusterCpuProfiles, printProfiles, printWhere, writeProfiles } from '../profile/cpu-profiles.js';
import { int, ms, pct, table } from '../profile/format.js';
import { printGcPauses, printStageCost, printThreads, startStageClocks, threadTable, type StageClock } from '../profile/print.js';
import { GcRecorder } from '../profile/gc-pauses.js';
import { roundReport, type RoundReport } from '../profile/round-report.js';
import { Scratch } from '../profile/scratch.js';
import type { StageDump } from '../profile/stage-log.js';
import { summarize } from '../profile/stats.js';
import { currentThreadId, sampleThreads, threadRates } from '../profile/thread-stats.js';
import type { KvClient } from '../kv/client.js';

/** Keys the puts go to, all written before the workload (as bench/kv.ts does). */
const KEYS = 1024;

export interface KvProfileOptions {
  readonly seconds: number;
  readonly peers: number;
  /** Value bytes of every put. */
  readonly size: number;
  readonly clients: number;
  readonly samplingUs: number;
  readonly stages: boolean;
  readonly cpu: boolean;
  readonly out: string;
  readonly top: number;
  readonly warmupMs: number;
}

const sleep = (msec: number): Promise<void> => new Promise((r) => setTimeout(r, msec));

/**
 * The peer that leads the highest term now, or -1. Read from the peers' state: the raw
 * workload's waitForLeader proposes a probe command, which the store's log must never hold.
 */
async function currentLeader(cluster: Cluster): Promise<{ peer: number; term: number }> {
  let peer = -1;
  let term = -1;
  for (let i = 0; i < cluster.peers; i++) {
    if (!cluster.isUp(i)) continue;
    const s = await cluster.state(i).catch(() => null);
    if (s?.isLeader && s.term > term) {
      peer = i;
      term = s.term;
    }
  }
  return { peer, term };
}

function printRounds(rep: RoundReport, clients: number): void {
  console.log(
    `\nRounds of the log (${int(rep.rounds)} rounds, ${rep.entriesPerRound.toFixed(1)} entries each, ${int(rep.leaderWritesPerSec)} leader writes/s; ` +
      'a round runs from one leader write to the next)',
  );
  const rows: string[][] = [['part of a round', 'mean', 'share', 'p50', 'p90', 'p99']];
  for (const p of rep.parts) rows.push([p.part, ms(p.meanMs), pct(100 * p.share), ms(p.dist.p50), ms(p.dist.p90), ms(p.dist.p99)]);
  rows.push(['the whole round', ms(rep.round.mean), '100%', ms(rep.round.p50), ms(rep.round.p90), ms(rep.round.p99)]);
  console.log(table(rows, ['l', 'r', 'r', 'r', 'r', 'r']));
  console.log('\nInside the first part, each stage on its own');
  const d: string[][] = [['stage', 'mean', 'p50', 'p90', 'p99']];
  for (const r of rep.detail) d.push([r.stage, ms(r.dist.mean), ms(r.dist.p50), ms(r.dist.p90), ms(r.dist.p99)]);
  console.log(table(d, ['l', 'r', 'r', 'r', 'r']));
  const logShare = rep.parts[0]!.share + rep.parts[1]!.share;
  console.log(
    `  The log's own parts (1 and 2) take ${pct(100 * logShare)} of a round; the store, its clients and the hops to them (3) ${pct(100 * rep.parts[2]!.share)}.\n` +
      `  With ${clients} clients each waiting on one put, a round carries at most ${clients} puts: ${clients} / mean round = ${int((clients * 1000) / rep.round.mean)} puts/s.`,
  );
  if (rep.overlapped > 0) console.log(`  ${int(rep.overlapped)} rounds overlapped the next one (its write went out before they committed) and are left out.`);
}

export async function profileKv(o: KvProfileOptions, status: (line: string) => void): Promise<void> {
  const scratch = Scratch.create('raftwork-profile-');
  try {
    status(`opening a key-value store of ${o.peers} peers (lmdb, fsync on), writing ${KEYS} keys`);
    const opening = openStore({ dir: scratch.path('kv'), peers: o.peers, sync: true, keepData: false, seed: 1 });
    const untrack = scratch.track(async () => (await opening.catch(() => null))?.close());
    const store: Store = await opening;
    const value = new Uint8Array(o.size).fill(7);
    const keys = Array.from({ length: KEYS }, (_, k) => `key-${String(k).padStart(4, '0')}`);
    for (let k = 0; k < KEYS; k += 256) await Promise.all(keys.slice(k, k + 256).map((key) => store.put(key, value)));
    const cluster = store.cluster;
    const before = await currentLeader(cluster);
    if (before.peer < 0) throw new Error('no leader after the keys were written; run again');
    const leader = before.peer;
    status(`leader: peer ${leader}; workload: ${o.clients} clients, each one put of ${o.size} B at a time`);

    const all = Array.from({ length: o.peers }, (_, i) => i);
    const clocks: StageClock[] = o.stages ? await startStageClocks(cluster, all) : [];
    const clients = Array.from({ length: o.clients }, () => store.client());
    const loop = new ClosedLoop<KvClient>(clients, (c, i) => c.put(keys[i % KEYS]!, value));
    loop.start();
    await sleep(o.warmupMs);
    if (loop.error) throw loop.error;

    const cpu = new ClusterCpuProfiles(cluster, all, o.cpu);
    await cpu.start(o.samplingUs);
    const peerThreads = await Promise.all(all.map((i) => cluster.profiler(i).osThreadId()));
    // Records of the warm-up are dropped: stage recording restarts for the profiled window.
    if (o.stages) await Promise.all(all.map((i) => cluster.profiler(i).startStages(performance.timeOrigin)));
    const mainGc = o.stages ? new GcRecorder() : null;
    const threadsBefore = sampleThreads();
    const t0 = performance.now();
    const a0 = loop.answered;
    loop.recording = true;
    status(`profiling for ${o.seconds} s (${o.cpu ? `CPU profiler sampling every ${o.samplingUs} us` : 'no CPU profiler'}${o.stages ? ', stage timestamps on' : ''})`);
    await sleep(o.seconds * 1000);
    const t1 = performance.now();
    const a1 = loop.answered;
    loop.recording = false;
    const threadsAfter = sampleThreads();
    const mainGcLog = mainGc ? await mainGc.stop() : null;
    const profiles = await cpu.stop();
    const dumps: (StageDump | null)[] = o.stages ? await Promise.all(all.map((i) => cluster.profiler(i).stopStages())) : [];
    await loop.stop();
    if (loop.error) throw loop.error;
    const after = await currentLeader(cluster);
    untrack();
    await store.close();
    // The rounds are read off the leader's records: a run that changed leaders has no one leader.
    if (after.peer !== leader || after.term !== before.term) {
      throw new Error(`the leadership moved during the run (peer ${leader} in term ${before.term}, then peer ${after.peer} in term ${after.term}): an election; run again`);
    }

    const rate = ((a1 - a0) * 1000) / (t1 - t0);
    const lat = summarize(loop.latencies);
    console.log(
      `\nraftwork profile: key-value store, ${o.peers} peers, lmdb (fsync), ${o.clients} clients each one put of ${o.size} B at a time; ` +
        `${int(rate)} puts/s while profiled (${o.seconds} s), latency p50 ${ms(lat.p50)} p99 ${ms(lat.p99)}`,
    );
    const files = writeProfiles(o.out, profiles, leader);
    printProfiles(profiles, leader, "Main thread (the store's clients)", o.top);
    const threads =
      threadsBefore !== null && threadsAfter !== null ? threadTable(threadRates(threadsBefore, threadsAfter, t1 - t0), peerThreads, leader, currentThreadId()) : null;
    if (threads !== null) printThreads(threads, o.cpu);
    const gc = o.stages ? printGcPauses(dumps, leader, mainGcLog, t0, t1) : null;

    let rounds: RoundReport | null = null;
    if (o.stages) {
      rounds = roundReport({ peers: o.peers, leader, dumps });
      if (rounds) printRounds(rounds, o.clients);
      else console.log('\nRounds: no round completed every stage while recording (too short a run?)');
      printStageCost(dumps, leader, clocks);
    }
    writeFileSync(
      join(o.out, 'summary.json'),
      JSON.stringify({ options: { ...o, kv: true }, leader, putsPerSecond: rate, latency: lat, rounds, clocks, threads, gc, files }, null, 2) + '\n',
    );
    printWhere(o.out, profiles, files);
  } finally {
    await scratch.cleanup();
  }
}
