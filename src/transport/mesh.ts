/**
 * The MessageChannels between peers, made on the main thread: one channel per
 * unordered pair, one port to each side. Each peer's ports travel to its worker
 * (in workerData, listed in transferList) and go into its Endpoint.
 *
 * A MessagePort dies with the worker holding it, and its partner port then
 * closes too. When a crashed peer is restarted, `rewire(peer)` makes fresh
 * channels between it and every other peer: the new worker gets `forPeer`, and
 * each other peer j gets `forOthers[j]`, to hand to `Endpoint.attach(peer, port)`.
 */

import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { PeerId } from '../core/types.js';

/** Ports indexed by the peer at the other end; the peer's own slot is undefined. */
export type PeerPorts = (MessagePort | undefined)[];

/** Channels for a whole cluster: `result[i][j]` is peer i's port to peer j. */
export function createMesh(peers: number): PeerPorts[] {
  const ports: PeerPorts[] = Array.from({ length: peers }, () => new Array<MessagePort | undefined>(peers).fill(undefined));
  for (let i = 0; i < peers; i++) {
    for (let j = i + 1; j < peers; j++) {
      const ch = new MessageChannel();
      ports[i]![j] = ch.port1;
      ports[j]![i] = ch.port2;
    }
  }
  return ports;
}

export interface Rewired {
  /** The restarted peer's ports, indexed by the other peer. */
  readonly forPeer: PeerPorts;
  /** forOthers[j]: peer j's new port to the restarted peer (undefined at the peer itself). */
  readonly forOthers: PeerPorts;
}

/** Fresh channels between `peer` and every other peer, for a restart. */
export function rewire(peer: PeerId, peers: number): Rewired {
  if (!(Number.isInteger(peer) && peer >= 0 && peer < peers)) {
    throw new RangeError(`rewire: peer ${peer} is not in [0, ${peers})`);
  }
  const forPeer: PeerPorts = new Array<MessagePort | undefined>(peers).fill(undefined);
  const forOthers: PeerPorts = new Array<MessagePort | undefined>(peers).fill(undefined);
  for (let j = 0; j < peers; j++) {
    if (j === peer) continue;
    const ch = new MessageChannel();
    forPeer[j] = ch.port1;
    forOthers[j] = ch.port2;
  }
  return { forPeer, forOthers };
}
