// Small hand-written histories for the kv and register models, malformed input, long histories,
// and a randomized comparison against a brute-force checker.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type Event,
  type KvInput,
  type KvOperation,
  type KvOutput,
  type Model,
  type Operation,
  type RegisterInput,
  type RegisterOperation,
  type RegisterOutput,
  HistoryError,
  checkEvents,
  checkOperations,
  eventsToOperations,
  kvModel,
  registerModel,
} from '../../src/check/index.js';

// Builders: op(client, input, call, output, return).
function kvop(clientId: number, input: KvInput, call: number, output: KvOutput, ret: number): KvOperation {
  return { clientId, input, call, output, return: ret };
}
const get = (key: string) => ({ op: 'get', key }) as const;
const put = (key: string, value: string) => ({ op: 'put', key, value }) as const;
const append = (key: string, value: string) => ({ op: 'append', key, value }) as const;
const del = (key: string) => ({ op: 'delete', key }) as const;
const cas = (key: string, expected: string | null, value: string) => ({ op: 'cas', key, expected, value }) as const;

function reg(clientId: number, input: RegisterInput, call: number, output: RegisterOutput, ret: number): RegisterOperation {
  return { clientId, input, call, output, return: ret };
}

describe('kv model: get/put/append (6.824 semantics)', () => {
  test('a get of a missing key returns the empty string', () => {
    assert.equal(checkOperations(kvModel, [kvop(0, get('a'), 0, { value: '' }, 1)]).result, 'ok');
    assert.equal(checkOperations(kvModel, [kvop(0, get('a'), 0, { value: 'x' }, 1)]).result, 'illegal');
  });

  test('a stale read after a write completed is illegal', () => {
    const h = [
      kvop(0, put('k', 'old'), 0, {}, 10),
      kvop(0, put('k', 'new'), 20, {}, 30),
      // Starts after the second put returned, yet reads the first value.
      kvop(1, get('k'), 40, { value: 'old' }, 50),
    ];
    const r = checkOperations(kvModel, h);
    assert.equal(r.result, 'illegal');
    const why = r.illegal;
    assert.ok(why !== undefined);
    assert.equal(why.label, 'key "k"');
    assert.equal(why.longestPrefix.length, 2);
    assert.equal(why.stateAfterPrefix, '"new"');
    assert.deepEqual(why.rejected, ['get("k") -> "old" [client 1, 40..50]']);
  });

  test('a read overlapping a write may see either value', () => {
    for (const seen of ['old', 'new']) {
      const h = [
        kvop(0, put('k', 'old'), 0, {}, 10),
        kvop(0, put('k', 'new'), 20, {}, 40),
        kvop(1, get('k'), 30, { value: seen }, 50),
      ];
      assert.equal(checkOperations(kvModel, h).result, 'ok', `read ${seen}`);
    }
  });

  test('concurrent appends may land in either order, but only one order per history', () => {
    for (const seen of ['ab', 'ba']) {
      const h = [
        kvop(0, append('k', 'a'), 0, {}, 10),
        kvop(1, append('k', 'b'), 5, {}, 15),
        kvop(2, get('k'), 20, { value: seen }, 30),
      ];
      assert.equal(checkOperations(kvModel, h).result, 'ok', `read ${seen}`);
    }
    const both = [
      kvop(0, append('k', 'a'), 0, {}, 10),
      kvop(1, append('k', 'b'), 5, {}, 15),
      kvop(2, get('k'), 20, { value: 'ab' }, 30),
      kvop(3, get('k'), 20, { value: 'ba' }, 30),
    ];
    assert.equal(checkOperations(kvModel, both).result, 'illegal');
    const lost = [
      kvop(0, append('k', 'a'), 0, {}, 10),
      kvop(1, append('k', 'b'), 5, {}, 15),
      kvop(2, get('k'), 20, { value: 'a' }, 30),
    ];
    assert.equal(checkOperations(kvModel, lost).result, 'illegal');
  });

  test('operations touching at one instant count as concurrent', () => {
    // put returns at 10, get is called at 10: either order is allowed.
    const h = [kvop(0, put('k', 'v'), 0, {}, 10), kvop(1, get('k'), 10, { value: '' }, 20)];
    assert.equal(checkOperations(kvModel, h).result, 'ok');
    const later = [kvop(0, put('k', 'v'), 0, {}, 10), kvop(1, get('k'), 11, { value: '' }, 20)];
    assert.equal(checkOperations(kvModel, later).result, 'illegal');
  });

  test('keys are independent partitions, each reported', () => {
    const h = [
      kvop(0, put('a', '1'), 0, {}, 10),
      kvop(1, put('b', '2'), 0, {}, 10),
      kvop(0, get('a'), 20, { value: '1' }, 30),
      kvop(1, get('b'), 20, { value: '1' }, 30), // wrong key's value
    ];
    const r = checkOperations(kvModel, h, { stopOnIllegal: false });
    assert.equal(r.result, 'illegal');
    assert.deepEqual(
      r.partitions.map((p) => [p.label, p.result, p.operations]),
      [
        ['key "a"', 'ok', 2],
        ['key "b"', 'illegal', 2],
      ],
    );
    assert.equal(r.illegal?.partition, 1);
  });
});

describe('kv model: cas and delete', () => {
  test('cas swaps only on a match, and must report what happened', () => {
    const ok = [
      kvop(0, put('k', 'x'), 0, {}, 1),
      kvop(0, cas('k', 'x', 'y'), 2, { ok: true }, 3),
      kvop(0, cas('k', 'x', 'z'), 4, { ok: false }, 5),
      kvop(0, get('k'), 6, { value: 'y' }, 7),
    ];
    assert.equal(checkOperations(kvModel, ok).result, 'ok');
    const lied = [kvop(0, put('k', 'x'), 0, {}, 1), kvop(0, cas('k', 'q', 'y'), 2, { ok: true }, 3)];
    assert.equal(checkOperations(kvModel, lied).result, 'illegal');
    const missed = [kvop(0, put('k', 'x'), 0, {}, 1), kvop(0, cas('k', 'x', 'y'), 2, { ok: false }, 3)];
    assert.equal(checkOperations(kvModel, missed).result, 'illegal');
  });

  test('two concurrent cas from the same value cannot both win', () => {
    const base = [kvop(0, put('k', 'x'), 0, {}, 1)];
    const both = [...base, kvop(1, cas('k', 'x', 'y'), 2, { ok: true }, 10), kvop(2, cas('k', 'x', 'z'), 3, { ok: true }, 9)];
    assert.equal(checkOperations(kvModel, both).result, 'illegal');
    const one = [...base, kvop(1, cas('k', 'x', 'y'), 2, { ok: false }, 10), kvop(2, cas('k', 'x', 'z'), 3, { ok: true }, 9)];
    assert.equal(checkOperations(kvModel, one).result, 'ok');
  });

  test('cas against an absent key: nil expects absence, "" matches it too', () => {
    assert.equal(checkOperations(kvModel, [kvop(0, cas('k', null, 'v'), 0, { ok: true }, 1)]).result, 'ok');
    assert.equal(checkOperations(kvModel, [kvop(0, cas('k', '', 'v'), 0, { ok: true }, 1)]).result, 'ok');
    const present = [kvop(0, put('k', ''), 0, {}, 1), kvop(0, cas('k', null, 'v'), 2, { ok: true }, 3)];
    assert.equal(checkOperations(kvModel, present).result, 'illegal');
  });

  test('delete makes the key absent again', () => {
    const h = [
      kvop(0, put('k', 'v'), 0, {}, 1),
      kvop(0, del('k'), 2, { existed: true }, 3),
      kvop(0, get('k'), 4, { value: '' }, 5),
      kvop(0, cas('k', null, 'w'), 6, { ok: true }, 7),
      kvop(0, del('k'), 8, {}, 9), // existence not reported: anything goes
      kvop(0, del('k'), 10, { existed: false }, 11),
    ];
    assert.equal(checkOperations(kvModel, h).result, 'ok');
    const wrong = [kvop(0, del('k'), 0, { existed: true }, 1)];
    assert.equal(checkOperations(kvModel, wrong).result, 'illegal');
    const resurrected = [kvop(0, put('k', 'v'), 0, {}, 1), kvop(0, del('k'), 2, {}, 3), kvop(0, get('k'), 4, { value: 'v' }, 5)];
    assert.equal(checkOperations(kvModel, resurrected).result, 'illegal');
  });

  test('an operation with an unknown outcome may or may not have happened', () => {
    // A put that timed out (return Infinity): later reads may see it, or not, but not both ways
    // in the wrong order.
    const lost = kvop(0, put('k', 'v'), 0, { unknown: true }, Infinity);
    assert.equal(checkOperations(kvModel, [lost, kvop(1, get('k'), 5, { value: 'v' }, 6)]).result, 'ok');
    assert.equal(checkOperations(kvModel, [lost, kvop(1, get('k'), 5, { value: '' }, 6)]).result, 'ok');
    const flicker = [lost, kvop(1, get('k'), 5, { value: 'v' }, 6), kvop(1, get('k'), 7, { value: '' }, 8)];
    assert.equal(checkOperations(kvModel, flicker).result, 'illegal');
    // It cannot take effect before it was called.
    const early = [kvop(1, get('k'), 0, { value: 'v' }, 1), kvop(0, put('k', 'v'), 5, { unknown: true }, Infinity)];
    assert.equal(checkOperations(kvModel, early).result, 'illegal');
  });

  test('the hash keeps absent, empty and NUL-prefixed values apart', () => {
    const h = [
      kvop(0, put('k', '\u0000absent'), 0, {}, 1),
      kvop(0, cas('k', null, 'x'), 2, { ok: false }, 3),
      kvop(0, append('k', ''), 4, {}, 5),
      kvop(0, get('k'), 6, { value: '\u0000absent' }, 7),
    ];
    assert.equal(checkOperations(kvModel, h).result, 'ok');
  });
});

describe('register model', () => {
  test('a read of nil is legal only before any write', () => {
    const h = [reg(0, { op: 'read' }, 0, { value: null }, 1), reg(0, { op: 'write', value: 1 }, 2, {}, 3)];
    assert.equal(checkOperations(registerModel, h).result, 'ok');
    const after = [reg(0, { op: 'write', value: 1 }, 0, {}, 1), reg(0, { op: 'read' }, 2, { value: null }, 3)];
    assert.equal(checkOperations(registerModel, after).result, 'illegal');
  });

  test('reads ordered by real time cannot go back', () => {
    // A write concurrent with two reads: the first read (which returns before the second starts)
    // sees the new value, the second the old one.
    const h = [
      reg(0, { op: 'write', value: 0 }, 0, {}, 1),
      reg(1, { op: 'write', value: 1 }, 2, {}, 100),
      reg(2, { op: 'read' }, 10, { value: 1 }, 20),
      reg(3, { op: 'read' }, 30, { value: 0 }, 40),
    ];
    assert.equal(checkOperations(registerModel, h).result, 'illegal');
    const fine = [h[0], h[1], reg(2, { op: 'read' }, 10, { value: 0 }, 20), reg(3, { op: 'read' }, 30, { value: 1 }, 40)];
    assert.equal(checkOperations(registerModel, fine).result, 'ok');
  });

  test('zero-duration operations', () => {
    const h = [
      reg(0, { op: 'write', value: 5 }, 0, {}, 100),
      reg(1, { op: 'read' }, 25, { value: 5 }, 75),
      reg(2, { op: 'read' }, 30, { value: null }, 30),
      reg(3, { op: 'read' }, 30, { value: null }, 30),
    ];
    assert.equal(checkOperations(registerModel, h).result, 'ok');
    const bad = [
      reg(0, { op: 'write', value: 5 }, 0, {}, 100),
      reg(1, { op: 'read' }, 10, { value: 5 }, 10),
      reg(2, { op: 'read' }, 10, { value: 5 }, 10),
      reg(3, { op: 'read' }, 40, { value: null }, 90),
    ];
    assert.equal(checkOperations(registerModel, bad).result, 'illegal');
  });

  test('the event form gives the same verdicts', () => {
    const w = { op: 'write', value: 7 } as const;
    const r = { op: 'read' } as const;
    const ok: Event<RegisterInput, RegisterOutput>[] = [
      { clientId: 0, kind: 'call', id: 0, value: w },
      { clientId: 1, kind: 'call', id: 1, value: r },
      { clientId: 2, kind: 'call', id: 2, value: r },
      { clientId: 2, kind: 'return', id: 2, value: { value: null } },
      { clientId: 1, kind: 'return', id: 1, value: { value: 7 } },
      { clientId: 0, kind: 'return', id: 0, value: {} },
    ];
    assert.equal(checkEvents(registerModel, ok).result, 'ok');
    const bad: Event<RegisterInput, RegisterOutput>[] = [
      { clientId: 0, kind: 'call', id: 0, value: w },
      { clientId: 1, kind: 'call', id: 1, value: r },
      { clientId: 1, kind: 'return', id: 1, value: { value: 7 } },
      { clientId: 2, kind: 'call', id: 2, value: r },
      { clientId: 2, kind: 'return', id: 2, value: { value: null } },
      { clientId: 0, kind: 'return', id: 0, value: {} },
    ];
    assert.equal(checkEvents(registerModel, bad).result, 'illegal');
  });
});

describe('malformed input', () => {
  test('a return before its call is rejected with a clear error', () => {
    const h = [kvop(0, put('k', 'v'), 0, {}, 10), kvop(3, get('k'), 20, { value: 'v' }, 15)];
    assert.throws(() => checkOperations(kvModel, h), (err: unknown) => {
      assert.ok(err instanceof HistoryError);
      assert.match(err.message, /operation #1 \(client 3\): returns at 15, before its call at 20/);
      return true;
    });
  });

  test('non-numeric and infinite call times are rejected', () => {
    const nan = [kvop(0, put('k', 'v'), Number.NaN, {}, 10)];
    assert.throws(() => checkOperations(kvModel, nan), /call time NaN is not a finite number/);
    const inf = [kvop(0, put('k', 'v'), Infinity, {}, Infinity)];
    assert.throws(() => checkOperations(kvModel, inf), HistoryError);
    const str = [{ ...kvop(0, put('k', 'v'), 0, {}, 1), return: '1' as unknown as number }];
    assert.throws(() => checkOperations(kvModel, str), /return time 1 is not a number/);
  });

  test('unmatched or duplicated events are rejected', () => {
    const r = { op: 'read' } as const;
    assert.throws(
      () => eventsToOperations<RegisterInput, RegisterOutput>([{ clientId: 0, kind: 'call', id: 1, value: r }]),
      /call\(s\) without a return \(ids 1\)/,
    );
    assert.throws(
      () => eventsToOperations<RegisterInput, RegisterOutput>([{ clientId: 0, kind: 'return', id: 4, value: {} }]),
      /return for id 4 without an open call/,
    );
  });

  test('an empty history is linearizable', () => {
    const r = checkOperations(kvModel, []);
    assert.equal(r.result, 'ok');
    assert.deepEqual(r.partitions, []);
  });
});

describe('long histories', () => {
  test('100k operations on one register: no recursion, linear work', () => {
    const ops: RegisterOperation[] = [];
    let t = 0;
    for (let i = 0; i < 50_000; i++) {
      ops.push(reg(0, { op: 'write', value: i }, t, {}, t + 2));
      ops.push(reg(1, { op: 'read' }, t + 1, { value: i }, t + 3));
      t += 4;
    }
    // A write that timed out near the start and was never seen.
    ops.push(reg(2, { op: 'write', value: -1 }, 5, { unknown: true }, Infinity));
    const r = checkOperations(registerModel, ops);
    assert.equal(r.result, 'ok');
    assert.ok(r.partitions[0].steps < 4 * ops.length);

    ops.push(reg(1, { op: 'read' }, t + 1, { value: 7 }, t + 3));
    const bad = checkOperations(registerModel, ops);
    assert.equal(bad.result, 'illegal');
    assert.equal(bad.illegal?.longestPrefix.length, ops.length - 1);
    assert.match(bad.illegal?.rejected[0] ?? '', /^read\(\) -> 7/);
  });
});

// ---------------------------------------------------------------------------------------------
// Randomized: compare with a brute-force search over all real-time-respecting orders.

function bruteForce<S, I, O>(model: Model<S, I, O>, ops: readonly Operation<I, O>[]): boolean {
  const used = new Array<boolean>(ops.length).fill(false);
  const go = (state: S, left: number): boolean => {
    if (left === 0) return true;
    for (let i = 0; i < ops.length; i++) {
      if (used[i]) continue;
      // i may go next unless some remaining op returned before i was called.
      if (ops.some((o, j) => !used[j] && j !== i && o.return < ops[i].call)) continue;
      const [legal, next] = model.step(state, ops[i].input, ops[i].output);
      if (!legal) continue;
      used[i] = true;
      const found = go(next, left - 1);
      used[i] = false;
      if (found) return true;
    }
    return false;
  };
  return go(model.init(), ops.length);
}

/** A tiny seeded generator (deterministic tests). */
function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

/**
 * Random concurrent history of `count` ops over `clients`: each op gets a real linearization
 * point inside [call, return], outputs come from executing at those points, then sometimes one
 * output is corrupted or one op turned into a timeout (return Infinity, unknown output).
 */
function randomHistory<S, I, O>(
  model: Model<S, I, O>,
  rand: (n: number) => number,
  count: number,
  clients: number,
  input: () => I,
  output: (state: S, input: I) => O,
  corrupt: (o: O, input: I) => O,
  unknown: O,
): Operation<I, O>[] {
  const clock = new Array<number>(clients).fill(0);
  const drafts: { clientId: number; input: I; call: number; point: number; ret: number }[] = [];
  for (let i = 0; i < count; i++) {
    const c = rand(clients);
    const call = clock[c] + rand(3);
    const ret = call + rand(6);
    const point = call + (ret > call ? rand(ret - call + 1) : 0);
    clock[c] = ret + 1;
    drafts.push({ clientId: c, input: input(), call, point, ret });
  }
  const order = drafts.map((_, i) => i).sort((a, b) => drafts[a].point - drafts[b].point || a - b);
  const outputs = new Array<O>(count);
  let state = model.init();
  for (const i of order) {
    const out = output(state, drafts[i].input);
    outputs[i] = out;
    state = model.step(state, drafts[i].input, out)[1];
  }
  const ops: Operation<I, O>[] = drafts.map((d, i) => ({ clientId: d.clientId, input: d.input, call: d.call, output: outputs[i], return: d.ret }));
  if (rand(3) === 0) {
    const i = rand(count);
    ops[i] = { ...ops[i], output: corrupt(ops[i].output, ops[i].input) };
  }
  if (rand(4) === 0) {
    const i = rand(count);
    ops[i] = { ...ops[i], output: unknown, return: Infinity };
  }
  return ops;
}

describe('randomized comparison with brute force', () => {
  test('register histories', () => {
    const rand = rng(12345);
    let illegal = 0;
    for (let trial = 0; trial < 400; trial++) {
      const ops = randomHistory<ReturnType<typeof registerModel.init>, RegisterInput, RegisterOutput>(
        registerModel,
        rand,
        2 + rand(6),
        3,
        () => {
          const k = rand(3);
          if (k === 0) return { op: 'read' };
          if (k === 1) return { op: 'write', value: rand(3) };
          return { op: 'cas', from: rand(3), to: rand(3) };
        },
        (state, input) => (input.op === 'read' ? { value: state } : input.op === 'cas' ? { ok: state === input.from } : {}),
        (o, input) => (input.op === 'read' ? { value: rand(3) } : input.op === 'cas' ? { ok: !(o.ok ?? false) } : o),
        { unknown: true },
      );
      const expected = bruteForce(registerModel, ops) ? 'ok' : 'illegal';
      if (expected === 'illegal') illegal++;
      assert.equal(checkOperations(registerModel, ops).result, expected, JSON.stringify(ops));
    }
    assert.ok(illegal > 20, `only ${illegal} illegal cases generated`);
  });

  test('kv histories (two keys, every operation kind)', () => {
    const rand = rng(777);
    const values = ['', 'a', 'b'];
    let illegal = 0;
    for (let trial = 0; trial < 400; trial++) {
      const ops = randomHistory<ReturnType<typeof kvModel.init>, KvInput, KvOutput>(
        kvModel,
        rand,
        2 + rand(6),
        3,
        () => {
          const key = rand(2) === 0 ? 'x' : 'y';
          const v = values[rand(3)];
          switch (rand(5)) {
            case 0:
              return get(key);
            case 1:
              return put(key, v);
            case 2:
              return append(key, v);
            case 3:
              return del(key);
            default:
              return cas(key, rand(4) === 0 ? null : values[rand(3)], v);
          }
        },
        (state, input) => {
          switch (input.op) {
            case 'get':
              return { value: state.value ?? '' };
            case 'delete':
              return rand(2) === 0 ? { existed: state.value !== null } : {};
            case 'cas':
              return { ok: input.expected === null ? state.value === null : input.expected === (state.value ?? '') };
            default:
              return {};
          }
        },
        (o, input) =>
          input.op === 'get'
            ? { value: `${o.value ?? ''}a` }
            : input.op === 'cas'
              ? { ok: !(o.ok ?? false) }
              : input.op === 'delete'
                ? { existed: !(o.existed ?? false) }
                : o,
        { unknown: true },
      );
      // The kv model is per key: brute-force each key and combine.
      const keys = [...new Set(ops.map((o) => o.input.key))];
      const expected = keys.every((k) => bruteForce(kvModel, ops.filter((o) => o.input.key === k))) ? 'ok' : 'illegal';
      if (expected === 'illegal') illegal++;
      assert.equal(checkOperations(kvModel, ops).result, expected, JSON.stringify(ops));
    }
    assert.ok(illegal > 20, `only ${illegal} illegal cases generated`);
  });
});
