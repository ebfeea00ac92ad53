#!/usr/bin/env node
/**
 * npm run sim -- --seeds N [--peers P] [--profile NAME|all] [--first S] [--chaos-ms MS]
 * npm run sim -- --seed S [--peers P] [--profile NAME] --trace      (replay one seed)
 * npm run sim -- --elections N [--peers P] [--first S] [--busy]       (election latency after a crash)
 */
import { summarize } from '../profile/stats.js';
import { electionLatency } from '../sim/election-latency.js';
import { PROFILES, profileByName } from '../sim/profiles.js';
import { runSeed, type SeedResult } from '../sim/run-seed.js';
import { runSwarm } from '../sim/swarm.js';
import { parseArgs } from './args.js';

function replayCommand(r: SeedResult): string {
  return `npm run sim -- --seed ${r.seed} --peers ${r.peers} --profile ${r.profile} --trace`;
}

function printFailure(r: SeedResult, lines: number): void {
  console.log(`\nFAIL seed ${r.seed} (profile ${r.profile}, ${r.peers} peers): ${r.violation}`);
  console.log(`  replay: ${replayCommand(r)}`);
  if (r.trace && lines > 0) {
    console.log(`  last ${Math.min(lines, r.trace.length)} events:`);
    for (const l of r.trace.slice(-lines)) console.log(`    ${l}`);
  }
}

async function main(): Promise<number> {
  const a = parseArgs(process.argv.slice(2), {
    seeds: 'number',
    seed: 'number',
    first: 'number',
    peers: 'number',
    profile: 'string',
    'chaos-ms': 'number',
    trace: 'boolean',
    threads: 'number',
    elections: 'number',
    busy: 'boolean',
  });
  const peers = (a.peers as number | undefined) ?? 5;
  if (!Number.isInteger(peers) || peers < 1 || peers > 15) throw new Error(`--peers must be an integer from 1 to 15, got ${peers}`);
  const profileArg = (a.profile as string | undefined) ?? 'all';
  const profiles = profileArg === 'all' ? PROFILES.map((p) => p.name) : profileArg.split(',').map((n) => profileByName(n).name);
  const chaosMs = a['chaos-ms'] as number | undefined;

  if (a.elections !== undefined) {
    const t0 = performance.now();
    const busy = a.busy === true;
    const r = electionLatency({ seeds: a.elections as number, peers, busy, ...(a.first !== undefined ? { firstSeed: a.first as number } : {}) });
    const d = summarize(r.samples);
    const f = (x: number): string => `${x.toFixed(1)} ms`;
    console.log(
      `election after a leader crash, ${peers} peers, simulated (timeouts 150-300 ms, 10 ms ticks; ` +
        `${busy ? 'a proposal every 20 ms until the crash, heartbeats 50 ms' : 'idle, so heartbeats stretched to 100 ms'}):`,
    );
    console.log(`  ${d.n} seeds: p50 ${f(d.p50)}  p90 ${f(d.p90)}  p99 ${f(d.p99)}  max ${f(d.max)}  mean ${f(d.mean)}  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    if (r.stuck.length > 0) console.log(`  no new leader within 5 s: seeds ${r.stuck.slice(0, 10).join(', ')}${r.stuck.length > 10 ? ', ...' : ''}`);
    return r.stuck.length > 0 ? 1 : 0;
  }

  if (a.seed !== undefined) {
    let failed = false;
    for (const profile of profiles) {
      const r = runSeed({ seed: a.seed as number, peers, profile, traceLines: 400, ...(chaosMs ? { chaosMs } : {}) });
      if (r.ok) {
        console.log(`seed ${r.seed} profile ${profile} peers ${peers}: ok (${r.commits} commits, ${r.terms} terms, ${r.messages} RPCs)`);
        if (a.trace && r.trace) for (const l of r.trace) console.log(`  ${l}`);
      } else {
        failed = true;
        printFailure(r, a.trace ? 400 : 40);
      }
    }
    return failed ? 1 : 0;
  }

  const seeds = (a.seeds as number | undefined) ?? 200;
  if (!Number.isInteger(seeds) || seeds < 1) throw new Error(`--seeds must be a positive integer, got ${seeds}`);
  const t0 = performance.now();
  let lastPrint = 0;
  const reports = await runSwarm({
    seeds,
    peers,
    profiles,
    ...(a.first !== undefined ? { firstSeed: a.first as number } : {}),
    ...(chaosMs ? { chaosMs } : {}),
    ...(a.threads !== undefined ? { threads: a.threads as number } : {}),
    onProgress: (done, total) => {
      const now = performance.now();
      if (process.stderr.isTTY && now - lastPrint > 250) {
        lastPrint = now;
        process.stderr.write(`\r  ${done}/${total} seeds`);
      }
    },
  });
  if (process.stderr.isTTY) process.stderr.write('\r' + ' '.repeat(40) + '\r');
  let failures = 0;
  console.log(`profile      seeds  failures  seeds/s  commits/seed`);
  for (const r of reports) {
    failures += r.failures.length;
    console.log(
      `${r.profile.padEnd(11)} ${String(r.seeds).padStart(6)}  ${String(r.failures.length).padStart(8)}  ${(r.seeds / r.seconds).toFixed(0).padStart(7)}  ${(r.commits / r.seeds).toFixed(0).padStart(12)}`,
    );
  }
  const total = reports.reduce((s, r) => s + r.seeds, 0);
  const secs = (performance.now() - t0) / 1000;
  console.log(`${total} seeds, ${peers} peers, in ${secs.toFixed(1)} s: ${(total / secs).toFixed(0)} seeds/s; ${failures} failed`);
  for (const r of reports) for (const f of r.failures.slice(0, 3)) printFailure(f, 30);
  return failures > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`raftwork sim: ${err.message}`);
    process.exit(2);
  },
);
