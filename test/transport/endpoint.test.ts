/**
 * Endpoints over real MessageChannels, all in this thread: messages arrive in
 * order, one postMessage per destination per flush, a down link drops (checked
 * at send, at the end of a delay, and on receive), drop and duplicate rates
 * behave with a seeded generator, delays delay, close() cancels what is pending,
 * longDelays delivers a held message only if its link has come back, and bad
 * bytes or a throwing handler never escape the port's listener.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { MsgType, type Message } from '../../src/core/types.js';
import { encodeBatch } from '../../src/transport/codec.js';
import { Endpoint, type EndpointOptions, type ReceiveError } from '../../src/transport/endpoint.js';
import { FaultTable } from '../../src/transport/fault-table.js';
import { createMesh } from '../../src/transport/mesh.js';
import { seededRandom } from './helpers/random.js';
import { appendEntries, entries, plain, requestVote, requestVoteReply } from './helpers/messages.js';

interface Mesh {
  readonly table: FaultTable;
  readonly endpoints: Endpoint[];
  /** What each peer received, in order. */
  readonly inbox: Message[][];
  /** Date.now() at each arrival, parallel to inbox. */
  readonly arrivals: number[][];
  /** Raw ports: ports[i][j] is i's port to j. */
  readonly ports: (MessagePort | undefined)[][];
  readonly errors: unknown[];
  readonly malformed: [number, ReceiveError][];
  close(): void;
}

function mesh(n: number, seed = 1, extra: Partial<EndpointOptions> = {}): Mesh {
  const table = new FaultTable(n);
  const ports = createMesh(n);
  const inbox: Message[][] = Array.from({ length: n }, () => []);
  const arrivals: number[][] = Array.from({ length: n }, () => []);
  const errors: unknown[] = [];
  const malformed: [number, ReceiveError][] = [];
  const endpoints = Array.from(
    { length: n },
    (_, i) =>
      new Endpoint({
        self: i,
        faults: table,
        ports: ports[i]!,
        onMessage: (m) => {
          inbox[i]!.push(m);
          arrivals[i]!.push(Date.now());
        },
        random: seededRandom(seed * 1000 + i),
        onError: (e) => errors.push(e),
        onMalformed: (from, e) => malformed.push([from, e]),
        ...extra,
      }),
  );
  return {
    table,
    endpoints,
    inbox,
    arrivals,
    ports,
    errors,
    malformed,
    close: () => endpoints.forEach((e) => e.close()),
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** Lets every message already posted be delivered. */
async function settle(): Promise<void> {
  await sleep(15);
}

function votes(from: number, to: number, k: number): Message[] {
  return Array.from({ length: k }, (_, i) => requestVote(from, to, i + 1));
}

test('messages arrive in order, with their contents', async () => {
  const m = mesh(3);
  try {
    const sent = [
      requestVote(0, 1),
      appendEntries(0, 1, entries(7, 3, 64), 7),
      requestVoteReply(0, 1, false),
    ];
    m.endpoints[0]!.send(sent);
    m.endpoints[0]!.flush();
    await waitFor('delivery', () => m.inbox[1]!.length === 3);
    assert.deepEqual(m.inbox[1]!.map(plain), sent.map(plain));
    assert.equal(m.inbox[2]!.length, 0);
  } finally {
    m.close();
  }
});

test('one postMessage per destination per flush', async () => {
  const m = mesh(3);
  try {
    const a = m.endpoints[0]!;
    a.send(votes(0, 1, 10));
    a.send(votes(0, 2, 5));
    a.send([appendEntries(0, 1, entries(0, 64, 64), 0)]);
    assert.equal(a.stats().batchesPosted, 0, 'send only queues');
    a.flush();
    assert.equal(a.stats().batchesPosted, 2);
    assert.equal(a.stats().messagesPosted, 16);
    a.flush(); // nothing queued: nothing sent
    assert.equal(a.stats().batchesPosted, 2);
    await waitFor('delivery', () => m.inbox[1]!.length === 11 && m.inbox[2]!.length === 5);
    assert.equal(m.endpoints[1]!.stats().batchesReceived, 1);
    assert.equal(m.endpoints[2]!.stats().batchesReceived, 1);
    const s = m.table.stats().peers[0]!;
    assert.equal(s.requestVote, 15);
    assert.equal(s.appendEntries, 1);
    assert.equal(s.messages, 16);
  } finally {
    m.close();
  }
});

test('replies count as messages and bytes, not as RPCs', async () => {
  const m = mesh(2);
  try {
    m.endpoints[1]!.send([requestVoteReply(1, 0)]);
    m.endpoints[1]!.flush();
    await waitFor('delivery', () => m.inbox[0]!.length === 1);
    const s = m.table.stats().peers[1]!;
    assert.deepEqual([s.rpcs, s.messages, s.bytes], [0, 1, 10]);
  } finally {
    m.close();
  }
});

test('a down link drops at send time, and counts the drop', async () => {
  const m = mesh(3);
  try {
    m.table.setLink(0, 1, false);
    m.endpoints[0]!.send([...votes(0, 1, 4), ...votes(0, 2, 1)]);
    m.endpoints[0]!.flush();
    m.endpoints[1]!.send(votes(1, 0, 1)); // the other direction is up
    m.endpoints[1]!.flush();
    await waitFor('delivery', () => m.inbox[2]!.length === 1 && m.inbox[0]!.length === 1);
    await settle();
    assert.equal(m.inbox[1]!.length, 0);
    assert.equal(m.endpoints[0]!.stats().batchesPosted, 1, 'nothing posted to 1');
    const s = m.table.stats().peers[0]!;
    assert.equal(s.dropped, 4);
    assert.equal(s.requestVote, 5, 'dropped RPCs still count as sent');
  } finally {
    m.close();
  }
});

test('a link that goes down while a batch is in flight drops it on receive', async () => {
  const m = mesh(2);
  try {
    m.endpoints[0]!.send(votes(0, 1, 3));
    m.endpoints[0]!.flush(); // posted: the link was up
    m.table.disconnect(1); // before the receiver's event loop turn
    await settle();
    assert.equal(m.inbox[1]!.length, 0);
    assert.equal(m.endpoints[1]!.stats().droppedOnReceive, 3);
    assert.equal(m.table.stats().peers[0]!.dropped, 3);
    m.table.connect(1);
    m.endpoints[0]!.send(votes(0, 1, 1));
    m.endpoints[0]!.flush();
    await waitFor('delivery after connect', () => m.inbox[1]!.length === 1);
  } finally {
    m.close();
  }
});

test('drop rate: a seeded run drops about the rate, and the counter matches', async () => {
  const m = mesh(2, 7);
  try {
    m.table.setNetwork({ dropRate: 0.3 });
    const n = 4000;
    // A single AppendEntries with many entries is one message: dropped whole or not at all.
    m.endpoints[0]!.send([appendEntries(0, 1, entries(0, 50, 8), 0)]);
    for (let i = 0; i < n - 1; i++) m.endpoints[0]!.send([requestVote(0, 1, i)]);
    m.endpoints[0]!.flush();
    const dropped = m.table.stats().peers[0]!.dropped;
    await waitFor('delivery', () => m.inbox[1]!.length === n - dropped);
    // Binomial(4000, 0.3): mean 1200, sd 29. These bounds are 7 sd wide.
    assert.ok(dropped > 1000 && dropped < 1400, `dropped ${dropped}`);
    for (const msg of m.inbox[1]!) {
      if (msg.type === MsgType.AppendEntries) assert.equal(msg.entries.length, 50);
    }
    await settle();
    assert.equal(m.inbox[1]!.length, n - dropped);
  } finally {
    m.close();
  }
});

test('the same seed makes the same decisions', async () => {
  const run = async () => {
    const m = mesh(2, 99);
    try {
      m.table.setNetwork({ dropRate: 0.5 });
      m.endpoints[0]!.send(votes(0, 1, 200));
      m.endpoints[0]!.flush();
      const dropped = m.table.stats().peers[0]!.dropped;
      await waitFor('delivery', () => m.inbox[1]!.length === 200 - dropped);
      return m.inbox[1]!.map((x) => x.term);
    } finally {
      m.close();
    }
  };
  assert.deepEqual(await run(), await run());
});

test('duplicate rate 1 delivers every message twice', async () => {
  const m = mesh(2);
  try {
    m.table.setNetwork({ duplicateRate: 1 });
    m.endpoints[0]!.send(votes(0, 1, 10));
    m.endpoints[0]!.flush();
    await waitFor('delivery', () => m.inbox[1]!.length === 20);
    const terms = m.inbox[1]!.map((x) => x.term).sort((a, b) => a - b);
    assert.deepEqual(terms, [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10]);
    assert.equal(m.table.stats().peers[0]!.duplicated, 10);
    assert.equal(m.table.stats().peers[0]!.messages, 10, 'copies are not sends');
  } finally {
    m.close();
  }
});

test('a delay delays delivery', async () => {
  const m = mesh(2);
  try {
    m.table.setNetwork({ delayMs: [40, 40] });
    const t0 = Date.now();
    m.endpoints[0]!.send(votes(0, 1, 5));
    m.endpoints[0]!.flush();
    assert.equal(m.endpoints[0]!.stats().pendingTimers, 1, 'same delay: one batch');
    await sleep(10);
    assert.equal(m.inbox[1]!.length, 0);
    await waitFor('delayed delivery', () => m.inbox[1]!.length === 5);
    assert.ok(Date.now() - t0 >= 35, `arrived after ${Date.now() - t0} ms`);
    assert.equal(m.table.stats().peers[0]!.delayed, 5);
    assert.equal(m.endpoints[0]!.stats().pendingTimers, 0);
  } finally {
    m.close();
  }
});

test('random short delays reorder messages but lose none', async () => {
  const m = mesh(2, 3);
  try {
    m.table.setNetwork({ delayMs: [0, 20] });
    m.endpoints[0]!.send(votes(0, 1, 100));
    m.endpoints[0]!.flush();
    await waitFor('delivery', () => m.inbox[1]!.length === 100);
    const terms = m.inbox[1]!.map((x) => x.term);
    assert.notDeepEqual(terms, [...terms].sort((a, b) => a - b), 'some reordering');
    assert.deepEqual([...terms].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i + 1));
  } finally {
    m.close();
  }
});

test('a link that goes down during a delay loses the delayed message', async () => {
  const m = mesh(2);
  try {
    m.table.setNetwork({ delayMs: [30, 30] });
    m.endpoints[0]!.send(votes(0, 1, 2));
    m.endpoints[0]!.flush();
    m.table.setLink(0, 1, false);
    await sleep(60);
    assert.equal(m.inbox[1]!.length, 0);
    assert.equal(m.table.stats().peers[0]!.dropped, 2);
    assert.equal(m.endpoints[0]!.stats().batchesPosted, 0);
  } finally {
    m.close();
  }
});

test('close() cancels delayed sends', async () => {
  const m = mesh(2);
  try {
    m.table.setNetwork({ delayMs: [30, 30] });
    m.endpoints[0]!.send(votes(0, 1, 3));
    m.endpoints[0]!.flush();
    m.endpoints[0]!.send(votes(0, 1, 1)); // queued, never flushed
    assert.equal(m.endpoints[0]!.stats().pendingTimers, 1);
    m.endpoints[0]!.close();
    assert.equal(m.endpoints[0]!.stats().pendingTimers, 0);
    m.endpoints[0]!.send(votes(0, 1, 1)); // ignored after close
    m.endpoints[0]!.flush();
    await sleep(60);
    assert.equal(m.inbox[1]!.length, 0);
    assert.equal(m.endpoints[0]!.stats().batchesPosted, 0);
  } finally {
    m.close();
  }
});

test('the other side of a closed endpoint drops what it sends to it', async () => {
  const m = mesh(2);
  try {
    m.endpoints[1]!.close();
    await settle(); // the 'close' event reaches peer 0's port
    m.endpoints[0]!.send(votes(0, 1, 2));
    m.endpoints[0]!.flush();
    assert.equal(m.endpoints[0]!.stats().batchesPosted, 0);
    assert.equal(m.table.stats().peers[0]!.dropped, 2);
  } finally {
    m.close();
  }
});

test('longReordering holds some messages for a long time', async () => {
  const m = mesh(2, 5);
  try {
    m.table.setNetwork({ longReordering: true, longReorderingRate: 0.5, longReorderingMs: [60, 80] });
    const t0 = Date.now();
    const a = m.endpoints[0]!;
    a.send(votes(0, 1, 40));
    a.flush();
    const delayed = m.table.stats().peers[0]!.delayed;
    // Binomial(40, 0.5) with a fixed seed; wide bounds all the same.
    assert.ok(delayed > 5 && delayed < 35, `${delayed} delayed`);
    assert.equal(a.stats().messagesPosted, 40 - delayed, 'the rest went at once');
    await waitFor('all', () => m.inbox[1]!.length === 40);
    // The last `delayed` arrivals are the held ones: none came before its 60 ms.
    for (const t of m.arrivals[1]!.slice(40 - delayed)) assert.ok(t - t0 >= 55, `arrived after ${t - t0} ms`);
  } finally {
    m.close();
  }
});

test('longDelays: held messages arrive if the link comes back, else are dropped', async () => {
  const m = mesh(3, 11);
  try {
    m.table.setNetwork({ longDelays: true, longDelayMaxMs: 40 });
    m.table.disconnect(1);
    m.table.disconnect(2);
    m.endpoints[0]!.send([...votes(0, 1, 10), ...votes(0, 2, 10)]);
    m.endpoints[0]!.flush();
    assert.equal(m.table.stats().peers[0]!.held, 20);
    m.table.connect(1); // 1 comes back before any hold ends; 2 does not
    await waitFor('held delivery', () => m.inbox[1]!.length === 10);
    await sleep(60);
    assert.equal(m.inbox[2]!.length, 0);
    assert.equal(m.table.stats().peers[0]!.dropped, 10);
    assert.equal(m.endpoints[0]!.stats().pendingTimers, 0);

    m.table.setNetwork({ longDelays: false });
    m.endpoints[0]!.send(votes(0, 2, 3));
    m.endpoints[0]!.flush();
    assert.equal(m.table.stats().peers[0]!.dropped, 13, 'without longDelays: dropped at once');
  } finally {
    m.close();
  }
});

test('longDelays holds at most maxHeldPerPeer messages per destination', () => {
  const m = mesh(2, 1, { maxHeldPerPeer: 5 });
  try {
    m.table.setNetwork({ longDelays: true, longDelayMaxMs: 1000 });
    m.table.disconnect(1);
    m.endpoints[0]!.send(votes(0, 1, 8));
    m.endpoints[0]!.flush();
    const s = m.table.stats().peers[0]!;
    assert.deepEqual([s.held, s.dropped], [5, 3]);
  } finally {
    m.close();
    assert.equal(m.endpoints[0]!.stats().pendingTimers, 0);
  }
});

test('malformed input is counted and reported, never thrown', async () => {
  const m = mesh(3);
  try {
    const raw = m.ports[0]![1]!; // peer 0's port to peer 1, used behind its endpoint's back
    raw.postMessage('not bytes');
    raw.postMessage(new Uint8Array([99, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0]));
    raw.postMessage(encodeBatch(votes(2, 1, 1))); // claims to come from 2
    raw.postMessage(encodeBatch(votes(0, 1, 1))); // fine
    await waitFor('the good one', () => m.inbox[1]!.length === 1);
    assert.deepEqual(
      m.malformed.map(([from, e]) => [from, e.code]),
      [
        [0, 'not-bytes'],
        [0, 'bad-version'],
        [0, 'wrong-route'],
      ],
    );
    assert.equal(m.endpoints[1]!.stats().malformed, 3);
    assert.equal(m.table.stats().peers[1]!.malformed, 3);
  } finally {
    m.close();
  }
});

test('a throwing handler goes to onError and the rest of the batch still arrives', async () => {
  const errors: unknown[] = [];
  const got: number[] = [];
  const ch = new MessageChannel();
  const table = new FaultTable(2);
  const a = new Endpoint({ self: 0, faults: table, ports: [undefined, ch.port1], onMessage: () => {} });
  const b = new Endpoint({
    self: 1,
    faults: table,
    ports: new Map([[0, ch.port2]]),
    onMessage: (msg) => {
      got.push(msg.term);
      if (msg.term === 2) throw new Error('handler bug');
    },
    onError: (e) => errors.push(e),
  });
  try {
    a.send(votes(0, 1, 3));
    a.flush();
    await waitFor('delivery', () => got.length === 3);
    assert.deepEqual(got, [1, 2, 3]);
    assert.equal(errors.length, 1);
  } finally {
    a.close();
    b.close();
  }
});

test('attach replaces a port, as after a peer restarts', async () => {
  const m = mesh(2);
  try {
    m.endpoints[1]!.close(); // peer 1 "crashed"
    const ch = new MessageChannel();
    const got: Message[] = [];
    const reborn = new Endpoint({ self: 1, faults: m.table, ports: [ch.port2], onMessage: (x) => got.push(x) });
    m.endpoints[0]!.attach(1, ch.port1);
    m.endpoints[0]!.send(votes(0, 1, 2));
    m.endpoints[0]!.flush();
    await waitFor('delivery to the new incarnation', () => got.length === 2);
    reborn.close();
  } finally {
    m.close();
  }
});

test('send rejects messages that are not from this peer to another', () => {
  const m = mesh(2);
  try {
    assert.throws(() => m.endpoints[0]!.send([requestVote(1, 0)]), RangeError);
    assert.throws(() => m.endpoints[0]!.send([requestVote(0, 0)]), RangeError);
    assert.throws(() => m.endpoints[0]!.send([requestVote(0, 2)]), RangeError);
    assert.throws(() => new Endpoint({ self: 2, faults: m.table, onMessage: () => {} }), RangeError);
  } finally {
    m.close();
  }
});
