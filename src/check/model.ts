/**
 * The vocabulary of the linearizability checker: histories and sequential models.
 *
 * A history is a set of operations, each observed by one client between the moment it was
 * invoked (`call`) and the moment its result came back (`return`). It is linearizable for a
 * model when some total order of the operations (1) respects real time: an operation that
 * returned before another was called comes first, and (2) is a legal sequential run of the model:
 * `step` accepts every (input, output) pair in that order.
 *
 * Everything here is plain data so a history can cross a worker boundary by structured clone.
 */

/** One completed (or indeterminate) operation as a client saw it. */
export interface Operation<I, O> {
  /** Which client issued it. Only for reports: the checker orders by time, not by client. */
  readonly clientId: number;
  readonly input: I;
  /** Invocation time. Any unit, any origin; only the order of timestamps matters. */
  readonly call: number;
  readonly output: O;
  /**
   * Completion time, `>= call`. `Infinity` for an operation whose outcome is unknown (a timeout,
   * Jepsen's `:info`): it may then take effect at any point after its call, or, since it can be
   * placed after everything else, effectively never.
   */
  readonly return: number;
}

/**
 * The event form of a history: calls and returns in the order they happened, matched by `id`.
 * Useful when a recorder has no clock, only an order. Times are taken from the positions.
 */
export type Event<I, O> =
  | { readonly clientId: number; readonly kind: 'call'; readonly id: number; readonly value: I }
  | { readonly clientId: number; readonly kind: 'return'; readonly id: number; readonly value: O };

/**
 * A sequential specification. `State` values must be treated as immutable: `step` returns a new
 * state (or the same one when nothing changed) and never mutates its argument, because the search
 * keeps old states to backtrack to.
 */
export interface Model<State, Input, Output> {
  /** The state before any operation. */
  init(): State;
  /**
   * Apply one operation. Returns whether `output` is a legal result of `input` in `state`, and
   * the state after it. The second element is ignored when the first is false.
   */
  step(state: State, input: Input, output: Output): readonly [boolean, State];
  /** State equality. Must agree with `hash`: equal states have equal hashes. */
  equal(a: State, b: State): boolean;
  /**
   * Identifies the state for memoization: a string, or a 32-bit integer (taken as `h | 0`), which
   * is much cheaper when states are long strings that would otherwise be hashed in full at every
   * step. Collisions are allowed (the checker confirms with `equal`), but fewer collisions mean
   * less work. Returning the state itself, when it is a short string, is ideal.
   */
  hash(state: State): string | number;
  /**
   * Promise that equal hashes mean equal states, so the memo can skip `equal` on a hit (a real
   * saving when states are long strings). Default false.
   */
  readonly exactHash?: boolean;
  /**
   * Split a history into independent sub-histories (for a key-value store: one per key). The
   * whole history is linearizable iff every part is. Default: one part.
   */
  partition?(history: readonly Operation<Input, Output>[]): Operation<Input, Output>[][];
  /**
   * A search heuristic, never a verdict: a rank per operation of one part (lower ranks are tried
   * first among operations that may take effect at the same point), or null for none. A history
   * is linearizable or not whatever the ranks say; good ranks only let the search find the
   * linearization without guessing, which matters when the state cannot refute a wrong guess
   * until much later (a run of concurrent appends that no read observes).
   */
  tryOrder?(part: readonly Operation<Input, Output>[]): ArrayLike<number> | null;
  /**
   * A pruning rule for one part, or null for none: `guard(before, after)` is false for a legal
   * step that no linearization of this part can contain, so the search drops it at once instead
   * of finding out many steps later. It must be sound, that is hold for every step of every
   * linearization of the part; then verdicts are unchanged. (On a key with only gets and
   * appends, every state of every linearization is a prefix of the longest value read, or
   * extends it.)
   */
  guard?(part: readonly Operation<Input, Output>[]): ((before: State, after: State) => boolean) | null;
  /** A short label for a part returned by `partition`, such as `key "3"`, for reports. */
  describePartition?(part: readonly Operation<Input, Output>[]): string;
  describeOperation(input: Input, output: Output): string;
  describeState?(state: State): string;
}

/** The checker's verdict: `unknown` when it ran out of time (or was cancelled) before deciding. */
export type Verdict = 'ok' | 'illegal' | 'unknown';

/** Raised for a malformed history: the checker refuses to guess what it meant. */
export class HistoryError extends Error {
  override readonly name = 'HistoryError';
}

/**
 * Reject histories the search cannot give a meaningful answer for: non-numeric or NaN times,
 * an infinite call, or a return before its call. Cheap (one pass), so every entry point runs it.
 */
export function validateHistory(history: readonly Operation<unknown, unknown>[]): void {
  if (!Array.isArray(history)) throw new HistoryError('history must be an array of operations');
  for (let i = 0; i < history.length; i++) {
    const op = history[i];
    if (op === null || typeof op !== 'object') {
      throw new HistoryError(`operation #${i} is not an object`);
    }
    const { call, return: ret } = op;
    if (typeof call !== 'number' || !Number.isFinite(call)) {
      throw new HistoryError(`operation #${i} (client ${op.clientId}): call time ${String(call)} is not a finite number`);
    }
    if (typeof ret !== 'number' || Number.isNaN(ret)) {
      throw new HistoryError(`operation #${i} (client ${op.clientId}): return time ${String(ret)} is not a number`);
    }
    if (ret < call) {
      throw new HistoryError(
        `operation #${i} (client ${op.clientId}): returns at ${ret}, before its call at ${call}`,
      );
    }
  }
}

/**
 * Turn an event history into operations, using each event's position as its time.
 * Every call must have exactly one return after it, and ids must be unique per operation.
 */
export function eventsToOperations<I, O>(events: readonly Event<I, O>[]): Operation<I, O>[] {
  const open = new Map<number, { clientId: number; input: I; call: number }>();
  const done = new Set<number>();
  const ops: Operation<I, O>[] = [];
  for (let t = 0; t < events.length; t++) {
    const e = events[t];
    if (e.kind === 'call') {
      if (open.has(e.id) || done.has(e.id)) throw new HistoryError(`event #${t}: id ${e.id} is called twice`);
      open.set(e.id, { clientId: e.clientId, input: e.value, call: t });
    } else if (e.kind === 'return') {
      const c = open.get(e.id);
      if (c === undefined) throw new HistoryError(`event #${t}: return for id ${e.id} without an open call`);
      open.delete(e.id);
      done.add(e.id);
      ops.push({ clientId: c.clientId, input: c.input, call: c.call, output: e.value, return: t });
    } else {
      throw new HistoryError(`event #${t}: kind must be 'call' or 'return'`);
    }
  }
  if (open.size > 0) {
    const ids = [...open.keys()].slice(0, 5).join(', ');
    throw new HistoryError(
      `${open.size} call(s) without a return (ids ${ids}${open.size > 5 ? ', ...' : ''}); ` +
        'give an indeterminate operation a return event with an "unknown" output, or use the ' +
        'operation form with return = Infinity',
    );
  }
  return ops;
}
