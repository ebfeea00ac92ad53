/**
 * Locating porcupine's test histories for the check tests. They live beside the repository, in
 * ../shared/porcupine-test-data. Compiled tests sit in <repo>/dist/test/check/, three levels
 * below the repository root; to survive a different build layout the root is found by walking
 * up to the package.json named "raftwork". RAFTWORK_PORCUPINE_DATA overrides the location.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(): string {
  const fallback = fileURLToPath(new URL('../../../', import.meta.url));
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'raftwork') return dir;
      } catch {
        // not ours; keep walking
      }
    }
    const up = dirname(dir);
    if (up === dir) return fallback;
    dir = up;
  }
}

let cached: string | undefined;

/** The data directory; throws a message that says where it looked and how to fix it. */
export function dataDir(): string {
  if (cached !== undefined) return cached;
  const override = process.env['RAFTWORK_PORCUPINE_DATA'];
  const dir = override !== undefined && override !== '' ? resolve(override) : resolve(findRepoRoot(), '..', 'shared', 'porcupine-test-data');
  if (!existsSync(join(dir, 'jepsen')) || !existsSync(join(dir, 'kv'))) {
    throw new Error(
      `porcupine test data not found: expected ${dir} to hold jepsen/ and kv/ ` +
        '(porcupine\'s test_data, see /work/shared/porcupine-test-data/README.md). ' +
        'Put it at <repo>/../shared/porcupine-test-data or set RAFTWORK_PORCUPINE_DATA.',
    );
  }
  cached = dir;
  return dir;
}

export function readData(relative: string): string {
  const file = join(dataDir(), relative);
  if (!existsSync(file)) throw new Error(`porcupine test data file missing: ${file}`);
  return readFileSync(file, 'utf8');
}

/** Expected verdicts, from the data's README (porcupine's own tests). */
export const ETCD_LINEARIZABLE = ['002', '005', '007', '018', '025', '031', '038'];
export const ETCD_NOT_LINEARIZABLE = ['000', '001', '003', '006', '008'];
export const KV_FILES = ['c01-ok', 'c01-bad', 'c10-ok', 'c10-bad', 'c50-ok', 'c50-bad'];
