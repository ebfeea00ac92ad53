/**
 * The leader's KV service starts the ReadIndex round of a batch's linearizable reads before it
 * decodes the batch, and sends it at once, so the round trip to the followers overlaps the
 * decoding; the batch's writes, once proposed, are sent at once as well. Run against a fake ServiceContext on the memory store: no workers, no Raft.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import type { ServiceContext } from '../../src/peer/service.js';
import { Consistency, Op, Reader, Req, Res, Writer, encodeValue, encodeWrite, frame, isLinearizableRead, splitFrames, type ConsistencyCode } from '../../src/kv/codec.js';
import { KvService } from '../../src/kv/service.js';
import { fakeLeaderContext } from './fake-context.js';

function fakeContext(events: string[]): ServiceContext {
  return fakeLeaderContext({
    proposeBatch: (cmds) => {
      events.push(`proposeBatch ${cmds.length}`);
      return { ok: true, index: 1, term: 1 };
    },
    readIndex: () => {
      events.push('readIndex');
      return Promise.resolve(0);
    },
    flush: () => void events.push('flush'),
  });
}

const get = (reqId: number, key: string, consistency: ConsistencyCode) => (w: Writer) => w.u8(Req.Get).uint(reqId).u8(consistency).str(key);
const put = (reqId: number, key: string) => (w: Writer) => {
  w.u8(Req.Write).uint(reqId);
  encodeWrite(w, 7, reqId, 1, { op: Op.Put, key, value: encodeValue('v') });
};

async function exchange(events: string[], frames: ((w: Writer) => void)[], replies: number): Promise<number[]> {
  const service = new KvService();
  await service.open(fakeContext(events));
  const { port1, port2 } = new MessageChannel();
  service.connect(port2);
  const got: number[] = [];
  const done = new Promise<void>((resolve) => {
    port1.on('message', (data: Uint8Array) => {
      for (const f of splitFrames(data)) {
        const r = new Reader(f);
        got.push(r.u8());
        if (got.length >= replies) resolve();
      }
    });
  });
  const w = new Writer();
  for (const body of frames) frame(w, body);
  port1.postMessage(w.finish());
  if (replies > 0) await done;
  else await new Promise((r) => setTimeout(r, 20));
  port1.close();
  await service.close();
  return got;
}

test("a batch's linearizable reads start their round before its writes are proposed, and share it", async () => {
  const events: string[] = [];
  const got = await exchange(events, [put(1, 'a'), get(2, 'a', Consistency.Linearizable), get(3, 'b', Consistency.Linearizable)], 2);
  // (the first batch a leader proposes also carries a CLOCK entry: 2 commands)
  // The proposal is sent at once too (its flush), not at the driver's immediate.
  assert.deepEqual(events, ['readIndex', 'flush', 'proposeBatch 2', 'flush'], 'one round, sent at once, before the write is even proposed');
  assert.deepEqual(got, [Res.Get, Res.Get], 'both reads answered by that round');
});

test('a batch with no linearizable read starts no round', async () => {
  const events: string[] = [];
  await exchange(events, [put(1, 'a'), get(2, 'a', Consistency.Stale)], 1);
  assert.deepEqual(events, ['proposeBatch 2', 'flush'], 'no round; the proposal is sent at once');
});

test('a linearizable read is told apart from other requests by its first bytes', () => {
  const one = (body: (w: Writer) => void): Uint8Array => {
    const w = new Writer();
    body(w);
    return w.finish();
  };
  assert.equal(isLinearizableRead(one(get(300, 'k', Consistency.Linearizable))), true, 'a two-byte request id');
  assert.equal(isLinearizableRead(one(get(1, 'k', Consistency.Lease))), false);
  assert.equal(isLinearizableRead(one(get(1, 'k', Consistency.Stale))), false);
  assert.equal(isLinearizableRead(one((w) => w.u8(Req.Scan).uint(5).u8(Consistency.Linearizable).str('p'))), true);
  assert.equal(isLinearizableRead(one(put(1, 'k'))), false);
  assert.equal(isLinearizableRead(new Uint8Array([Req.Get, 0x80])), false, 'truncated: not a read (handle() answers it)');
  assert.equal(isLinearizableRead(new Uint8Array(0)), false);
});
