/**
 * Smoke test of `npm run bench -- --quick`: it finishes, prints the table, writes a JSON file
 * with every figure and an SVG chart next to it, and leaves no scratch directory behind, also
 * when interrupted with Ctrl-C.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runScript, type ScriptResult } from './run-script.js';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchReport } from '../../bench/types.js';

const RUN = fileURLToPath(new URL('../../bench/run.js', import.meta.url));
/** The key-value store's module: its figures are expected when the build has it. */
const KV_MODULE = new URL('../../src/kv/index.js', import.meta.url);

function run(args: string[], onStart?: (kill: (s: NodeJS.Signals) => void) => void): Promise<ScriptResult> {
  return runScript(RUN, args, onStart);
}

async function scratchDirs(): Promise<Set<string>> {
  return new Set((await readdir(tmpdir())).filter((n) => n.startsWith('raftwork-bench-')));
}

test('bench --quick finishes under 30 s and writes valid JSON and an SVG chart', { timeout: 90_000 }, async () => {
  const out = await mkdtemp(join(tmpdir(), 'raftwork-bench-test-'));
  const before = await scratchDirs();
  try {
    const json = join(out, 'quick.json');
    const t0 = performance.now();
    const r = await run(['--quick', '--json', json]);
    const seconds = (performance.now() - t0) / 1000;
    assert.equal(r.code, 0, `bench failed:\n${r.stdout}\n${r.stderr}`);
    assert.ok(seconds < 45, `--quick took ${seconds.toFixed(1)} s (the goal is under 30 s; 45 s allows for a loaded CI machine)`);
    for (const heading of ['Machine limits', 'Commit throughput', 'Commit latency, sequential', 'Election latency', 'Idle 5-peer cluster', 'Targets']) {
      assert.ok(r.stdout.includes(heading), `the table has no "${heading}" section`);
    }
    assert.match(r.stdout, /quorum round, 3 peers, 64 x 103 B/);

    const report = JSON.parse(await readFile(json, 'utf8')) as BenchReport;
    assert.equal(report.schema, 'raftwork-bench/1');
    assert.equal(report.machine.node, process.version);
    assert.ok(report.machine.cpus > 0);
    assert.equal(report.options.quick, true);
    const l = report.limits;
    for (const d of [l.portRtt, l.lmdbTxn, l.fsync]) assert.ok(d.p50 > 0 && d.p99 >= d.p50, JSON.stringify(d));
    for (const s of [64, 1024]) assert.ok((l.lmdbBatch[s] ?? 0) > 0 && (l.portPacked[s] ?? 0) > 0);

    // 2 storages x 2 cluster sizes x 2 command sizes x 3 windows, plus propose() at 64 outstanding per storage.
    assert.equal(report.throughput.length, 26);
    for (const f of report.throughput) {
      assert.equal(f.error, undefined, `${f.id}: ${f.error}`);
      assert.ok(f.commitsPerSec > 0 && f.commits > 0, f.id);
      assert.ok(f.bound && f.bound.value > 0 && f.bound.ratio > 0, `${f.id} has no bound`);
      assert.equal(f.call, f.outstanding === 1 || f.id.endsWith('/propose') ? 'propose' : 'proposeBatch');
    }
    assert.equal(report.latency.length, 4);
    for (const f of report.latency) {
      assert.ok(f.dist && f.dist.p50 > 0 && f.dist.p90 >= f.dist.p50 && f.dist.p99 >= f.dist.p90, f.id);
      assert.ok(f.bound && f.bound.ratio > 0 && f.sketch.length > 0, f.id);
    }
    assert.deepEqual(report.election.map((e) => e.kind).sort(), ['crash', 'partition']);
    for (const e of report.election) {
      assert.equal(e.error, undefined, `${e.id}: ${e.error}`);
      assert.equal(e.trials, 3);
      assert.equal(e.samples.length, 3);
      assert.ok(e.dist && e.dist.p50 > 0 && e.dist.max < 10_000, e.id);
    }
    assert.ok(report.idle && report.idle.cpuPct >= 0 && report.idle.rssMiB > 0);
    // Heartbeats alone wake each of the 5 peers' threads several times a second.
    if (process.platform === 'linux') assert.ok((report.idle.wakesPerSec ?? 0) > 5, `idle wakes/s: ${report.idle.wakesPerSec}`);
    for (const n of [3, 5]) {
      for (const s of [64, 1024]) assert.ok((l.lmdbConcurrent[n]?.[s] ?? 0) > 0, `no concurrent-writers limit for ${n} x ${s} B`);
      assert.ok((l.lmdbConcurrentTxn[n] ?? 0) > 0, `no concurrent 1-put transaction limit for ${n} writers`);
      const q = l.quorumRound?.[n];
      assert.ok(q && q.entries === 64 && q.dist.mean > 0 && q.dist.n > 0, `no quorum round for ${n} peers: ${JSON.stringify(q)}`);
    }
    // The key-value store's figures are there when the build has the store (null otherwise):
    // put, linearizable get and lease get with 1 and 64 clients, and the pipelined put.
    const kvIds = ['put', 'get-linearizable', 'get-lease'].flatMap((op) => [1, 64].map((c) => `kv/${op}/3p/${c}c`)).concat('kv/put/3p/1c/1024out');
    if (existsSync(fileURLToPath(KV_MODULE))) {
      assert.ok(Array.isArray(report.kv), 'the build has src/kv but the report has no kv figures');
      assert.ok(r.stdout.includes('Key-value store ('), 'the table has no key-value store section');
      assert.deepEqual(report.kv.map((f) => f.id).sort(), [...kvIds].sort());
      for (const f of report.kv) {
        assert.equal(f.error, undefined, `${f.id}: ${f.error}`);
        assert.ok(Number.isFinite(f.opsPerSec) && f.opsPerSec > 0 && f.operations > 0, `${f.id}: ops/s ${f.opsPerSec}`);
        assert.ok(f.dist && Number.isFinite(f.dist.p50) && f.dist.p50 > 0 && f.dist.p90 >= f.dist.p50 && f.dist.p99 >= f.dist.p90, `${f.id}: ${JSON.stringify(f.dist)}`);
        assert.equal(f.clients, Number(/\/(\d+)c(\/|$)/.exec(f.id)![1]), f.id);
        assert.ok(f.bound && f.bound.value > 0 && f.bound.ratio > 0, `${f.id} has no bound`);
        assert.ok(f.sketch.length > 0, f.id);
      }
      for (const name of ['KV puts/s, 3 peers, 64 clients', 'KV linearizable gets/s, 3 peers, 64 clients']) {
        const t = report.targets.find((x) => x.name.startsWith(name));
        assert.ok(t && t.met !== null, `no measured target "${name}"`);
      }
    } else assert.equal(report.kv, null);
    assert.equal(report.targets.length, 8);

    const svg = await readFile(json.replace(/\.json$/, '.svg'), 'utf8');
    assert.ok(svg.startsWith('<svg') && svg.trimEnd().endsWith('</svg>'), 'the chart is not an SVG document');
    for (const title of ['Commit throughput', 'Commit latency', 'Election latency']) assert.ok(svg.includes(title), `the chart has no "${title}" panel`);
    if (report.kv !== null) assert.ok(svg.includes('Key-value store: operations answered per second'), 'the chart has no key-value store panel');
    assert.ok(!svg.includes('NaN'), 'the chart has NaN coordinates');

    const after = await scratchDirs();
    assert.deepEqual([...after].filter((d) => !before.has(d)), [], 'a scratch directory was left behind');
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test('bench removes its scratch directory when interrupted (Ctrl-C)', { timeout: 60_000 }, async () => {
  const out = await mkdtemp(join(tmpdir(), 'raftwork-bench-test-'));
  const before = await scratchDirs();
  try {
    const r = await run(['--quick', '--filter', 'throughput/lmdb/3p', '--json', join(out, 'x.json')], (kill) => {
      // Interrupt once a cluster's LMDB directories exist in the scratch directory.
      const poll = setInterval(() => {
        void scratchDirs().then(async (now) => {
          const mine = [...now].filter((d) => !before.has(d));
          for (const d of mine) {
            const inside = await readdir(join(tmpdir(), d)).catch(() => [] as string[]);
            if (inside.some((n) => n.startsWith('cluster-'))) {
              clearInterval(poll);
              kill('SIGINT');
            }
          }
        });
      }, 100);
      poll.unref();
    });
    assert.equal(r.code, 130, `expected exit 130 after SIGINT, got ${r.code}\n${r.stderr}`);
    const after = await scratchDirs();
    assert.deepEqual([...after].filter((d) => !before.has(d)), [], 'the scratch directory was left behind');
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
