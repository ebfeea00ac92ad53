/**
 * The README's embedding example runs as written: test/kv/fixtures/readme-example.mjs is the
 * text the README shows. It imports 'raftwork', which resolves to this package through its own
 * "exports" (package self-reference) once src/index.ts exports openStore; until then the test
 * points that one import at dist/src/kv/index.js and changes nothing else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const distKv = fileURLToPath(new URL('.', import.meta.url));
const source = fileURLToPath(new URL('../../../test/kv/fixtures/readme-example.mjs', import.meta.url));
const packageIndex = fileURLToPath(new URL('../../src/index.js', import.meta.url));

test('the README example runs as written and prints what it says', async () => {
  let text = await readFile(source, 'utf8');
  assert.ok(text.split('\n').filter((l) => l.trim() !== '').length <= 10, 'the example is at most 10 lines');
  const selfReference = existsSync(packageIndex) && /openStore/.test(await readFile(packageIndex, 'utf8'));
  if (!selfReference) text = text.replace("from 'raftwork'", `from ${JSON.stringify(new URL('../../src/kv/index.js', import.meta.url).href)}`);
  // Inside the package, so that 'raftwork' resolves to it; run from an empty directory, so that
  // './data' is created there.
  const script = join(distKv, `.readme-example-${process.pid}.mjs`);
  const cwd = await mkdtemp(join(tmpdir(), 'raftwork-readme-'));
  await writeFile(script, text);
  try {
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [script], { cwd, timeout: 60_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))),
    );
    assert.deepEqual(out.trim().split('\n'), ['ada lovelace', 'true', 'user/1 ada', 'user/2 grace']);
    assert.ok((await readdir(join(cwd, 'data'))).includes('raftwork-kv.json'), 'the store lives in ./data');
  } finally {
    await rm(script, { force: true });
    await rm(cwd, { recursive: true, force: true });
  }
});
