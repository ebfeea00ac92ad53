/**
 * Linearizability checking by search (Wing & Gong, with Lowe's memoization; the algorithm of
 * porcupine).
 *
 * The history of one partition becomes a doubly linked list of its 2n call and return events in
 * time order (at equal times calls come first, so touching operations count as concurrent):
 *
 *     head -> c0 -> c1 -> r0 -> c2 -> r1 -> r2 -> nil        (ci = call of op i, ri = its return)
 *
 * Walking from the head, every call met before the first return is an operation that may take
 * effect next: nothing that returned earlier is still waiting. The search tries them in order.
 * When the model accepts one, it is "linearized": its call and return are lifted out of the list,
 * the old state is pushed on an explicit stack, and the walk restarts at the head. Reaching a
 * return means the operation it ends cannot be linearized yet although it must be, so the search
 * backtracks: it pops the last choice, splices its events back in and tries the next call after
 * it. An empty list is a complete linearization; backtracking with an empty stack proves there is
 * none.
 *
 * Memoization makes this practical: the future of the search depends only on which operations are
 * linearized and on the model state, so each (linearized set, state) pair is explored at most once.
 * The set is a bitset; its hash is maintained incrementally by XOR of a random 64-bit tag per
 * operation (Zobrist hashing), so linearizing or undoing an operation costs O(1) for the hash, and
 * storing a pair copies only a short window of the bitset (see Memo). A hit is confirmed word by
 * word and with `model.equal`, so hash collisions cost time, never correctness.
 *
 * Nothing recurses: the stack is an array, so a history of 100k operations needs 100k slots, not
 * 100k frames. The search is also resumable (`PartitionSearch.run(budget)`), which lets one thread
 * interleave all partitions round-robin: a verdict of `illegal` needs only one bad partition, and
 * with a fair schedule the cheapest one to refute answers first even when another partition's
 * search space is astronomically large. (Porcupine gets the same effect from one goroutine per
 * partition.) For kv/c50-bad the difference is ~0.1 s versus running out of memory.
 */
import {
  type Event,
  type Model,
  type Operation,
  type Verdict,
  eventsToOperations,
  validateHistory,
} from './model.js';

export interface CheckOptions {
  /**
   * Give up after this long and answer `unknown` (unless a partition already proved `illegal`).
   * 0 or absent: no limit.
   */
  readonly timeoutMs?: number;
  /** Stop at the first illegal partition, skipping the rest. Default true. */
  readonly stopOnIllegal?: boolean;
  /**
   * Stop with `unknown` once this many (set, state) pairs are memoized across the partitions
   * searched by one thread (about 50-100 bytes each plus the states). Default
   * DEFAULT_MAX_MEMO_STATES.
   */
  readonly maxMemoStates?: number;
}

export const DEFAULT_MAX_MEMO_STATES = 4_000_000;

/** `skipped`: not checked, or not finished, because another partition was already illegal. */
export type PartitionStatus = Verdict | 'skipped';

export interface PartitionReport {
  /** Position in the model's partition order. */
  readonly index: number;
  readonly label: string;
  readonly operations: number;
  readonly result: PartitionStatus;
  /** Why an `unknown` partition stopped: out of time, or over the memo limit. */
  readonly stopped?: 'deadline' | 'memory';
  /** Calls to `model.step` made by the search. */
  readonly steps: number;
  /** Distinct (linearized set, state) pairs stored. */
  readonly memoStates: number;
  /** Time spent searching this partition (summed over its slices). */
  readonly elapsedMs: number;
}

/** Why a partition is not linearizable, in terms a person can follow. */
export interface IllegalExplanation<I, O> {
  readonly partition: number;
  readonly label: string;
  readonly operations: number;
  /** The longest sequence of this partition's operations the search could linearize. */
  readonly longestPrefix: Operation<I, O>[];
  readonly longestPrefixDescribed: string[];
  /** The model state after that prefix. */
  readonly stateAfterPrefix: string;
  /**
   * Operations that could come next in real-time order but that the model rejects in that state
   * (each described, with its client). The other candidates were accepted but led to dead ends.
   */
  readonly rejected: string[];
  readonly message: string;
}

export interface CheckResult<I, O> {
  readonly result: Verdict;
  /** One report per partition, in the model's partition order. */
  readonly partitions: PartitionReport[];
  /** Present when `result` is `illegal`: the first illegal partition, explained. */
  readonly illegal?: IllegalExplanation<I, O>;
  readonly elapsedMs: number;
  /** Where the partitions were checked: this thread, or a worker pool. */
  readonly mode: 'sync' | 'pool';
}

/** Bounds on a search. */
export interface SearchLimits {
  /** Wall-clock deadline (`Date.now()` scale; comparable across worker threads). */
  readonly deadline?: number;
  /** A shared flag: a non-zero value at index 0 asks the search to stop. */
  readonly cancel?: Int32Array;
}

/** Where a search stands after `run`. */
export type SearchStatus = 'running' | 'ok' | 'illegal' | 'deadline' | 'cancel';

// How many loop iterations between looks at the clock and the cancel flag.
const POLL_MASK = 0x3ff;
const NIL = -1;

/**
 * Stored (linearized set, state) pairs, in an open-addressing hash table over typed arrays (a JS
 * Map tops out at 2^24 entries and allocates per entry).
 *
 * A set is not stored whole. Operations that return (finite return time) are numbered in call
 * order; with `u` the first of them not linearized, every one below `u` is linearized, and every
 * linearized one above `u` was called before u's return (it had to be, to go first). Operations
 * that never return (return = Infinity) can go anywhere, so they are numbered apart, in a
 * word-aligned range after the others. A set is then `u`, the bitset words from u's word to the
 * word of the highest linearized returning operation (usually one or two words), and the words
 * of the never-returning range. The whole bitset of a 100k-operation history would be 3125 words
 * (12 KB per entry, O(n^2) memory over a long run). The returning operations below the window are
 * all linearized and those above it none, so equal (u, words) means an equal set.
 *
 * Per entry: its window's offset and length in `words`, `u`, the id of its state's hash, the
 * state itself (for `equal`), and the full 32-bit hash as a fingerprint so most probes never look
 * at the window. With a string state hash the id is an interned index (equal ids, equal strings);
 * with a numeric hash it is the number.
 */
class Memo<S> {
  private words: Uint32Array;
  private wordsUsed = 0;
  private offsets: Int32Array;
  private lengths: Int32Array;
  private firsts: Int32Array;
  private stateIds: Int32Array;
  private fingerprints: Int32Array;
  private table: Int32Array; // entry index + 1; 0 = empty
  private mask: number;
  private readonly states: S[] = [];
  private readonly interned = new Map<string, number>();
  size = 0;

  constructor(
    /** null when equal hashes imply equal states (the model says its hash is exact). */
    private readonly equal: ((a: S, b: S) => boolean) | null,
  ) {
    const cap = 1024;
    this.words = new Uint32Array(cap * 2);
    this.offsets = new Int32Array(cap);
    this.lengths = new Int32Array(cap);
    this.firsts = new Int32Array(cap);
    this.stateIds = new Int32Array(cap);
    this.fingerprints = new Int32Array(cap);
    this.table = new Int32Array(cap * 2);
    this.mask = cap * 2 - 1;
  }

  /**
   * A 32-bit id for a state hash: a number is used as is, a string is interned (equal strings,
   * equal ids; different strings, different ids).
   */
  stateId(hash: string | number): number {
    if (typeof hash === 'number') return hash | 0;
    let id = this.interned.get(hash);
    if (id === undefined) {
      id = this.interned.size;
      this.interned.set(hash, id);
    }
    return id;
  }

  /**
   * Store the pair unless an equal one is there; true if it was new. `set` is the full bitset;
   * the stored words are the window [w0, w0 + winLen) and the tail [tail0, tail0 + tailLen).
   */
  add(
    set: Uint32Array,
    u: number,
    w0: number,
    winLen: number,
    tail0: number,
    tailLen: number,
    zLo: number,
    zHi: number,
    stateId: number,
    state: S,
  ): boolean {
    // Mix the state id (murmur3's finalizer: model hashes may be weak in their low bits, and
    // the low bits pick the slot), then fold in the 64-bit Zobrist hash of the set.
    let m = stateId ^ (stateId >>> 16);
    m = Math.imul(m, 0x85ebca6b);
    m ^= m >>> 13;
    m = Math.imul(m, 0xc2b2ae35);
    m ^= m >>> 16;
    const h = zLo ^ m ^ Math.imul(zHi, 0x27d4eb2d);
    const len = winLen + tailLen;
    let slot = h & this.mask;
    for (let t = this.table[slot]; t !== 0; t = this.table[slot]) {
      const e = t - 1;
      if (
        this.fingerprints[e] === h &&
        this.stateIds[e] === stateId &&
        this.firsts[e] === u &&
        this.lengths[e] === len
      ) {
        const words = this.words;
        const off = this.offsets[e];
        let same = true;
        for (let i = 0; i < winLen; i++) {
          if (words[off + i] !== set[w0 + i]) {
            same = false;
            break;
          }
        }
        for (let i = 0; same && i < tailLen; i++) {
          if (words[off + winLen + i] !== set[tail0 + i]) same = false;
        }
        if (same && (this.equal === null || this.equal(this.states[e], state))) return false;
      }
      slot = (slot + 1) & this.mask;
    }
    const e = this.size++;
    if (e === this.stateIds.length) this.growEntries();
    if (this.wordsUsed + len > this.words.length) {
      const grown = new Uint32Array(Math.max(this.words.length * 2, this.wordsUsed + len));
      grown.set(this.words);
      this.words = grown;
    }
    this.words.set(set.subarray(w0, w0 + winLen), this.wordsUsed);
    this.words.set(set.subarray(tail0, tail0 + tailLen), this.wordsUsed + winLen);
    this.offsets[e] = this.wordsUsed;
    this.wordsUsed += len;
    this.lengths[e] = len;
    this.firsts[e] = u;
    this.stateIds[e] = stateId;
    this.fingerprints[e] = h;
    this.states.push(state);
    this.table[slot] = e + 1;
    if (this.size * 2 > this.table.length) this.growTable();
    return true;
  }

  private growEntries(): void {
    const cap = this.stateIds.length * 2;
    const grow = (a: Int32Array): Int32Array => {
      const b = new Int32Array(cap);
      b.set(a);
      return b;
    };
    this.offsets = grow(this.offsets);
    this.lengths = grow(this.lengths);
    this.firsts = grow(this.firsts);
    this.stateIds = grow(this.stateIds);
    this.fingerprints = grow(this.fingerprints);
  }

  private growTable(): void {
    const table = new Int32Array(this.table.length * 2);
    const mask = table.length - 1;
    for (let e = 0; e < this.size; e++) {
      let slot = this.fingerprints[e] & mask;
      while (table[slot] !== 0) slot = (slot + 1) & mask;
      table[slot] = e + 1;
    }
    this.table = table;
    this.mask = mask;
  }
}

/** A small seeded generator for the Zobrist tags: the same history always hashes the same way. */
function zobristTags(n: number): Int32Array {
  const tags = new Int32Array(2 * n);
  let x = 0x2545f491;
  for (let i = 0; i < tags.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    tags[i] = x;
  }
  return tags;
}

/**
 * The search over one partition, resumable: `run(budget)` advances it by up to `budget` model
 * steps and says where it stands. Operations must already be validated. It throws only if the
 * model does.
 */
export class PartitionSearch<S, I, O> {
  // Operations are renumbered (see Memo): the `nf` returning ones first, in call order, as
  // 0..nf-1; the never-returning ones from `tail` (nf rounded up to a multiple of 32), also in
  // call order. perm[k] is op k's index in `ops`, or -1 for the unused numbers in between.
  private readonly perm: Int32Array;
  private readonly nf: number;
  private readonly tail0: number;
  private readonly tailLen: number;
  // Event list: node 0 is the head; op k has call node 2k+1 and return node 2k+2 (odd = call).
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  // The returning ops not yet linearized, in number order: a circular list through sentinel nf.
  private readonly fnext: Int32Array;
  private readonly fprev: Int32Array;
  private readonly inputs: I[];
  private readonly outputs: O[];
  private readonly tags: Int32Array;
  private readonly set: Uint32Array;
  private readonly memo: Memo<S>;
  private readonly guard: ((before: S, after: S) => boolean) | null;
  private readonly stackNode: Int32Array;
  private readonly stackState: S[];
  // The highest linearized returning op before each push, to restore on backtrack.
  private readonly stackTop: Int32Array;
  private depth = 0;
  private top = -1;
  private zLo = 0;
  private zHi = 0;
  private state: S;
  private entry: number;
  private done: 'ok' | 'illegal' | null = null;
  private best: number[] = [];
  /** Calls to `model.step` so far. */
  steps = 0;
  /** Milliseconds spent in `run` so far. */
  elapsedMs = 0;

  constructor(
    private readonly model: Model<S, I, O>,
    readonly ops: readonly Operation<I, O>[],
  ) {
    const n = ops.length;
    const byCall = (a: number, b: number): number => ops[a].call - ops[b].call || a - b;
    const finite: number[] = [];
    const infinite: number[] = [];
    for (let i = 0; i < n; i++) (ops[i].return === Infinity ? infinite : finite).push(i);
    finite.sort(byCall);
    infinite.sort(byCall);
    const nf = finite.length;
    const tail = ((nf + 31) >>> 5) << 5;
    const slots = tail + infinite.length;
    this.nf = nf;
    this.tail0 = tail >>> 5;
    this.tailLen = (infinite.length + 31) >>> 5;
    const perm = new Int32Array(slots).fill(-1);
    finite.forEach((i, k) => (perm[k] = i));
    infinite.forEach((i, k) => (perm[tail + k] = i));
    this.perm = perm;

    const time = (node: number): number => {
      const op = ops[perm[(node - 1) >> 1]];
      return node & 1 ? op.call : op.return;
    };
    const order: number[] = [];
    for (let k = 0; k < slots; k++) if (perm[k] >= 0) order.push(2 * k + 1, 2 * k + 2);
    order.sort((a, b) => {
      const ta = time(a);
      const tb = time(b);
      if (ta < tb) return -1;
      if (ta > tb) return 1;
      const ka = a & 1;
      const kb = b & 1;
      if (ka !== kb) return kb - ka; // calls (odd) before returns
      return a - b;
    });
    this.guard = model.guard?.(ops) ?? null;
    const ranks = model.tryOrder?.(ops) ?? null;
    if (ranks !== null) rankCallRuns(order, (node) => ranks[perm[(node - 1) >> 1]!] ?? Infinity);
    this.next = new Int32Array(2 * slots + 1);
    this.prev = new Int32Array(2 * slots + 1);
    let last = 0;
    for (const node of order) {
      this.next[last] = node;
      this.prev[node] = last;
      last = node;
    }
    this.next[last] = NIL;
    this.fnext = new Int32Array(nf + 1);
    this.fprev = new Int32Array(nf + 1);
    for (let k = 0; k <= nf; k++) {
      this.fnext[k] = k === nf ? 0 : k + 1;
      this.fprev[k] = k === 0 ? nf : k - 1;
    }

    this.inputs = Array.from(perm, (i) => (i >= 0 ? ops[i].input : (undefined as I)));
    this.outputs = Array.from(perm, (i) => (i >= 0 ? ops[i].output : (undefined as O)));
    this.tags = zobristTags(slots);
    this.set = new Uint32Array(((slots + 31) >>> 5) + 1);
    this.memo = new Memo<S>(model.exactHash === true ? null : (a, b) => model.equal(a, b));
    this.stackNode = new Int32Array(n);
    this.stackTop = new Int32Array(n);
    this.stackState = new Array<S>(n);
    this.state = model.init();
    this.entry = this.next[0];
    if (n === 0) this.done = 'ok';
  }

  get memoStates(): number {
    return this.memo.size;
  }

  /**
   * Indices (into the partition as given) of the longest linearization found so far, in order:
   * all of them once the search says `ok`.
   */
  get longest(): number[] {
    return this.best;
  }

  /** Advance by up to `budget` model steps (or until a limit trips). */
  run(budget: number, limits: SearchLimits = {}): SearchStatus {
    if (this.done !== null) return this.done;
    const t0 = performance.now();
    try {
      return this.loop(this.steps + budget, limits.deadline ?? Infinity, limits.cancel);
    } finally {
      this.elapsedMs += performance.now() - t0;
    }
  }

  private loop(stepLimit: number, deadline: number, cancel: Int32Array | undefined): SearchStatus {
    const { model, guard, next, prev, fnext, fprev, inputs, outputs, tags, set, memo, stackNode, stackState, stackTop } = this;
    const { nf, tail0, tailLen } = this;
    let { depth, top, zLo, zHi, state, entry, steps } = this;
    let iter = 0;
    let status: SearchStatus = 'running';
    while (next[0] !== NIL) {
      if ((++iter & POLL_MASK) === 0) {
        if (cancel !== undefined && Atomics.load(cancel, 0) !== 0) {
          status = 'cancel';
          break;
        }
        if (Date.now() > deadline) {
          status = 'deadline';
          break;
        }
      }
      if (entry & 1) {
        // A call: try to linearize its operation now.
        if (steps >= stepLimit) break;
        const op = (entry - 1) >> 1;
        steps++;
        const [legal, after] = model.step(state, inputs[op], outputs[op]);
        if (legal && (guard === null || guard(state, after))) {
          // Tentatively linearize: mark it and lift its call, then its return, out of the event
          // list (a call is never last), and a returning op out of the returning list too.
          const w = op >>> 5;
          const bit = 1 << (op & 31);
          set[w] |= bit;
          zLo ^= tags[2 * op];
          zHi ^= tags[2 * op + 1];
          const ret = entry + 1;
          next[prev[entry]] = next[entry];
          prev[next[entry]] = prev[entry];
          next[prev[ret]] = next[ret];
          if (next[ret] !== NIL) prev[next[ret]] = prev[ret];
          const returning = op < nf;
          if (returning) {
            fnext[fprev[op]] = fnext[op];
            fprev[fnext[op]] = fprev[op];
          }
          const newTop = returning && op > top ? op : top;
          const u = fnext[nf];
          const w0 = u >>> 5;
          const winLen = u === nf ? 0 : ((newTop > u ? newTop : u) >>> 5) - w0 + 1;
          const stateId = memo.stateId(model.hash(after));
          if (memo.add(set, u, w0, winLen, tail0, tailLen, zLo, zHi, stateId, after)) {
            stackNode[depth] = entry;
            stackState[depth] = state;
            stackTop[depth] = top;
            depth++;
            state = after;
            top = newTop;
            entry = next[0];
            continue;
          }
          // Explored before, without success: undo, and try the next call.
          if (returning) {
            fnext[fprev[op]] = op;
            fprev[fnext[op]] = op;
          }
          next[prev[ret]] = ret;
          if (next[ret] !== NIL) prev[next[ret]] = ret;
          next[prev[entry]] = entry;
          prev[next[entry]] = entry;
          set[w] &= ~bit;
          zLo ^= tags[2 * op];
          zHi ^= tags[2 * op + 1];
        }
        entry = next[entry];
      } else {
        // A return: its operation had to be linearized before this point. Backtrack.
        if (depth > this.best.length) this.best = this.stackOps(depth);
        if (depth === 0) {
          status = 'illegal';
          break;
        }
        depth--;
        const call = stackNode[depth];
        state = stackState[depth];
        stackState[depth] = undefined as S; // let the state be collected
        top = stackTop[depth];
        const op = (call - 1) >> 1;
        set[op >>> 5] &= ~(1 << (op & 31));
        zLo ^= tags[2 * op];
        zHi ^= tags[2 * op + 1];
        // Splice back in reverse order of the lift.
        if (op < nf) {
          fnext[fprev[op]] = op;
          fprev[fnext[op]] = op;
        }
        const ret = call + 1;
        next[prev[ret]] = ret;
        if (next[ret] !== NIL) prev[next[ret]] = ret;
        next[prev[call]] = call;
        prev[next[call]] = call;
        entry = next[call];
      }
    }
    if (next[0] === NIL) {
      status = 'ok';
      this.best = this.stackOps(depth);
    }
    Object.assign(this, { depth, top, zLo, zHi, state, entry, steps });
    if (status === 'ok' || status === 'illegal') this.done = status;
    return status;
  }

  /** The ops on the stack, as indices into the partition as given. */
  private stackOps(depth: number): number[] {
    return Array.from(this.stackNode.subarray(0, depth), (c) => this.perm[(c - 1) >> 1]);
  }
}

export interface SearchOutcome {
  readonly result: Verdict;
  readonly stopped?: 'deadline' | 'cancel';
  readonly steps: number;
  readonly memoStates: number;
  /** See `PartitionSearch.longest`. */
  readonly longest: number[];
}

/**
 * Sorts each maximal run of consecutive calls in the event list by rank (stable: ties keep time
 * order). Which calls precede the first remaining return, at any point of the search, does not
 * depend on the order within a run, and no call crosses a return, so real-time order holds and
 * the search stays exact: only the order in which it tries candidates changes.
 */
function rankCallRuns(order: number[], rank: (callNode: number) => number): void {
  let i = 0;
  while (i < order.length) {
    if ((order[i]! & 1) === 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < order.length && (order[j]! & 1) === 1) j++;
    if (j - i > 1) {
      const keyed = order.slice(i, j).map((node, k) => ({ node, r: rank(node), k }));
      keyed.sort((a, b) => a.r - b.r || a.k - b.k);
      keyed.forEach((e, k) => (order[i + k] = e.node));
    }
    i = j;
  }
}

/** Decide one partition in one go (no interleaving, no memo limit). */
export function searchPartition<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  limits: SearchLimits = {},
): SearchOutcome {
  const s = new PartitionSearch(model, ops);
  const status = s.run(Infinity, limits);
  const base = { steps: s.steps, memoStates: s.memoStates, longest: s.longest };
  if (status === 'ok' || status === 'illegal') return { result: status, ...base };
  return { result: 'unknown', stopped: status === 'running' ? 'deadline' : status, ...base };
}

/** Explain an illegal partition from the longest prefix its search found. */
export function explainIllegal<S, I, O>(
  model: Model<S, I, O>,
  part: readonly Operation<I, O>[],
  index: number,
  label: string,
  longest: readonly number[],
): IllegalExplanation<I, O> {
  const describe = (op: Operation<I, O>): string =>
    `${model.describeOperation(op.input, op.output)} [client ${op.clientId}, ${op.call}..${op.return}]`;
  let state = model.init();
  for (const i of longest) state = model.step(state, part[i].input, part[i].output)[1];
  const describeState = model.describeState ?? ((s: S) => String(model.hash(s)));

  // Candidates for the next position: every remaining operation called no later than the
  // earliest remaining return.
  const done = new Set(longest);
  let minReturn = Infinity;
  for (let i = 0; i < part.length; i++) if (!done.has(i)) minReturn = Math.min(minReturn, part[i].return);
  const rejected: string[] = [];
  for (let i = 0; i < part.length; i++) {
    if (done.has(i) || part[i].call > minReturn) continue;
    if (!model.step(state, part[i].input, part[i].output)[0]) rejected.push(describe(part[i]));
  }
  const prefix = longest.map((i) => part[i]);
  const shown = rejected.slice(0, 5).join('; ');
  const where = label === `partition ${index}` ? label : `partition ${index} (${label})`;
  const message =
    `${where} is not linearizable: the longest linearizable prefix has ` +
    `${prefix.length} of ${part.length} operations and leaves the state at ${describeState(state)}; ` +
    (rejected.length > 0
      ? `then the model rejects ${shown}${rejected.length > 5 ? `; and ${rejected.length - 5} more` : ''}`
      : 'every operation that could come next leads to a dead end');
  return {
    partition: index,
    label,
    operations: part.length,
    longestPrefix: prefix,
    longestPrefixDescribed: prefix.map(describe),
    stateAfterPrefix: describeState(state),
    rejected,
    message,
  };
}

export interface PartitionCheck<I, O> {
  readonly report: PartitionReport;
  readonly illegal?: IllegalExplanation<I, O>;
}

export interface ScheduleOptions extends SearchLimits {
  readonly stopOnIllegal?: boolean;
  readonly maxMemoStates?: number;
  /** Model steps per partition per round. Default 20 000 (a few milliseconds). */
  readonly slice?: number;
}

/**
 * Check several partitions in this thread, round-robin in slices so that one partition with a
 * huge search space cannot starve the others. `indices` are the partitions' positions in the full
 * history (for reports); default 0..n-1. Results come back in the order given.
 */
export function checkPartitions<S, I, O>(
  model: Model<S, I, O>,
  parts: readonly (readonly Operation<I, O>[])[],
  options: ScheduleOptions = {},
  indices: readonly number[] = parts.map((_, i) => i),
): PartitionCheck<I, O>[] {
  const stopOnIllegal = options.stopOnIllegal ?? true;
  const maxMemo = options.maxMemoStates ?? DEFAULT_MAX_MEMO_STATES;
  const slice = Math.max(1, options.slice ?? 20_000);
  const limits: SearchLimits = {
    ...(options.deadline !== undefined ? { deadline: options.deadline } : {}),
    ...(options.cancel !== undefined ? { cancel: options.cancel } : {}),
  };
  const labels = parts.map((p, k) => model.describePartition?.(p) ?? `partition ${indices[k]}`);
  const searches = parts.map((p) => new PartitionSearch(model, p));
  const results: (PartitionCheck<I, O> | undefined)[] = new Array(parts.length);
  const report = (k: number, result: PartitionStatus, stopped?: 'deadline' | 'memory'): PartitionReport => {
    const s = searches[k];
    return {
      index: indices[k],
      label: labels[k],
      operations: parts[k].length,
      result,
      ...(stopped !== undefined ? { stopped } : {}),
      steps: s.steps,
      memoStates: s.memoStates,
      elapsedMs: s.elapsedMs,
    };
  };
  // Everything not finished ends with the same status.
  const finishRest = (result: PartitionStatus, stopped?: 'deadline' | 'memory'): void => {
    for (let k = 0; k < parts.length; k++) if (results[k] === undefined) results[k] = { report: report(k, result, stopped) };
  };

  let active = parts.map((_, k) => k);
  let memoTotal = 0;
  outer: while (active.length > 0) {
    const still: number[] = [];
    for (const k of active) {
      const s = searches[k];
      const before = s.memoStates;
      const status = s.run(slice, limits);
      memoTotal += s.memoStates - before;
      if (status === 'ok') {
        results[k] = { report: report(k, 'ok') };
      } else if (status === 'illegal') {
        results[k] = {
          report: report(k, 'illegal'),
          illegal: explainIllegal(model, parts[k], indices[k], labels[k], s.longest),
        };
        if (stopOnIllegal) {
          if (options.cancel !== undefined) Atomics.store(options.cancel, 0, 1);
          finishRest('skipped');
          break outer;
        }
      } else if (status === 'deadline') {
        finishRest('unknown', 'deadline');
        break outer;
      } else if (status === 'cancel') {
        // Another thread found an illegal partition (the only reason to raise the flag).
        finishRest('skipped');
        break outer;
      } else {
        still.push(k);
      }
      if (memoTotal > maxMemo) {
        finishRest('unknown', 'memory');
        break outer;
      }
    }
    active = still;
  }
  return results as PartitionCheck<I, O>[];
}

/** Split a validated history with the model's partition function (one part by default). */
export function partitionHistory<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
): Operation<I, O>[][] {
  if (history.length === 0) return [];
  return model.partition ? model.partition(history).filter((p) => p.length > 0) : [history.slice()];
}

/** Overall verdict: illegal if any part is, else unknown if any part is, else ok. */
export function combine(reports: readonly PartitionReport[]): Verdict {
  if (reports.some((r) => r.result === 'illegal')) return 'illegal';
  if (reports.some((r) => r.result === 'unknown' || r.result === 'skipped')) return 'unknown';
  return 'ok';
}

export function deadlineFrom(timeoutMs: number | undefined): number {
  if (timeoutMs === undefined || timeoutMs <= 0 || !Number.isFinite(timeoutMs)) return Infinity;
  return Date.now() + timeoutMs;
}

/** Assemble a result from per-partition checks (any order); the lowest illegal index explains. */
export function assemble<I, O>(
  checks: readonly PartitionCheck<I, O>[],
  t0: number,
  mode: 'sync' | 'pool',
): CheckResult<I, O> {
  const reports = checks.map((c) => c.report).sort((a, b) => a.index - b.index);
  let illegal: IllegalExplanation<I, O> | undefined;
  for (const c of checks) {
    if (c.illegal !== undefined && (illegal === undefined || c.illegal.partition < illegal.partition)) {
      illegal = c.illegal;
    }
  }
  const result = combine(reports);
  const elapsedMs = performance.now() - t0;
  return illegal !== undefined
    ? { result, partitions: reports, illegal, elapsedMs, mode }
    : { result, partitions: reports, elapsedMs, mode };
}

/**
 * Check a history against a model in this thread (partitions interleaved, see checkPartitions).
 * Throws `HistoryError` for a malformed history.
 */
export function checkOperations<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  options: CheckOptions = {},
): CheckResult<I, O> {
  const t0 = performance.now();
  validateHistory(history);
  const parts = partitionHistory(model, history);
  const checks = checkPartitions(model, parts, {
    deadline: deadlineFrom(options.timeoutMs),
    ...(options.stopOnIllegal !== undefined ? { stopOnIllegal: options.stopOnIllegal } : {}),
    ...(options.maxMemoStates !== undefined ? { maxMemoStates: options.maxMemoStates } : {}),
  });
  return assemble(checks, t0, 'sync');
}

/** `checkOperations` for an event history (calls and returns in order, matched by id). */
export function checkEvents<S, I, O>(
  model: Model<S, I, O>,
  events: readonly Event<I, O>[],
  options: CheckOptions = {},
): CheckResult<I, O> {
  return checkOperations(model, eventsToOperations(events), options);
}
