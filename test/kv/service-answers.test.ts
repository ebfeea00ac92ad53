/**
 * The leader's KV service answers a write when its entry applies: with the state machine's
 * result if the entry at that index is the one it proposed (same term), with Retry if another
 * term's entry took the index. Run against a fake ServiceContext on the memory store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import type { Entry } from '../../src/core/types.js';
import { Op, Reader, Req, Res, Result, Writer, encodeValue, encodeWrite, frame, splitFrames } from '../../src/kv/codec.js';
import { KvService } from '../../src/kv/service.js';
import { fakeLeaderContext } from './fake-context.js';

interface Harness {
  readonly service: KvService;
  readonly proposed: Uint8Array[];
  /** Sends one batch of client frames; resolves with the replies (kind, reqId, result). */
  send(frames: ((w: Writer) => void)[], replies: number): Promise<Array<[number, number, number]>>;
  close(): Promise<void>;
}

async function harness(): Promise<Harness> {
  const proposed: Uint8Array[] = [];
  const ctx = fakeLeaderContext({
    proposeBatch: (cmds) => {
      const index = proposed.length + 1;
      proposed.push(...cmds.map((c) => c.slice()));
      return { ok: true, index, term: 1 };
    },
  });
  const service = new KvService();
  await service.open(ctx);
  const { port1, port2 } = new MessageChannel();
  service.connect(port2);
  let want = 0;
  let got: Array<[number, number, number]> = [];
  let wake: (() => void) | null = null;
  port1.on('message', (data: Uint8Array) => {
    for (const f of splitFrames(data)) {
      const r = new Reader(f);
      const kind = r.u8();
      const reqId = r.uint();
      got.push([kind, reqId, kind === Res.Write ? r.u8() : -1]);
    }
    if (got.length >= want) wake?.();
  });
  return {
    service,
    proposed,
    async send(frames, replies) {
      want = replies;
      got = [];
      const done = new Promise<void>((resolve) => (wake = resolve));
      if (frames.length > 0) {
        const w = new Writer();
        for (const body of frames) frame(w, body);
        port1.postMessage(w.finish());
      }
      if (replies > 0) await done;
      return got;
    },
    async close() {
      port1.close();
      await service.close();
    },
  };
}

const put = (reqId: number, key: string, value: string) => (w: Writer) => {
  w.u8(Req.Write).uint(reqId);
  encodeWrite(w, 7, reqId, 1, { op: Op.Put, key, value: encodeValue(value) });
};

async function proposedCount(h: Harness, n: number): Promise<void> {
  for (let k = 0; k < 200 && h.proposed.length < n; k++) await new Promise((r) => setTimeout(r, 1));
  assert.equal(h.proposed.length, n, 'the batch was proposed');
}

const entryOf = (index: number, term: number, data: Uint8Array): Entry => ({ index, term, kind: 0, data });

test('a write is answered with its result when the entry it proposed applies, and told to retry when another term took its index', { timeout: 10_000 }, async () => {
  const h = await harness();
  try {
    // Nothing applies yet: the batch is proposed (a CLOCK entry first, then the two puts).
    assert.deepEqual(await h.send([put(1, 'a', 'x'), put(2, 'b', 'y')], 0), []);
    await proposedCount(h, 3);
    const replies = h.send([], 2);
    // Index 2 holds our put in our term; index 3 was taken by another leader's entry (term 2).
    h.service.apply([entryOf(1, 1, h.proposed[0]!), entryOf(2, 1, h.proposed[1]!), entryOf(3, 2, h.proposed[2]!)]);
    assert.deepEqual(await replies, [
      [Res.Write, 1, Result.Ok],
      [Res.Retry, 2, -1],
    ]);
  } finally {
    await h.close();
  }
});

test('a write whose index is taken by an entry with no write in it (a no-op) is told to retry', { timeout: 10_000 }, async () => {
  const h = await harness();
  try {
    await h.send([put(5, 'k', 'v')], 0);
    await proposedCount(h, 2);
    const replies = h.send([], 1);
    h.service.apply([entryOf(1, 1, h.proposed[0]!), { index: 2, term: 1, kind: 1, data: new Uint8Array(0) }]);
    assert.deepEqual(await replies, [[Res.Retry, 5, -1]]);
  } finally {
    await h.close();
  }
});
