import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { ClosedError, InvalidArgumentError, PeerDownError, RaftworkError } from '../errors.js';
import { decodeApplied } from '../peer/apply-stream.js';
import { decodeCommand, encodeCommand, packCommandValues } from './command-codec.js';
import { DownGuard } from './down-guard.js';
import type { PeerBoot, PeerControl, PeerState, ProposeReply } from '../peer/protocol.js';
import type { StageDump } from '../profile/stage-log.js';
import { FaultTable, type NetworkOptions } from '../transport/fault-table.js';
import { prepareDataDir, probePeerStores, removeDataDir, type DataDir } from './data-dir.js';
import { resolveOptions, type ClusterOptions, type ResolvedOptions } from './options.js';

export type { ClusterOptions } from './options.js';

/** What a peer applies, in index order: a command, or (first, after a restart) a snapshot. */
export type ApplyMsg =
  | { readonly type: 'entry'; readonly index: number; readonly term: number; readonly command: unknown }
  | { readonly type: 'snapshot'; readonly index: number; readonly term: number; readonly data: Uint8Array };
export type { PeerState, ProposeReply } from '../peer/protocol.js';

export type ApplyListener = (peer: number, msg: ApplyMsg) => void;

/** The profiling calls of one peer's current worker (Cluster.profiler). */
export interface PeerProfiler {
  startProfile(intervalUs: number): Promise<void>;
  /** The .cpuprofile JSON. */
  stopProfile(): Promise<string>;
  /** Starts stage timestamps on the clock of the thread whose timeOrigin is `epochMs`; returns the worker's "now". */
  startStages(epochMs: number): Promise<number>;
  stopStages(): Promise<StageDump | null>;
  /** The worker's OS thread id (src/profile/thread-stats.ts), or null off Linux. */
  osThreadId(): Promise<number | null>;
}

export interface ClusterStats {
  /** RPC requests (RequestVote, AppendEntries, InstallSnapshot) sent by each peer, as 6.824 counts them. */
  readonly rpcs: number[];
  /** Payload bytes of all requests and replies sent. */
  readonly bytes: number;
  /** Bytes of log each peer keeps (its last known size while it is down). */
  readonly logBytes: number[];
}

/** One peer as the main thread sees it: the worker of its current incarnation and its state. */
interface PeerSlot {
  readonly id: number;
  /** Bumped at every crash and restart; apply messages of an older life are ignored. */
  life: number;
  up: boolean;
  worker: Worker | null;
  remote: Comlink.Remote<PeerControl> | null;
  applyPort: MessagePort | null;
  /** Fails this incarnation's calls in flight when it goes down, so they do not hang. */
  calls: DownGuard;
  lastLogBytes: number;
}

const WORKER_URL = new URL('../peer/worker.js', import.meta.url);

/**
 * An applied command. Decoding it is deferred to the first read of `command`: every peer's apply
 * stream reaches the main thread, and most listeners read only some of it.
 */
/**
 * An applied entry as listeners see it. The command's bytes stay a range of the batch buffer
 * until a listener reads `command`, which decodes them once.
 */
class AppliedEntry {
  readonly type = 'entry' as const;
  private decoded = false;
  private value: unknown;
  constructor(
    readonly index: number,
    readonly term: number,
    private readonly buf: Uint8Array,
    private readonly start: number,
    private readonly end: number,
  ) {}
  get command(): unknown {
    if (!this.decoded) {
      this.value = decodeCommand(this.buf.subarray(this.start, this.end));
      this.decoded = true;
    }
    return this.value;
  }
}

const appliedEntry = (index: number, term: number, buf: Uint8Array, start: number, end: number): AppliedEntry =>
  new AppliedEntry(index, term, buf, start, end);

/**
 * A Raft cluster of N peers, each in its own worker thread, talking over MessagePorts through a
 * fault-injecting network, each durable in its own LMDB environment.
 *
 * Link state (connect, disconnect, partition) and process state (crash, restart) are kept
 * separately: a link carries messages only when the user has it up and both ends are running.
 * The effective links are written to the shared fault table, which every peer reads before each
 * send and after each receive, so a change takes effect before the call that made it returns.
 */
export class Cluster {
  readonly peers: number;
  readonly dataDir: string | null;
  private readonly opts: ResolvedOptions;
  private readonly faults: FaultTable;
  private readonly slots: PeerSlot[];
  /** userLinks[a][b]: partitions and one-way cuts leave a -> b up. */
  private readonly userLinks: boolean[][];
  /** connected[i]: peer i is not disconnect()ed. */
  private readonly connected: boolean[];
  /** Apply batches that arrived before anyone subscribed (start() resolves after peers may commit). */
  private earlyApplies: { peer: number; life: number; buf: Uint8Array }[] | null = [];
  private earlyBytes = 0;
  private readonly listeners = new Set<ApplyListener>();
  private readonly dir: DataDir | null;
  private closed = false;
  /** Restarts run one at a time: each wires its new worker to the peers running at that moment. */
  private restarting: Promise<void> = Promise.resolve();

  private constructor(opts: ResolvedOptions, dir: DataDir | null) {
    this.opts = opts;
    this.peers = opts.peers;
    this.dir = dir;
    this.dataDir = dir?.path ?? null;
    this.faults = new FaultTable(opts.peers);
    this.userLinks = Array.from({ length: opts.peers }, () => new Array<boolean>(opts.peers).fill(true));
    this.connected = new Array<boolean>(opts.peers).fill(true);
    this.slots = Array.from({ length: opts.peers }, (_, id) => newSlot(id));
  }

  /** Starts every peer and resolves once all have opened their storage. */
  static async start(options: ClusterOptions): Promise<Cluster> {
    const opts = resolveOptions(options);
    const dir = opts.storage === 'lmdb' ? await prepareDataDir(opts.dataDir, opts.peers, opts.keepData) : null;
    if (dir !== null) await probePeerStores(dir, opts.peers);
    const cluster = new Cluster(opts, dir);
    try {
      await cluster.spawnAll();
    } catch (err) {
      await cluster.close().catch(() => undefined);
      throw err;
    }
    return cluster;
  }

  // ------------------------------------------------------------------ the service's calls

  /**
   * Appends `command` (any structured-cloneable value) to peer i's log if it leads. Returns at
   * once, as 6.824's Start(): never waits for the commit; index -1 and isLeader false otherwise.
   */
  async propose(i: number, command: unknown): Promise<ProposeReply> {
    const bytes = encodeCommand(command, 'propose');
    return this.call(i, 'propose', (r) => r.propose(bytes));
  }

  /**
   * Appends many commands in one call (one message to the worker, one log append): the fast path
   * when a caller has many commands ready. Returns the first command's index; the others follow it.
   */
  async proposeBatch(i: number, commands: readonly unknown[]): Promise<ProposeReply> {
    if (!Array.isArray(commands)) throw new InvalidArgumentError('proposeBatch needs an array of commands');
    const packed = packCommandValues(commands, 'proposeBatch');
    return this.call(i, 'proposeBatch', (r) => r.proposePacked(Comlink.transfer(packed, [packed.buffer])));
  }

  async state(i: number): Promise<PeerState> {
    return this.call(i, 'state', (r) => r.state());
  }

  /** Subscribes to every peer's apply stream; returns the function that unsubscribes. */
  onApply(listener: ApplyListener): () => void {
    if (typeof listener !== 'function') throw new InvalidArgumentError('onApply needs a function (peer, msg) => void');
    this.listeners.add(listener);
    const early = this.earlyApplies;
    if (early) {
      // Peers may commit and apply before start() resolves: the first subscriber gets all of it.
      this.earlyApplies = null;
      for (const { peer, life, buf } of early) if (this.slots[peer]!.life === life) this.deliver(peer, buf);
    }
    return () => this.listeners.delete(listener);
  }

  /** The service's state up to `index` on peer i; the peer may discard its log up to it. */
  async snapshot(i: number, index: number, data: Uint8Array): Promise<void> {
    if (!Number.isSafeInteger(index) || index < 0) throw new InvalidArgumentError(`snapshot index must be a non-negative integer, got ${String(index)}`);
    if (!(data instanceof Uint8Array)) throw new InvalidArgumentError('snapshot data must be a Uint8Array');
    return this.call(i, 'snapshot', (r) => r.snapshot(index, data)).catch((err: unknown) => {
      if (err instanceof RaftworkError) throw err;
      throw new InvalidArgumentError(`snapshot(${i}, ${index}): ${(err as Error).message}`);
    });
  }

  /**
   * Peer i's profiling calls (the CPU profiler and the hot path's stage timestamps), for
   * `npm run profile` and tools like it. Each call rejects if the peer goes down meanwhile.
   */
  profiler(i: number): PeerProfiler {
    this.checkPeer(i, 'profiler');
    return {
      startProfile: (intervalUs) => this.call(i, 'startProfile', (r) => r.startProfile(intervalUs)),
      stopProfile: () => this.call(i, 'stopProfile', (r) => r.stopProfile()),
      startStages: (epochMs) => this.call(i, 'startStages', (r) => r.startStages(epochMs)),
      stopStages: () => this.call(i, 'stopStages', (r) => r.stopStages()),
      osThreadId: () => this.call(i, 'osThreadId', (r) => r.osThreadId()),
    };
  }

  /** Calls the hosted service on peer i (Cluster.start({ service })). */
  async callService(i: number, request: unknown): Promise<unknown> {
    return this.call(i, 'callService', (r) => r.callService(request));
  }

  /** Hands the hosted service on peer i a port for its own traffic. */
  async connectService(i: number, port: MessagePort): Promise<void> {
    return this.call(i, 'connectService', (r) => r.connectService(Comlink.transfer(port, [port])));
  }

  // ------------------------------------------------------------------ faults

  /** Cuts every link in and out of peer i, until connect(i) (across crash and restart too). */
  disconnect(i: number): void {
    this.checkPeer(i, 'disconnect');
    this.connected[i] = false;
    this.syncLinks();
  }

  /**
   * Undoes disconnect(i): i's links to every connected peer come back, as in 6.824's connect.
   * Links cut by partition() or setLink() stay cut until heal().
   */
  connect(i: number): void {
    this.checkPeer(i, 'connect');
    this.connected[i] = true;
    this.syncLinks();
  }

  /** Links up within each group and down between groups; a peer in no group is cut off. */
  partition(groups: readonly (readonly number[])[]): void {
    this.checkOpen('partition');
    if (!Array.isArray(groups)) throw new InvalidArgumentError('partition needs an array of groups, e.g. [[0, 1], [2, 3, 4]]');
    const groupOf = new Array<number>(this.peers).fill(-1);
    groups.forEach((g, k) => {
      if (!Array.isArray(g)) throw new InvalidArgumentError(`partition group ${k} is not an array`);
      for (const p of g) {
        this.checkPeer(p, 'partition');
        if (groupOf[p] !== -1) throw new InvalidArgumentError(`peer ${p} is in two partition groups`);
        groupOf[p] = k;
      }
    });
    for (let a = 0; a < this.peers; a++) {
      for (let b = 0; b < this.peers; b++) if (a !== b) this.userLinks[a]![b] = groupOf[a] !== -1 && groupOf[a] === groupOf[b];
    }
    this.syncLinks();
  }

  /** Every link up: partitions, one-way cuts and disconnections all undone. */
  heal(): void {
    this.checkOpen('heal');
    for (const row of this.userLinks) row.fill(true);
    this.connected.fill(true);
    this.syncLinks();
  }

  /** Cuts or restores one direction of one link. */
  setLink(from: number, to: number, up: boolean): void {
    this.checkPeer(from, 'setLink');
    this.checkPeer(to, 'setLink');
    if (from !== to) this.userLinks[from]![to] = up;
    this.syncLinks();
  }

  /** Merges these settings into the network's current ones (drops, delays, reordering). */
  setNetwork(options: NetworkOptions): void {
    this.checkOpen('setNetwork');
    try {
      this.faults.setNetwork(options);
    } catch (err) {
      throw new InvalidArgumentError(`setNetwork: ${(err as Error).message}`);
    }
  }

  // ------------------------------------------------------------------ process faults

  /** Stops peer i at once (worker.terminate()): only what reached its storage survives. */
  async crash(i: number): Promise<void> {
    this.checkPeer(i, 'crash');
    const slot = this.slots[i]!;
    if (!slot.up) return;
    // Let LMDB finish its transaction in flight (lmdb-js 3.5 can hang or abort the process on a
    // terminate mid-write), but never wait long on a worker that does not answer. The peer is
    // cut off first: from here on nothing it does reaches onApply or another peer.
    const remote = slot.remote;
    const halted = remote ? Promise.race([remote.haltStorage(), delay(2000)]).catch(() => undefined) : Promise.resolve();
    this.markDown(slot, new PeerDownError(i, 'the call was cut short'), false);
    const worker = slot.worker;
    slot.worker = null;
    await halted;
    remote?.[Comlink.releaseProxy]?.();
    await worker?.terminate();
  }

  /** Starts a fresh worker for peer i that knows only what is in its storage. */
  async restart(i: number): Promise<void> {
    this.checkPeer(i, 'restart');
    if (this.opts.storage === 'memory') {
      throw new InvalidArgumentError(`restart(${i}): storage 'memory' keeps nothing across a crash; start the cluster with storage 'lmdb' to crash and restart peers`);
    }
    const run = this.restarting.then(async () => {
      this.checkOpen('restart');
      if (this.slots[i]!.up) await this.crash(i);
      await this.spawn(i);
    });
    this.restarting = run.catch(() => undefined);
    return run;
  }

  async stats(): Promise<ClusterStats> {
    this.checkOpen('stats');
    const traffic = this.faults.stats();
    const logBytes = await Promise.all(
      this.slots.map(async (s) => {
        if (!s.up || !s.remote) return s.lastLogBytes;
        try {
          s.lastLogBytes = await s.calls.guard(s.remote.logBytes());
        } catch {
          /* went down meanwhile: keep the last known size */
        }
        return s.lastLogBytes;
      }),
    );
    return { rpcs: traffic.peers.map((p) => p.rpcs), bytes: traffic.total.bytes, logBytes };
  }

  isUp(i: number): boolean {
    this.checkPeer(i, 'isUp');
    return this.slots[i]!.up;
  }

  /** Stops every peer, closes storage, and removes a temporary dataDir unless keepData. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(
      this.slots.map(async (slot) => {
        const { worker, remote } = slot;
        if (slot.up && remote) {
          await Promise.race([slot.calls.guard(remote.shutdown()), delay(5000)]).catch(() => undefined);
        }
        this.markDown(slot, new ClosedError('the call was cut short'));
        slot.worker = null;
        await worker?.terminate();
      }),
    );
    if (this.dir) await removeDataDir(this.dir);
  }

  // ------------------------------------------------------------------ internals

  private async spawnAll(): Promise<void> {
    // One channel per pair of peers, wired directly: no peer message passes through this thread.
    const ports: (MessagePort | null)[][] = Array.from({ length: this.peers }, () => new Array(this.peers).fill(null));
    for (let a = 0; a < this.peers; a++) {
      for (let b = a + 1; b < this.peers; b++) {
        const ch = new MessageChannel();
        ports[a]![b] = ch.port1;
        ports[b]![a] = ch.port2;
      }
    }
    await Promise.all(this.slots.map((s) => this.spawn(s.id, ports[s.id]!)));
  }

  private async spawn(i: number, givenPorts?: (MessagePort | null)[]): Promise<void> {
    const slot = this.slots[i]!;
    let ports = givenPorts;
    if (!ports) {
      // A restart: a fresh channel to every running peer, whose end is handed to it now.
      ports = new Array<MessagePort | null>(this.peers).fill(null);
      await Promise.all(
        this.slots.map(async (other) => {
          if (other.id === i || !other.up || !other.remote) return;
          const ch = new MessageChannel();
          ports![other.id] = ch.port1;
          await other.calls.guard(other.remote.attachPeer(i, Comlink.transfer(ch.port2, [ch.port2]))).catch(() => ch.port2.close());
        }),
      );
    }
    const apply = new MessageChannel();
    slot.life++;
    const life = slot.life;
    const dir = this.dir ? this.dir.peerDir(i) : null;
    const boot: PeerBoot = {
      id: i,
      peers: this.peers,
      clusterId: this.dir?.clusterId ?? 'memory',
      storage: this.opts.storage,
      dir,
      sync: this.opts.sync,
      faultTable: this.faults.buffer,
      ports,
      applyPort: apply.port2,
      timing: this.opts.timing,
      seed: (this.opts.seed * 1000003 + i * 7919 + life * 104729) >>> 0,
      service: this.opts.service,
    };
    const transfer = [apply.port2, ...ports.filter((p): p is MessagePort => p !== null)];
    const worker = new Worker(WORKER_URL, { workerData: boot, transferList: transfer as never });
    const remote = Comlink.wrap<PeerControl>(nodeEndpoint(worker as never));
    slot.worker = worker;
    slot.remote = remote;
    slot.applyPort = apply.port1;
    slot.calls = new DownGuard();
    apply.port1.on('message', (buf: Uint8Array) => {
      if (slot.life !== life || !slot.up) return;
      if (this.earlyApplies) this.keepEarly(i, buf);
      else this.deliver(i, buf);
    });
    worker.on('error', (err) => {
      if (slot.life === life && slot.up) {
        console.error(`raftwork: peer ${i} failed:`, err);
        this.markDown(slot, new PeerDownError(i, `peer ${i} failed (${err.message})`));
      }
    });
    worker.on('exit', (code) => {
      if (slot.life === life && slot.up) this.markDown(slot, new PeerDownError(i, `peer ${i} exited with code ${code}`));
    });
    slot.up = true;
    try {
      await slot.calls.guard(remote.booted());
    } catch (err) {
      this.markDown(slot, new PeerDownError(i, 'boot failed'));
      slot.worker = null;
      await worker.terminate();
      throw err instanceof RaftworkError ? err : new RaftworkError('EBOOT', `peer ${i} could not start: ${(err as Error).message}`);
    }
    this.syncLinks();
  }

  private markDown(slot: PeerSlot, err: Error, releaseRemote = true): void {
    if (!slot.up) return;
    slot.up = false;
    slot.life++;
    slot.applyPort?.close();
    slot.applyPort = null;
    if (releaseRemote) slot.remote?.[Comlink.releaseProxy]?.();
    slot.remote = null;
    slot.calls.down(err);
    // Cut its links at once: messages it sent that are still in flight are dropped on arrival.
    this.syncLinks();
  }

  /** Up to 64 MiB of apply batches are kept for the first subscriber; past that they are dropped, with a warning. */
  private keepEarly(peer: number, buf: Uint8Array): void {
    const early = this.earlyApplies!;
    if (this.earlyBytes + buf.length > 64 * 1024 * 1024) {
      console.warn('raftwork: no onApply listener yet; dropping the apply stream kept so far (over 64 MiB). Subscribe with cluster.onApply before proposing.');
      this.earlyApplies = null;
      return;
    }
    early.push({ peer, life: this.slots[peer]!.life, buf });
    this.earlyBytes += buf.length;
  }

  private deliver(peer: number, buf: Uint8Array): void {
    let msgs: ApplyMsg[];
    try {
      msgs = decodeApplied(buf, appliedEntry);
    } catch (err) {
      console.error(`raftwork: malformed apply batch from peer ${peer}:`, err);
      return;
    }
    for (const msg of msgs) {
      for (const l of this.listeners) {
        try {
          l(peer, msg);
        } catch (err) {
          console.error('raftwork: an onApply listener threw:', err);
        }
      }
    }
  }

  /** Writes the effective links (not cut, both ends connected and running) into the fault table. */
  private syncLinks(): void {
    for (let a = 0; a < this.peers; a++) {
      for (let b = 0; b < this.peers; b++) {
        if (a === b) continue;
        const up = this.userLinks[a]![b]! && this.connected[a]! && this.connected[b]! && this.slots[a]!.up && this.slots[b]!.up;
        this.faults.setLink(a, b, up);
      }
    }
  }

  private async call<T>(i: number, what: string, fn: (r: Comlink.Remote<PeerControl>) => Promise<T>): Promise<T> {
    this.checkPeer(i, what);
    const slot = this.slots[i]!;
    if (!slot.up || !slot.remote) throw new PeerDownError(i, what);
    return slot.calls.guard(fn(slot.remote));
  }

  private checkOpen(what: string): void {
    if (this.closed) throw new ClosedError(what);
  }

  private checkPeer(i: number, what: string): void {
    this.checkOpen(what);
    if (!Number.isInteger(i) || i < 0 || i >= this.peers) {
      throw new InvalidArgumentError(`${what}: peer ${String(i)} is out of range; this cluster has peers 0..${this.peers - 1}`);
    }
  }
}

function newSlot(id: number): PeerSlot {
  const calls = new DownGuard();
  calls.down(new Error('not started'));
  return { id, life: 0, up: false, worker: null, remote: null, applyPort: null, calls, lastLogBytes: 0 };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
