/**
 * raftwork's public entry point.
 */
export { Cluster, type ApplyListener, type ApplyMsg, type ClusterStats, type PeerProfiler } from './cluster/cluster.js';
export type { ClusterOptions } from './cluster/options.js';
export type { PeerState, ProposeReply } from './peer/protocol.js';
export type { NetworkOptions } from './transport/fault-table.js';
export { RaftworkError, InvalidArgumentError, PeerDownError, ClosedError, DataDirError } from './errors.js';
export { StorageError } from './storage/log-store.js';
export {
  openStore,
  Store,
  KvClient,
  NoQuorumError,
  SessionExpiredError,
  SizeLimitError,
  StoreClosedError,
  TypeMismatchError,
  MAX_KEY_BYTES,
  type StoreOptions,
  type PeerStoreStats,
  type ReadConsistency,
  type ReadOptions,
  type ScanOptions,
  type Value,
} from './kv/index.js';
