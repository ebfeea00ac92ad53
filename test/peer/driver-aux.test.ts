/**
 * The driver hands a sink's pending aux writes to the next log write, in the same call (one
 * transaction), and tells the sink which write carries them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftCore } from '../../src/core/raft.js';
import { createRng } from '../../src/core/rng.js';
import type { Entry } from '../../src/core/types.js';
import { PeerDriver, type PiggybackAux } from '../../src/peer/driver.js';
import type { AuxWrites } from '../../src/storage/log-store.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test("a sink's pending aux writes ride in the next log write, and the sink learns which write carries them", async () => {
  const core = new RaftCore({ id: 0, peers: 1, electionTicks: 2, maxElectionTicks: 3, heartbeatTicks: 1, rng: createRng(3) });
  const writes: { entries: number; aux: AuxWrites | undefined; promise: Promise<void> }[] = [];
  const applied: Entry[] = [];
  const aux: AuxWrites = () => undefined;
  let offer: PiggybackAux | null = null;
  let landedWith: Promise<void> | null = null;
  let asked = 0;
  const driver = new PeerDriver({
    core,
    store: {
      write: (batch, a) => {
        const promise = Promise.resolve();
        writes.push({ entries: batch.entries.length, aux: a, promise });
        return promise;
      },
      compact: () => Promise.resolve(),
    },
    wire: { send: () => undefined, flush: () => undefined },
    sink: {
      entries: (es) => void applied.push(...es),
      snapshot: () => undefined,
      takeAux: () => {
        asked++;
        const o = offer;
        offer = null;
        return o;
      },
    },
    tickMs: 1,
    snapshot: null,
    onFatal: (err) => {
      throw err;
    },
  });
  driver.start();
  try {
    for (let k = 0; k < 200 && !core.isLeader(); k++) await sleep(2);
    assert.ok(core.isLeader(), 'a single peer elects itself');
    await sleep(5);
    const before = writes.length;
    const askedBefore = asked;
    offer = { aux, landed: (p) => (landedWith = p) };
    assert.ok(driver.proposeBatch([new Uint8Array([1]), new Uint8Array([2])]).ok);
    for (let k = 0; k < 100 && applied.filter((e) => e.kind === 0).length < 2; k++) await sleep(2);
    const carrying = writes.slice(before).find((w) => w.entries > 0);
    assert.ok(carrying, 'the proposals were written');
    assert.equal(carrying.aux, aux, 'the aux writes went into the same write call as the entries');
    assert.equal(landedWith, carrying.promise, "the sink was given that write's promise");
    assert.ok(asked > askedBefore, 'the sink was asked at the write');
    assert.equal(writes.slice(before).filter((w) => w.aux !== undefined).length, 1, 'taken once, carried once');
  } finally {
    driver.stop();
  }
});
