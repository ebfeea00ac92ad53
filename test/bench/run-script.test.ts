import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runScript } from './run-script.js';

test('a script still running after its time is killed, and the result says so', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'raftwork-run-script-'));
  try {
    const script = join(dir, 'forever.mjs');
    await writeFile(script, 'setInterval(() => {}, 1000);\n');
    const r = await runScript(script, [], undefined, 300);
    assert.equal(r.code, null, 'killed, no exit code');
    assert.match(r.stderr, /killed after 0\.3 s/);
    if (process.platform === 'linux') assert.match(r.stderr, /thread \d+ .+: state \w, [\d.]+ s CPU, waiting in /, 'the threads of the killed process are described');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
