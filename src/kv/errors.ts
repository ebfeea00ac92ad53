/**
 * The errors the KV store throws, on top of raftwork's own (src/errors.ts): each says what
 * happened, whether the operation may have taken effect, and what to do; `code` tells them apart.
 */
import { ClosedError, RaftworkError } from '../errors.js';

/**
 * No leader could serve the operation within timeoutMs: too few peers are running or can reach
 * each other. `outcome` is 'unknown' for a write (it may still be applied later, once), and
 * 'not-applied' for a read.
 */
export class NoQuorumError extends RaftworkError {
  override name = 'NoQuorumError';
  constructor(
    readonly operation: string,
    readonly timeoutMs: number,
    /** Peers that answered any request within the last timeoutMs (a leader without a quorum may hold requests unanswered). */
    readonly reachable: readonly number[],
    /** Peers whose worker is running. */
    readonly running: readonly number[],
    readonly peers: number,
    readonly outcome: 'unknown' | 'not-applied',
  ) {
    const need = Math.floor(peers / 2) + 1;
    super(
      'ENOQUORUM',
      `${operation}: no quorum for ${timeoutMs} ms: ${running.length} of ${peers} peers running${list(running)}, ` +
        `${reachable.length} of them answering${list(reachable)}; a leader needs ${need} peers that run and reach each other. ` +
        (outcome === 'unknown'
          ? 'The write may or may not have been applied (it will not be applied twice); read the key to find out.'
          : 'Nothing was read.'),
    );
  }
}

function list(peers: readonly number[]): string {
  return peers.length > 0 ? ` (${peers.join(', ')})` : '';
}

/** The store was closed. */
export class StoreClosedError extends ClosedError {
  override name = 'StoreClosedError';
  constructor(what: string) {
    super(what);
    this.message = `${what}: the store is closed; open it again with openStore()`;
  }
}

/** A key or value is larger than the store accepts. Nothing was written. */
export class SizeLimitError extends RaftworkError {
  override name = 'SizeLimitError';
  constructor(
    readonly what: 'key' | 'value',
    readonly bytes: number,
    readonly limit: number,
    message: string,
  ) {
    super('ETOOLARGE', message);
  }
}

/** append() of a string to a Uint8Array value or the reverse. Nothing was written. */
export class TypeMismatchError extends RaftworkError {
  override name = 'TypeMismatchError';
  constructor(key: string) {
    super('ETYPE', `append(${JSON.stringify(key)}): the stored value and the appended one differ in type (string vs Uint8Array); append the type that is stored`);
  }
}

/**
 * The client's session expired (it was idle for longer than sessionTimeoutMs) while it had a
 * write in flight: the write was not applied. Use a new client (store.client()).
 */
export class SessionExpiredError extends RaftworkError {
  override name = 'SessionExpiredError';
  constructor(operation: string) {
    super('ESESSION', `${operation}: this client's session expired (idle longer than sessionTimeoutMs); the write was not applied; use a new client from store.client()`);
  }
}
