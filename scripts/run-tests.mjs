// Runs every compiled test under dist/test with node's test runner.
// Pure and simulated tests run in parallel; tests that start real worker clusters
// (timing-sensitive) run one file at a time so they never compete for the two cores.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = 'dist/test';
const serialDirs = new Set(['cluster', 'kv', 'bench']);

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...collect(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const only = process.argv.slice(2);
const all = collect(root).filter((f) => only.length === 0 || only.some((o) => f.includes(o)));
const serial = all.filter((f) => serialDirs.has(f.split('/')[2]));
const parallel = all.filter((f) => !serial.includes(f));

let failed = false;
function run(files, extra) {
  if (files.length === 0) return;
  const r = spawnSync(process.execPath, ['--test', ...extra, ...files], { stdio: 'inherit' });
  if (r.status !== 0) failed = true;
}
run(parallel, ['--test-concurrency=2']);
run(serial, ['--test-concurrency=1']);
process.exit(failed ? 1 : 0);
