/** Durable storage of a peer: the LogStore contract and its two implementations. */
export {
  ENTRY_OVERHEAD_BYTES,
  MAX_AUX_KEY_BYTES,
  StorageError,
  type AuxRangeOptions,
  type AuxTable,
  type AuxWriter,
  type AuxWrites,
  type ClusterIdentity,
  type IdentityRequest,
  type LoadedState,
  type LogStore,
  type SnapshotChunk,
  type StorageErrorReason,
  type WriteBatch,
} from './log-store.js';
export { LmdbLogStore, SNAPSHOT_CHUNK_BYTES, type LmdbDurability, type LmdbLogStoreOptions } from './lmdb-store.js';
export { MemoryBacking, MemoryLogStore, type MemoryLogStoreOptions, type MemoryState, type LogVersion } from './memory-store.js';
