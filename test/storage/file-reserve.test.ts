import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbLogStore } from '../../src/storage/lmdb-store.js';
import { DEFAULT_RESERVE, planReserve, type ReservePolicy } from '../../src/storage/file-reserve.js';
import type { Entry } from '../../src/core/types.js';
import { DEFAULT_IDENTITY } from './conformance.js';

const root = mkdtempSync(join(tmpdir(), 'raftwork-reserve-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => join(root, `s${n++}`);
const MiB = 1024 * 1024;
const P: ReservePolicy = { ahead: 16 * MiB, lowWater: 8 * MiB, step: 2 * MiB, maxStep: 4 * MiB };

describe('FileReserve: the plan', () => {
  it('reserves nothing while at least lowWater bytes lie past the last used page', () => {
    assert.equal(planReserve(20 * MiB, 12 * MiB, P), null);
    assert.equal(planReserve(100 * MiB, 1 * MiB, P), null);
  });

  it('tops up from the file end, at most one step, towards ahead bytes past the last used page', () => {
    assert.deepEqual(planReserve(20 * MiB, 13 * MiB, P), { from: 20 * MiB, to: 22 * MiB });
    // A step larger than what is missing stops at usedEnd + ahead.
    assert.deepEqual(planReserve(20 * MiB, 13 * MiB, P, 64 * MiB), { from: 20 * MiB, to: 29 * MiB });
  });

  it('fills the whole reserve of a fresh file when asked for the full amount, as open does', () => {
    assert.deepEqual(planReserve(8192, 8192, P, P.ahead), { from: 8192, to: 8192 + 16 * MiB });
  });

  it('never plans a range that starts before the file end (where LMDB may have written)', () => {
    for (const [size, used] of [[0, 4096], [4096, 4096], [5 * MiB, 6 * MiB], [30 * MiB, 25 * MiB]] as const) {
      const p = planReserve(size, used, P);
      if (p !== null) {
        assert.equal(p.from, size);
        assert.ok(p.to > p.from);
      }
    }
  });
});

function bigEntries(from: number, count: number, bytes: number): Entry[] {
  return Array.from({ length: count }, (_, k) => ({ index: from + k, term: 1, kind: 0 as const, data: new Uint8Array(bytes).fill((from + k) & 0xff) }));
}

async function usedEnd(s: LmdbLogStore): Promise<number> {
  const st = s.env.getStats() as { lastPageNumber: number; pageSize: number };
  return (st.lastPageNumber + 1) * st.pageSize;
}

describe('FileReserve: in a durable LmdbLogStore', () => {
  it('a durable store opens with the reserve allocated past its last page', async () => {
    const path = freshDir();
    const s = await LmdbLogStore.open({ path, identity: DEFAULT_IDENTITY });
    const size = statSync(join(path, 'data.mdb')).size;
    assert.ok(size >= (await usedEnd(s)) + DEFAULT_RESERVE.ahead, `data.mdb is ${size} bytes`);
    await s.close();
  });

  it('the reserve stays ahead as the log grows past it, and every entry reads back intact after reopening', async () => {
    const path = freshDir();
    let s = await LmdbLogStore.open({ path, identity: DEFAULT_IDENTITY });
    // 24 MiB of entries in 96 writes: LMDB's pages run well into the first reserve.
    const per = 256 * 1024;
    let next = 1;
    for (let w = 0; w < 96; w++) {
      await s.write({ hardState: null, snapshot: null, entries: bigEntries(next, 1, per) });
      next++;
    }
    const used = await usedEnd(s);
    assert.ok(used > DEFAULT_RESERVE.ahead, `LMDB used only ${used} bytes`);
    const size = statSync(join(path, 'data.mdb')).size;
    assert.ok(size - used >= DEFAULT_RESERVE.lowWater - 2 * per, `only ${size - used} bytes reserved past ${used}`);
    await s.close();
    s = await LmdbLogStore.open({ path, identity: DEFAULT_IDENTITY });
    const got = (await s.load()).entries;
    assert.equal(got.length, next - 1);
    for (const e of got) {
      assert.equal(e.data.length, per);
      assert.ok(e.data.every((b) => b === (e.index & 0xff)), `entry ${e.index} changed`);
    }
    await s.close();
  });

  it('a store without fsync, or opened with reserve: false, reserves nothing', async () => {
    for (const opts of [{ sync: false }, { reserve: false }]) {
      const path = freshDir();
      const s = await LmdbLogStore.open({ path, identity: DEFAULT_IDENTITY, ...opts });
      const size = statSync(join(path, 'data.mdb')).size;
      assert.ok(size < (await usedEnd(s)) + DEFAULT_RESERVE.lowWater, `${JSON.stringify(opts)}: data.mdb is ${size} bytes`);
      await s.close();
    }
  });
});
