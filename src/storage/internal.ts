/**
 * Rules both LogStore implementations share, so they fail the same way on the same input:
 * batch validation, identity checks and aux key/name rules. Not exported from the package.
 */
import { randomUUID } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';
import type { Entry, HardState } from '../core/types.js';
import {
  MAX_AUX_KEY_BYTES,
  StorageError,
  type ClusterIdentity,
  type IdentityRequest,
  type WriteBatch,
} from './log-store.js';

export const EMPTY_HARD_STATE: HardState = Object.freeze({ currentTerm: 0, votedFor: -1 });

/** Where a store's log stands, as far as issued writes go. */
export interface LogBounds {
  /** Index of the snapshot (0: none). */
  readonly snapIndex: number;
  /** Last index in the log; equals snapIndex when no entry follows the snapshot. */
  readonly lastIndex: number;
}

function isTerm(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

/**
 * Throws StorageError('invalid-write') unless `batch` keeps the log contiguous:
 * entries[0].index must lie in [S+1, max(L, S)+1] where S is the snapshot index after the
 * batch's snapshot (if any) and L the current last index. Runs before anything is staged, so a
 * rejected batch writes nothing. Cost: one pass over the entries, no allocation.
 */
export function validateBatch(where: string, bounds: LogBounds, batch: WriteBatch): void {
  const { hardState, snapshot, entries } = batch;
  if (hardState !== null) {
    if (!isTerm(hardState.currentTerm) || !Number.isSafeInteger(hardState.votedFor) || hardState.votedFor < -1) {
      throw invalid(where, `hard state ${JSON.stringify(hardState)} is not {currentTerm >= 0, votedFor >= -1}`);
    }
  }
  let snapIndex = bounds.snapIndex;
  let lastIndex = bounds.lastIndex;
  if (snapshot !== null) {
    if (!isTerm(snapshot.index) || !isTerm(snapshot.term) || !(snapshot.data instanceof Uint8Array)) {
      throw invalid(where, `snapshot {index: ${snapshot.index}, term: ${snapshot.term}} is malformed`);
    }
    if (snapshot.index < snapIndex) {
      throw invalid(where, `snapshot at ${snapshot.index} is older than the stored one at ${snapIndex}`);
    }
    snapIndex = snapshot.index;
    lastIndex = Math.max(lastIndex, snapIndex);
  }
  if (entries.length > 0) {
    const first = entries[0]!.index;
    if (!Number.isSafeInteger(first) || first <= snapIndex || first > lastIndex + 1) {
      throw invalid(
        where,
        `entries starting at ${first} would leave a gap or overwrite the snapshot (snapshot ${snapIndex}, last index ${lastIndex}); they must start in ${snapIndex + 1}..${lastIndex + 1}`,
      );
    }
    for (let k = 0; k < entries.length; k++) checkEntry(where, entries[k]!, first + k);
  }
}

function checkEntry(where: string, e: Entry, index: number): void {
  if (e.index !== index) throw invalid(where, `entry ${e.index} where ${index} was expected: entries must be contiguous`);
  if (!isTerm(e.term)) throw invalid(where, `entry ${index} has term ${e.term}`);
  if (e.kind !== 0 && e.kind !== 1) throw invalid(where, `entry ${index} has unknown kind ${String(e.kind)}`);
  if (!(e.data instanceof Uint8Array)) throw invalid(where, `entry ${index} data is not a Uint8Array`);
}

function invalid(where: string, what: string): StorageError {
  return new StorageError('invalid-write', `${where}: ${what}; nothing was written (this is a bug in the caller)`);
}

/** Validates what a caller passed to open(); throws InvalidArgumentError. */
export function checkIdentityRequest(req: IdentityRequest): void {
  if (!Number.isSafeInteger(req.peers) || req.peers < 1) {
    throw new InvalidArgumentError(`identity.peers must be a positive integer, got ${String(req.peers)}`);
  }
  if (!Number.isSafeInteger(req.peerIndex) || req.peerIndex < 0 || req.peerIndex >= req.peers) {
    throw new InvalidArgumentError(`identity.peerIndex must be in 0..${req.peers - 1}, got ${String(req.peerIndex)}`);
  }
  if (req.clusterId !== undefined && (typeof req.clusterId !== 'string' || req.clusterId.length === 0)) {
    throw new InvalidArgumentError('identity.clusterId must be a non-empty string when given');
  }
  if (req.format !== undefined && req.format !== 1) {
    throw new InvalidArgumentError(`identity.format must be 1, got ${String(req.format)}`);
  }
}

/** The identity to stamp on a new store. */
export function newIdentity(req: IdentityRequest): ClusterIdentity {
  return { clusterId: req.clusterId ?? randomUUID(), peers: req.peers, peerIndex: req.peerIndex, format: 1 };
}

/** Throws StorageError('identity-mismatch') when a stored identity disagrees with the caller's. */
export function checkIdentity(where: string, stored: ClusterIdentity, req: IdentityRequest): void {
  if (stored.peers !== req.peers) {
    throw new StorageError(
      'identity-mismatch',
      `${where} was created for a ${stored.peers}-peer cluster but opened for ${req.peers}; use a fresh dataDir or the same peers`,
    );
  }
  if (stored.peerIndex !== req.peerIndex) {
    throw new StorageError(
      'identity-mismatch',
      `${where} holds peer ${stored.peerIndex} of its cluster but was opened as peer ${req.peerIndex}; give every peer its own directory back (were two swapped?) or use a fresh dataDir`,
    );
  }
  if (req.clusterId !== undefined && req.clusterId !== stored.clusterId) {
    throw new StorageError(
      'identity-mismatch',
      `${where} belongs to cluster ${stored.clusterId} but was opened for cluster ${req.clusterId}; use a fresh dataDir or the directory of that cluster`,
    );
  }
}

/** Decodes a stored identity record; throws StorageError('corrupted' | 'unknown-format'). */
export function parseIdentity(where: string, bytes: Uint8Array): ClusterIdentity {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    throw corruptedRecord(where, 'identity', 'it is not valid JSON');
  }
  if (typeof v !== 'object' || v === null) throw corruptedRecord(where, 'identity', 'it is not an object');
  const o = v as Record<string, unknown>;
  if (typeof o['format'] === 'number' && o['format'] !== 1) {
    throw new StorageError(
      'unknown-format',
      `${where} was written in raftwork store format ${o['format']}, this version reads format 1; open it with the raftwork version that wrote it`,
    );
  }
  const { clusterId, peers, peerIndex, format } = o;
  if (
    format !== 1 ||
    typeof clusterId !== 'string' ||
    clusterId.length === 0 ||
    typeof peers !== 'number' ||
    !Number.isSafeInteger(peers) ||
    peers < 1 ||
    typeof peerIndex !== 'number' ||
    !Number.isSafeInteger(peerIndex) ||
    peerIndex < 0 ||
    peerIndex >= peers
  ) {
    throw corruptedRecord(where, 'identity', 'its fields are missing or out of range');
  }
  return { clusterId, peers, peerIndex, format: 1 };
}

export function encodeIdentity(id: ClusterIdentity): Buffer {
  return Buffer.from(JSON.stringify({ clusterId: id.clusterId, peers: id.peers, peerIndex: id.peerIndex, format: id.format }));
}

export function corruptedRecord(where: string, record: string, what: string): StorageError {
  return corrupted(where, `the ${record} record is corrupted (${what})`);
}

/** StorageError('corrupted'): `what` says which record and how, the rest says what to do. */
export function corrupted(where: string, what: string): StorageError {
  return new StorageError(
    'corrupted',
    `${where}: ${what}; the store cannot be trusted: restore the directory from a backup, or replace this peer with a fresh dataDir and let the cluster catch it up`,
  );
}

const TABLE_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

export function checkTableName(name: string): void {
  if (typeof name !== 'string' || !TABLE_NAME.test(name)) {
    throw new InvalidArgumentError(`aux table name ${JSON.stringify(name)} must match ${TABLE_NAME.source}`);
  }
}

/** An aux key as bytes (strings as UTF-8), checked against LMDB's key size limit. */
export function auxKeyBytes(key: string | Uint8Array): Uint8Array {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  if (!(bytes instanceof Uint8Array) || bytes.length === 0 || bytes.length > MAX_AUX_KEY_BYTES) {
    throw new InvalidArgumentError(`an aux key must be 1..${MAX_AUX_KEY_BYTES} bytes (a string or Uint8Array)`);
  }
  return bytes;
}

export function checkAuxValue(value: Uint8Array): void {
  if (!(value instanceof Uint8Array)) throw new InvalidArgumentError('an aux value must be a Uint8Array');
}

export function checkChunkArgs(offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new InvalidArgumentError(`readSnapshotChunk(${offset}, ${length}): offset and length must be non-negative integers`);
  }
}
