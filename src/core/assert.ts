/** Thrown when an internal invariant of the core is broken: always a bug in raftwork. */
export class InvariantError extends Error {
  override name = 'InvariantError';
}

export function assert(cond: boolean, message: string): asserts cond {
  if (!cond) throw new InvariantError(message);
}
