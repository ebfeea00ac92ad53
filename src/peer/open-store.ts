import type { LogStore } from '../storage/log-store.js';
import { LmdbLogStore } from '../storage/lmdb-store.js';
import { MemoryLogStore } from '../storage/memory-store.js';
import type { PeerBoot } from './protocol.js';

export async function openPeerStore(boot: PeerBoot): Promise<LogStore> {
  if (boot.storage === 'memory') return new MemoryLogStore();
  if (!boot.dir) throw new Error(`peer ${boot.id}: storage 'lmdb' needs a directory`);
  return LmdbLogStore.open({
    path: boot.dir,
    identity: { clusterId: boot.clusterId, peers: boot.peers, peerIndex: boot.id, format: 1 },
    sync: boot.sync,
  });
}
