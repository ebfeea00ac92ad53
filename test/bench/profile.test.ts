/**
 * Smoke test of `npm run profile`: a 2-second profile writes one .cpuprofile per peer (each one
 * a V8 CPU profile) and prints the top functions and the stage table with its own cost.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runScript } from './run-script.js';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/profile.js', import.meta.url));

/**
 * An election during the run ends it with an error (the workload proposes to one leader). On a
 * loaded host (the 2-core VM with a fifth of its CPU time stolen by the hypervisor, say) a
 * worker can stall past the election timeout; that is the host, not the profiler, so such a run
 * is tried again, up to 3 runs in all. The workload says "lost leadership" when a proposal is refused, or that
 * proposals are "still outstanding" when the leader took them and lost them with its term (it may
 * even have won the next one). Any other failure fails at once; a real liveness bug fails both.
 */
const ELECTION_DURING_RUN = /lost leadership during the workload|still outstanding after/;
const PEERS = 3;

test('a 2-second profile writes one .cpuprofile per peer and prints the stage table', { timeout: 240_000 }, async () => {
  const out = await mkdtemp(join(tmpdir(), 'raftwork-profile-test-'));
  try {
    // 3 peers rather than the CLI's default 5: fewer threads sampled at once on 2 cores, so
    // fewer stalls past an election timeout.
    const args = ['--seconds', '2', '--warmup', '0.5', '--peers', String(PEERS), '--out', out];
    let r = await runScript(CLI, args, undefined, 100_000);
    for (let attempt = 2; attempt <= 3 && r.code !== 0 && ELECTION_DURING_RUN.test(r.stderr); attempt++) {
      console.log(`# an election interrupted the run; attempt ${attempt}:\n# ${r.stderr.trim().split('\n').find((l) => ELECTION_DURING_RUN.test(l)) ?? ''}`);
      r = await runScript(CLI, args, undefined, 100_000);
    }
    assert.equal(r.code, 0, `profile failed:\n${r.stdout}\n${r.stderr}`);

    const files = (await readdir(out)).filter((f) => /^peer-\d+-(leader|follower)\.cpuprofile$/.test(f)).sort();
    assert.equal(files.length, PEERS, `expected one .cpuprofile per peer, got ${files.join(', ')}`);
    assert.equal(files.filter((f) => f.includes('leader')).length, 1);
    for (const f of files) {
      const p = JSON.parse(await readFile(join(out, f), 'utf8')) as { nodes: unknown[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };
      assert.ok(Array.isArray(p.nodes) && p.nodes.length > 1, `${f} has no call tree`);
      assert.ok(p.samples.length > 100 && p.samples.length === p.timeDeltas.length, `${f} has too few samples`);
      assert.ok(p.endTime - p.startTime >= 1.5e6, `${f} covers ${(p.endTime - p.startTime) / 1e6} s`);
    }
    assert.ok(r.stdout.includes(out), 'the output directory is not printed');

    for (const s of ['Leader (peer', 'Follower (peer', 'Stages of a command', 'total: proposed -> applied on the leader', 'durable on a quorum', 'Cost of the stage timestamps']) {
      assert.ok(r.stdout.includes(s), `the report has no "${s}"`);
    }
    // Every stage row has a p50 and a p99 in a time unit.
    const lines = r.stdout.split('\n');
    const start = lines.findIndex((l) => l.startsWith('Stages of a command'));
    const end = lines.findIndex((l, k) => k > start && l.trim() === '');
    const rows = lines.slice(start + 3, end);
    assert.ok(rows.length >= 9 && rows.every((l) => l.includes(' -> ')), r.stdout);
    for (const l of rows) assert.match(l, /(us|ms)\s+\S+ (us|ms)\s+\S+ (us|ms)\s*$/, l);

    // On Linux, each peer's thread is named in the thread table, with its wakes and CPU.
    if (process.platform === 'linux') {
      assert.ok(r.stdout.includes('Threads while profiled'), 'no thread table');
      for (let i = 0; i < PEERS; i++) assert.match(r.stdout, new RegExp(`peer ${i} \\((leader|follower)\\)\\s+\\d+\\.\\d\\s+\\d+\\.\\d\\d%`), `no thread row for peer ${i}`);
      assert.match(r.stdout, /whole process\s+\d+\.\d\s+\d+\.\d\d%/);
    }
    // Each thread's GC pauses in the window: scavenges a second, then pauses and a share of the time.
    const gc = lines.findIndex((l) => l.startsWith('Garbage collection while recording'));
    assert.ok(gc > 0, 'no GC table');
    const gcRows = lines.slice(gc + 3, gc + 3 + PEERS + 1);
    for (let i = 0; i < PEERS; i++) assert.ok(gcRows.some((l) => new RegExp(`^  peer ${i} \\((leader|follower)\\)\\s+\\d+\\.\\d\\s.*\\d+\\.\\d\\d%$`).test(l)), `no GC row for peer ${i}:\n${gcRows.join('\n')}`);
    assert.ok(gcRows.some((l) => /^  main thread\s+\d+\.\d\s.*%$/.test(l)), 'no GC row for the main thread');
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test('profile --kv: the store under 8 clients, each round cut into the log\'s part and the store\'s', { timeout: 240_000 }, async () => {
  const out = await mkdtemp(join(tmpdir(), 'raftwork-profile-kv-test-'));
  try {
    const args = ['--kv', '--clients', '8', '--seconds', '2', '--warmup', '0.5', '--out', out];
    let r = await runScript(CLI, args, undefined, 100_000);
    // An election during the run is the host's (see ELECTION_DURING_RUN above); the KV run says so in its own words.
    for (let attempt = 2; attempt <= 3 && r.code !== 0 && /leadership moved during the run/.test(r.stderr); attempt++) {
      console.log(`# an election interrupted the run; attempt ${attempt}`);
      r = await runScript(CLI, args, undefined, 100_000);
    }
    assert.equal(r.code, 0, `profile --kv failed:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /key-value store, 3 peers, lmdb \(fsync\), 8 clients each one put of 64 B at a time; [\d,]+ puts\/s/);
    for (const s of ['Leader (peer', 'Follower (peer', "Main thread (the store's clients)", 'Rounds of the log', 'the whole round', "a follower's write (received -> durable)", 'Cost of the stage timestamps']) {
      assert.ok(r.stdout.includes(s), `the report has no "${s}"`);
    }
    const files = (await readdir(out)).filter((f) => f.endsWith('.cpuprofile')).sort();
    assert.equal(files.length, PEERS + 1, `expected a .cpuprofile per peer and the main thread, got ${files.join(', ')}`);
    // The parts' means add up to the mean round, and the round's own rate matches the clients' rate.
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as {
      putsPerSecond: number;
      rounds: { rounds: number; round: { mean: number }; parts: { meanMs: number; share: number }[] } | null;
    };
    assert.ok(summary.rounds && summary.rounds.rounds > 10, `too few rounds: ${JSON.stringify(summary.rounds)}`);
    const sum = summary.rounds.parts.reduce((a, p) => a + p.meanMs, 0);
    assert.ok(Math.abs(sum - summary.rounds.round.mean) < 1e-6, `parts ${sum} ms against a round of ${summary.rounds.round.mean} ms`);
    assert.ok(summary.putsPerSecond > 0);
    assert.ok(r.stdout.includes('Garbage collection while recording'), 'no GC table');
    const gc = (summary as unknown as { gc: Record<string, { minor: { count: number }; elapsedMs: number }> }).gc;
    assert.deepEqual(Object.keys(gc).length, PEERS + 1, `GC pauses of every peer and the main thread: ${JSON.stringify(gc)}`);
    for (const g of Object.values(gc)) assert.ok(g.elapsedMs > 1500 && g.minor.count >= 0);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test('profile --kv refuses the raw workload\'s options, and --clients without --kv, saying what to use', async () => {
  for (const [args, said] of [
    [['--kv', '--outstanding', '64'], /--kv runs store clients.*--outstanding.*use --clients N/],
    [['--kv', '--single'], /--single shape proposals to the log/],
    [['--kv', '--storage', 'memory'], /its state lives in LMDB; drop --storage memory/],
    [['--clients', '8'], /--clients is for --kv.*use --outstanding N/],
    [['--kv', '--clients', '0'], /--clients: invalid value 0/],
  ] as const) {
    const r = await runScript(CLI, args, undefined, 30_000);
    assert.notEqual(r.code, 0, `${args.join(' ')} was accepted`);
    assert.match(r.stderr, said, `${args.join(' ')}: ${r.stderr}`);
  }
});
