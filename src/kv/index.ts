/** The embedded fault-tolerant key-value store. */
export { openStore, Store, STORE_MARKER, type StoreOptions, type PeerStoreStats } from './store.js';
export { KvClient, type ReadConsistency, type ReadOptions, type ScanOptions, type Value } from './client.js';
export { NoQuorumError, SessionExpiredError, SizeLimitError, StoreClosedError, TypeMismatchError } from './errors.js';
export { MAX_KEY_BYTES, MAX_STORED_VALUE_BYTES } from './state-machine.js';
export type { KvServiceStats } from './service.js';
