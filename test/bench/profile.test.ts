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

test('a 2-second profile writes one .cpuprofile per peer and prints the stage table', { timeout: 60_000 }, async () => {
  const out = await mkdtemp(join(tmpdir(), 'raftwork-profile-test-'));
  try {
    const r = await runScript(CLI, ['--seconds', '2', '--warmup', '0.5', '--out', out]);
    assert.equal(r.code, 0, `profile failed:\n${r.stdout}\n${r.stderr}`);

    const files = (await readdir(out)).filter((f) => /^peer-\d+-(leader|follower)\.cpuprofile$/.test(f)).sort();
    assert.equal(files.length, 5, `expected one .cpuprofile per peer, got ${files.join(', ')}`);
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
      for (let i = 0; i < 5; i++) assert.match(r.stdout, new RegExp(`peer ${i} \\((leader|follower)\\)\\s+\\d+\\.\\d\\s+\\d+\\.\\d\\d%`), `no thread row for peer ${i}`);
      assert.match(r.stdout, /whole process\s+\d+\.\d\s+\d+\.\d\d%/);
    }
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
