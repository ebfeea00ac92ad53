import type { Entry, HardState, Snapshot, SnapshotMeta } from '../core/types.js';
import { LmdbLogStore } from '../storage/lmdb-store.js';
import { MemoryLogStore } from '../storage/memory-store.js';
import type { PeerBoot } from './protocol.js';

/** The storage a peer worker uses: what the driver writes, plus loading at start. */
export interface PeerStore {
  load(): Promise<{ hardState: HardState; snapshot: SnapshotMeta | null; entries: Entry[] }>;
  readSnapshot(): Promise<Snapshot | null>;
  write(batch: { hardState: HardState | null; snapshot: Snapshot | null; entries: readonly Entry[] }): Promise<void>;
  compact(snapshot: Snapshot): Promise<void>;
  close(): Promise<void>;
}

export async function openPeerStore(boot: PeerBoot): Promise<PeerStore> {
  if (boot.storage === 'memory') return new MemoryLogStore();
  if (!boot.dir) throw new Error(`peer ${boot.id}: storage 'lmdb' needs a directory`);
  return LmdbLogStore.open({
    path: boot.dir,
    identity: { clusterId: boot.clusterId, peers: boot.peers, peerIndex: boot.id, format: 1 },
    sync: boot.sync,
  });
}
