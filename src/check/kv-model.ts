/**
 * Sequential models for the checker.
 *
 * - `kvModel`: the embedded key-value store, one key at a time (the history is partitioned by
 *   key, and keys are independent). get/put/append follow the MIT 6.824 kvraft lab (a missing key
 *   reads as ''); delete and cas are the store's extras.
 * - `registerModel`: one integer register with read/write/cas, the shape of the Jepsen etcd
 *   histories porcupine ships with.
 *
 * Both accept an `{ unknown: true }` output for an operation whose result was never observed
 * (a timeout). Such an operation should carry `return: Infinity` so the search may also place it
 * after everything else, which is how "it never happened" is expressed.
 */
import type { Model, Operation } from './model.js';

// ---------------------------------------------------------------------------------------------
// Key-value store

export type KvInput =
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  | { readonly op: 'append'; readonly key: string; readonly value: string }
  /** Output may report whether the key existed (`existed`); omit it when the store does not say. */
  | { readonly op: 'delete'; readonly key: string }
  /**
   * Compare-and-set. `expected: null` means "only if the key is absent"; a string compares with
   * the current value, a missing key reading as '' (the get semantics), so cas(k, '', v) also
   * succeeds on an absent key.
   */
  | { readonly op: 'cas'; readonly key: string; readonly expected: string | null; readonly value: string };

export interface KvOutput {
  /** get: the value read. */
  readonly value?: string;
  /** cas: whether it swapped. */
  readonly ok?: boolean;
  /** delete: whether the key existed, when the store reports it. */
  readonly existed?: boolean;
  /** The outcome was never observed. */
  readonly unknown?: boolean;
}

/**
 * The value of one key (null when absent: never written, or deleted) with a polynomial hash of
 * the value kept up to date by every step. Appends make values long (thousands of characters in
 * kv/c50); hashing them afresh at every search step would dominate the check, while extending
 * the hash by the appended piece costs only that piece.
 */
export interface KvState {
  readonly value: string | null;
  /** h(s) = sum s[i]*B^(len-1-i) mod 2^32; h(absent) is ABSENT_HASH. */
  readonly hash: number;
}

const B = 0x01000193;
const ABSENT_HASH = 0x5bd1e995;
const ABSENT: KvState = { value: null, hash: ABSENT_HASH };
const EMPTY_HASH = 0;

function strHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, B) + s.charCodeAt(i)) | 0;
  return h;
}

const POW_CACHE = new Int32Array(256);
POW_CACHE[0] = 1;
for (let i = 1; i < POW_CACHE.length; i++) POW_CACHE[i] = Math.imul(POW_CACHE[i - 1], B);

/** B^n mod 2^32. */
function powB(n: number): number {
  if (n < POW_CACHE.length) return POW_CACHE[n];
  let r = 1;
  let b = B;
  for (let e = n; e > 0; e >>>= 1) {
    if (e & 1) r = Math.imul(r, b);
    b = Math.imul(b, b);
  }
  return r;
}

function kvValue(value: string): KvState {
  return { value, hash: strHash(value) };
}

function kvAppend(state: KvState, piece: string): KvState {
  const base = state.value === null ? EMPTY_HASH : state.hash;
  return {
    value: (state.value ?? '') + piece,
    hash: (Math.imul(base, powB(piece.length)) + strHash(piece)) | 0,
  };
}

function kvStep(state: KvState, input: KvInput, output: KvOutput): readonly [boolean, KvState] {
  const unknown = output.unknown === true;
  const current = state.value;
  switch (input.op) {
    case 'get':
      return [unknown || output.value === (current ?? ''), state];
    case 'put':
      return [true, kvValue(input.value)];
    case 'append':
      return [true, kvAppend(state, input.value)];
    case 'delete':
      return [unknown || output.existed === undefined || output.existed === (current !== null), ABSENT];
    case 'cas': {
      const matches = input.expected === null ? current === null : input.expected === (current ?? '');
      const next = matches ? kvValue(input.value) : state;
      return [unknown || output.ok === matches, next];
    }
    default:
      return unreachable(input);
  }
}

function unreachable(x: never): never {
  throw new Error(`kv model: unknown operation ${JSON.stringify(x)}`);
}

function quote(s: string | null): string {
  return s === null ? 'nil' : JSON.stringify(s);
}

function describeKv(input: KvInput, output: KvOutput): string {
  const k = JSON.stringify(input.key);
  const unknown = output.unknown === true;
  switch (input.op) {
    case 'get':
      return `get(${k}) -> ${unknown ? '?' : quote(output.value ?? '')}`;
    case 'put':
      return `put(${k}, ${quote(input.value)})${unknown ? ' -> ?' : ''}`;
    case 'append':
      return `append(${k}, ${quote(input.value)})${unknown ? ' -> ?' : ''}`;
    case 'delete':
      return `delete(${k})${unknown ? ' -> ?' : output.existed === undefined ? '' : ` -> ${output.existed ? 'existed' : 'absent'}`}`;
    case 'cas':
      return `cas(${k}, ${quote(input.expected)}, ${quote(input.value)}) -> ${unknown ? '?' : output.ok ? 'ok' : 'fail'}`;
    default:
      return unreachable(input);
  }
}

function partitionByKey<T extends { readonly input: { readonly key: string } }>(history: readonly T[]): T[][] {
  const byKey = new Map<string, T[]>();
  for (const op of history) {
    const list = byKey.get(op.input.key);
    if (list === undefined) byKey.set(op.input.key, [op]);
    else list.push(op);
  }
  // Sorted by key so reports are stable from run to run.
  return [...byKey.keys()].sort().map((k) => byKey.get(k) as T[]);
}

/**
 * Ranks for the search (Model.tryOrder) on a key that only sees gets and appends: every read
 * returns the whole value, so the longest value read fixes the order of the appends it holds.
 * An append ranks at where its piece starts in that value (never seen: last), a get just before
 * the first append it did not see. Without this, a stretch of concurrent appends that no get
 * observes makes the search try their orders one by one (each order a different state), which
 * after a crash of the whole cluster ran past four million states. Other keys: no ranks.
 */
function appendOrder(part: readonly Operation<KvInput, KvOutput>[]): number[] | null {
  const longest = longestRead(part);
  if (longest === null) return null;
  return part.map((o) => {
    if (o.input.op !== 'append') return (o.output.value?.length ?? Infinity) - 0.5;
    const at = longest.indexOf(o.input.value);
    return at < 0 ? Infinity : at;
  });
}

/** The longest value read on a key that sees only gets and appends; null otherwise, or if none is. */
function longestRead(part: readonly Operation<KvInput, KvOutput>[]): string | null {
  let longest = '';
  for (const o of part) {
    if (o.input.op === 'get') {
      const v = o.output.value;
      if (v !== undefined && v.length > longest.length) longest = v;
    } else if (o.input.op !== 'append') return null;
  }
  return longest === '' ? null : longest;
}

/**
 * The pruning rule (Model.guard) on a key that sees only gets and appends. Values only grow, so
 * the states of a linearization form a chain of prefixes, and the longest value read, L, is one
 * of them: every state is a prefix of L or extends it. An append that leaves that chain cannot be
 * in any linearization, and is dropped when it is tried rather than when some later read refutes
 * it. The ranks (appendOrder) only order candidates within a run of calls; appends whose calls
 * other operations' returns separate (long appends, retried across lost replies) still came in
 * time order, and with no read between them to refute a wrong order the search tried their orders
 * one by one: 9 million steps for 43 operations, seen on lab-3a's unreliable appends.
 * Each check costs the appended piece, not the value: the state before it is already on the chain.
 */
function appendChain(part: readonly Operation<KvInput, KvOutput>[]): ((before: KvState, after: KvState) => boolean) | null {
  const longest = longestRead(part);
  if (longest === null) return null;
  return (before, after) => {
    const from = before.value?.length ?? 0;
    const v = after.value ?? '';
    if (v.length === from || from >= longest.length) return true;
    return v.length <= longest.length ? longest.startsWith(v.slice(from), from) : v.startsWith(longest.slice(from), from);
  };
}

export const kvModel: Model<KvState, KvInput, KvOutput> = {
  init: () => ABSENT,
  step: kvStep,
  equal: (a, b) => a === b || (a.hash === b.hash && a.value === b.value),
  hash: (s) => s.hash,
  partition: (history) => partitionByKey(history),
  tryOrder: appendOrder,
  guard: appendChain,
  describePartition: (part) => (part.length === 0 ? 'empty' : `key ${JSON.stringify(part[0].input.key)}`),
  describeOperation: describeKv,
  describeState: (s) => (s.value === null ? 'absent' : quote(s.value)),
};

// ---------------------------------------------------------------------------------------------
// Single register (Jepsen etcd histories)

export type RegisterInput =
  | { readonly op: 'read' }
  | { readonly op: 'write'; readonly value: number }
  | { readonly op: 'cas'; readonly from: number; readonly to: number };

export interface RegisterOutput {
  /** read: the value, or null when the register was never written (Jepsen's `nil`). */
  readonly value?: number | null;
  /** cas: whether it swapped (Jepsen `:ok` vs `:fail`). */
  readonly ok?: boolean;
  /** The outcome was never observed (a timed-out read, Jepsen `:info`). */
  readonly unknown?: boolean;
}

/** null: never written. A read of nil is a real observation, legal only in that state. */
export type RegisterState = number | null;

function registerStep(
  state: RegisterState,
  input: RegisterInput,
  output: RegisterOutput,
): readonly [boolean, RegisterState] {
  const unknown = output.unknown === true;
  switch (input.op) {
    case 'read':
      return [unknown || (output.value ?? null) === state, state];
    case 'write':
      return [true, input.value];
    case 'cas': {
      const matches = state === input.from;
      const next = matches ? input.to : state;
      return [unknown || output.ok === matches, next];
    }
    default:
      return unreachable(input);
  }
}

function describeRegister(input: RegisterInput, output: RegisterOutput): string {
  const unknown = output.unknown === true;
  switch (input.op) {
    case 'read':
      return `read() -> ${unknown ? '?' : output.value === null || output.value === undefined ? 'nil' : output.value}`;
    case 'write':
      return `write(${input.value})${unknown ? ' -> ?' : ''}`;
    case 'cas':
      return `cas(${input.from}, ${input.to}) -> ${unknown ? '?' : output.ok ? 'ok' : 'fail'}`;
    default:
      return unreachable(input);
  }
}

export const registerModel: Model<RegisterState, RegisterInput, RegisterOutput> = {
  init: () => null,
  step: registerStep,
  equal: (a, b) => a === b,
  hash: (s) => (s === null ? 'nil' : String(s)),
  exactHash: true,
  describeOperation: describeRegister,
  describeState: (s) => (s === null ? 'nil' : String(s)),
};

export type KvOperation = Operation<KvInput, KvOutput>;
export type RegisterOperation = Operation<RegisterInput, RegisterOutput>;
