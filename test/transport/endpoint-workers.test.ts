/**
 * Endpoints in real worker threads, wired by createMesh, sharing one fault
 * table: requests and replies cross threads, a disconnect made on the main
 * thread silences a worker at once, and after a worker is terminated (a crash)
 * rewire() connects its replacement.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker, type MessagePort } from 'node:worker_threads';
import { MsgType, type Message } from '../../src/core/types.js';
import { Endpoint } from '../../src/transport/endpoint.js';
import { FaultTable } from '../../src/transport/fault-table.js';
import { createMesh, rewire } from '../../src/transport/mesh.js';
import { requestVote } from './helpers/messages.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

async function spawn(self: number, buffer: SharedArrayBuffer, ports: (MessagePort | undefined)[]): Promise<Worker> {
  const transfer = ports.filter((p): p is MessagePort => p !== undefined);
  const w = new Worker(new URL('./helpers/echo-worker.js', import.meta.url), {
    workerData: { self, buffer, ports },
    transferList: transfer,
  });
  await new Promise<void>((resolve, reject) => {
    w.once('message', () => resolve());
    w.once('error', reject);
  });
  return w;
}

test('requests and replies cross worker threads; disconnect and restart work', async () => {
  const peers = 3;
  const table = new FaultTable(peers);
  const mesh = createMesh(peers);
  const got: Message[] = [];
  // Peer 0 lives in this thread; peers 1 and 2 are workers.
  const ep = new Endpoint({ self: 0, faults: table, ports: mesh[0]!, onMessage: (m) => got.push(m) });
  const workers = [undefined, await spawn(1, table.buffer, mesh[1]!), await spawn(2, table.buffer, mesh[2]!)];
  try {
    ep.send([requestVote(0, 1, 7), requestVote(0, 2, 7)]);
    ep.flush();
    await waitFor('two votes', () => got.length === 2);
    assert.deepEqual(got.map((m) => [m.type, m.from, m.term]).sort(), [
      [MsgType.RequestVoteReply, 1, 7],
      [MsgType.RequestVoteReply, 2, 7],
    ]);
    let s = table.stats();
    assert.deepEqual([s.peers[0]!.rpcs, s.peers[1]!.messages, s.peers[2]!.messages, s.total.rpcs], [2, 1, 1, 2]);

    // A disconnect on this thread is seen by the workers' endpoints at once.
    table.disconnect(2);
    got.length = 0;
    ep.send([requestVote(0, 1, 8), requestVote(0, 2, 8)]);
    ep.flush();
    await waitFor('one vote', () => got.length === 1);
    await sleep(30);
    assert.deepEqual(got.map((m) => m.from), [1]);
    table.connect(2);

    // Crash peer 2, restart it on fresh channels.
    await workers[2]!.terminate();
    const fresh = rewire(2, peers);
    ep.attach(2, fresh.forOthers[0]!);
    // Peer 1 would get fresh.forOthers[1] through its control plane; this test leaves it unused.
    fresh.forOthers[1]!.close();
    workers[2] = await spawn(2, table.buffer, fresh.forPeer);
    got.length = 0;
    ep.send([requestVote(0, 2, 9)]);
    ep.flush();
    await waitFor('vote from the restarted peer', () => got.length === 1);
    assert.equal(got[0]!.term, 9);
    s = table.stats();
    assert.equal(s.peers[2]!.messages, 2, 'the counters outlive the crash');
  } finally {
    ep.close();
    await Promise.all(workers.map((w) => w?.terminate()));
  }
});
