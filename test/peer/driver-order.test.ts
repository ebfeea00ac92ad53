/**
 * Within one Ready the driver does what the commit path waits on first: it posts the requests,
 * then starts this peer's durable write, and only then applies committed entries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftCore } from '../../src/core/raft.js';
import { createRng } from '../../src/core/rng.js';
import { ackAll, drainAll, elect, makeCore } from '../core/core-helpers.js';
import { MsgType, type Entry, type Message } from '../../src/core/types.js';
import { PeerDriver } from '../../src/peer/driver.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function harness(core: RaftCore): { driver: PeerDriver; events: string[]; sent: Message[]; release: () => void } {
  const events: string[] = [];
  const sent: Message[] = [];
  let held: (() => void)[] = [];
  const driver = new PeerDriver({
    core,
    store: {
      write: (batch) => {
        events.push(`write ${batch.entries.map((e) => e.index).join(',')}`);
        // As lmdb's event-turn batching does: the transaction closes at an immediate queued
        // when the write is issued.
        setImmediate(() => events.push('transaction closes'));
        return new Promise<void>((resolve) => held.push(resolve));
      },
      compact: () => Promise.resolve(),
    },
    wire: {
      send: (msgs) => void sent.push(...msgs),
      flush: () => void events.push('post'),
    },
    sink: {
      entries: (es: readonly Entry[]) => void events.push(`apply ${es.map((e) => e.index).join(',')}`),
      snapshot: (snap) => void events.push(`snapshot ${snap.index}`),
    },
    tickMs: 1000, // no tick fires during a test: only the messages drive the core
    snapshot: null,
    onFatal: (err) => {
      throw err;
    },
  });
  const release = (): void => {
    const h = held;
    held = [];
    for (const r of h) r();
  };
  return { driver, events, sent, release };
}

/** The events of storage and the sink alone (not the posts). */
const storageAndApply = (events: readonly string[]): string[] => events.filter((e) => e !== 'post');

const entry = (index: number, term: number): Entry => ({ index, term, kind: 0, data: new Uint8Array([index]) });

/** An AppendEntries from leader 0 in term 1 to follower 1. */
const append = (prev: number, es: Entry[], commit: number): Message => ({
  type: MsgType.AppendEntries, term: 1, from: 0, to: 1, prevLogIndex: prev, prevLogTerm: prev === 0 ? 0 : 1, entries: es, leaderCommit: commit, round: 1,
});

type Harness = ReturnType<typeof harness>;

/** Runs `body` on a started driver around follower 1 of 3, and stops the driver after. */
async function onFollower(body: (h: Harness) => Promise<void>): Promise<void> {
  const core = new RaftCore({ id: 1, peers: 3, electionTicks: 10, maxElectionTicks: 20, heartbeatTicks: 2, rng: createRng(5) });
  const h = harness(core);
  h.driver.start();
  try {
    await body(h);
  } finally {
    h.driver.stop();
  }
}

/**
 * Entries 1 and 2 written and durable on the follower, events cleared; then entries 3 and 4
 * arrive with the news that 1 and 2 are committed, and the follower handles them.
 */
async function newEntriesWithCommitNews(h: Harness): Promise<void> {
  h.driver.receive(append(0, [entry(1, 1), entry(2, 1)], 0));
  await sleep(5);
  h.release();
  await sleep(5);
  h.events.length = 0;
  h.driver.receive(append(2, [entry(3, 1), entry(4, 1)], 2));
  await sleep(5);
}

test("a follower starts writing new entries before it applies the committed ones that came with them", () =>
  onFollower(async (h) => {
    const { events, release } = h;
    await newEntriesWithCommitNews(h);
    const write = events.indexOf('write 3,4');
    const apply = events.indexOf('apply 1,2');
    assert.ok(write >= 0, `the new entries were written: ${events.join(' | ')}`);
    assert.ok(apply >= 0, `the committed entries were applied: ${events.join(' | ')}`);
    assert.ok(write < apply, `write before apply: ${events.join(' | ')}`);
    release();
  }));

test("a follower applies the committed entries that came with new ones only after its write's transaction closes", () =>
  onFollower(async (h) => {
    const { driver, events, release } = h;
    await newEntriesWithCommitNews(h);
    assert.deepEqual(storageAndApply(events), ['write 3,4', 'transaction closes', 'apply 1,2'], 'the apply waits for the commit to start');
    release();
    await sleep(5);
    // A Ready that writes nothing applies at once, but never ahead of entries still held.
    events.length = 0;
    driver.receive(append(4, [], 4));
    await sleep(5);
    assert.deepEqual(storageAndApply(events), ['apply 3,4']);
  }));

test('entries held for the transaction are applied in log order, before a later Ready that writes nothing', () =>
  onFollower(async (h) => {
    const { driver, events, release } = h;
    driver.receive(append(0, [entry(1, 1), entry(2, 1), entry(3, 1)], 1));
    driver.flushNow();
    assert.deepEqual(storageAndApply(events), ['write 1,2,3'], 'entry 1 is held: its Ready wrote');
    // The next Ready only commits more (no write), in the same turn: it queues behind entry 1.
    driver.receive(append(3, [], 3));
    driver.flushNow();
    assert.deepEqual(storageAndApply(events), ['write 1,2,3'], 'entries 2 and 3 wait behind entry 1');
    release();
    await sleep(5);
    assert.deepEqual(storageAndApply(events), ['write 1,2,3', 'transaction closes', 'apply 1', 'apply 2,3']);
  }));

test('entries held for the transaction are applied before a snapshot that follows them', () =>
  onFollower(async (h) => {
    const { driver, events, release } = h;
    driver.receive(append(0, [entry(1, 1), entry(2, 1)], 1));
    driver.flushNow();
    driver.receive({ type: MsgType.InstallSnapshot, term: 1, from: 0, to: 1, lastIncludedIndex: 10, lastIncludedTerm: 1, offset: 0, total: 1, data: new Uint8Array([9]) });
    driver.flushNow();
    const order = storageAndApply(events).filter((e) => !e.startsWith('transaction'));
    assert.deepEqual(order.slice(0, 3), ['write 1,2', 'apply 1', 'snapshot 10'], 'the sink sees the log in order');
    release();
    await sleep(5);
  }));

test('a leader posts its AppendEntries before it starts its own write of the same entries', async () => {
  const core = makeCore({ id: 0, peers: 3 });
  elect(core, [1, 2]);
  ackAll(core, [1, 2]);
  drainAll(core);
  const { driver, events, sent, release } = harness(core);
  driver.start();
  try {
    assert.ok(driver.proposeBatch([new Uint8Array([7]), new Uint8Array([8])]).ok);
    await sleep(5);
    const write = events.findIndex((e) => /^write \d/.test(e));
    const post = events.indexOf('post');
    assert.ok(write >= 0, `the proposals were written: ${events.join(' | ')}`);
    assert.ok(sent.some((m) => m.type === MsgType.AppendEntries && m.entries.length > 0), 'AppendEntries with the proposals were sent');
    assert.ok(post >= 0 && post < write, `posted before the write: ${events.join(' | ')}`);
    release();
  } finally {
    driver.stop();
  }
});

test("flushNow sends a read round's heartbeats before the caller's turn ends", () => {
  const core = makeCore({ id: 0, peers: 3 });
  elect(core, [1, 2]);
  ackAll(core, [1, 2]);
  drainAll(core);
  const { driver, events, sent } = harness(core);
  driver.start();
  try {
    void driver.readIndex().catch(() => undefined);
    assert.equal(sent.length, 0, 'nothing sent until the turn ends');
    driver.flushNow();
    assert.ok(events.includes('post'), 'posted at once');
    assert.equal(sent.filter((m) => m.type === MsgType.AppendEntries).length, 2, 'a round to both followers');
    const before = events.length;
    driver.flushNow();
    assert.equal(events.length, before, 'nothing pending: nothing done');
  } finally {
    driver.stop();
  }
});
