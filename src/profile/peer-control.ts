import type { Remote } from 'comlink';
import type { Cluster } from '../cluster/cluster.js';
import type { PeerControl } from '../peer/protocol.js';

/**
 * The control plane of peer i's current worker, for the profiler's calls (startProfile,
 * startStages, ...), which the public Cluster does not expose.
 *
 * A stopgap: it reads the Cluster's private slot table at run time. It belongs in the Cluster
 * itself (for example `cluster.profile(i)` returning these calls); until then this is the only
 * place that knows the Cluster's internals, and it fails with a clear message if they change.
 */
export function peerControl(cluster: Cluster, i: number): Remote<PeerControl> {
  const slots = (cluster as unknown as { slots?: readonly { readonly remote?: Remote<PeerControl> | null }[] }).slots;
  if (!Array.isArray(slots)) throw new Error('raftwork profiler: Cluster no longer keeps its peers in `slots`; update src/profile/peer-control.ts');
  const remote = slots[i]?.remote;
  if (!remote) throw new Error(`raftwork profiler: peer ${i} is not running`);
  return remote;
}
