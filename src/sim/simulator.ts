import { RaftCore, type RaftStatus } from '../core/raft.js';
import { createRng, type Rng } from '../core/rng.js';
import {
  EntryKind,
  MsgType,
  type Entry,
  type HardState,
  type Message,
  type ProposeResult,
  type Snapshot,
} from '../core/types.js';
import { entryKey, SafetyChecker } from './checker.js';
import { SimDisk } from './disk.js';
import { EventHeap } from './heap.js';
import { SimNetwork, type NetworkFaults } from './network.js';
import { Trace } from './trace.js';

export interface SimOptions {
  readonly peers: number;
  readonly seed: number;
  /** Simulated milliseconds per core tick. */
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  /** How long one durable write takes, drawn uniformly per write. */
  readonly diskLatencyMs?: readonly [number, number];
  /** Each peer snapshots its state machine once this many entries are applied past its snapshot (0: never). */
  readonly snapshotEvery?: number;
  readonly checkQuorum?: boolean;
  readonly maxInflightMsgs?: number;
  readonly maxMsgEntries?: number;
  readonly traceCapacity?: number;
}

type SimEvent =
  | { at: number; order: number; kind: 'tick'; peer: number; life: number }
  | { at: number; order: number; kind: 'persist'; peer: number; life: number }
  | { at: number; order: number; kind: 'deliver'; msg: Message };

interface PendingWrite {
  seq: number;
  doneAt: number;
  hardState: HardState | null;
  snapshot: Snapshot | null;
  entries: readonly Entry[];
  compact: Snapshot | null;
  after: readonly Message[];
}

/** One simulated peer: a core, the driver loop around it, and a tiny state machine. */
class SimNode {
  core!: RaftCore;
  up = true;
  /** Bumped by every crash; events of an older life are ignored. */
  life = 0;
  pending: PendingWrite[] = [];
  lastWriteDone = 0;
  /** The state machine: how far it has applied and a running hash of what it applied. */
  applied = 0;
  hash = 0x811c9dc5;
  latestSnapshot: Snapshot | null = null;
  readonly disk = new SimDisk();
  constructor(readonly id: number) {}
}

/** Proof of which command a peer applied at each index, across all its lives (6.824's cfg.logs). */
export type AppliedLog = Map<number, string>;

/**
 * A whole Raft cluster in one thread on simulated time.
 *
 * Every peer runs the real RaftCore; the simulator plays the driver (persist, send, apply), the
 * network (drops, duplicates, delays, reordering, cut links, partitions) and the disk (writes
 * take time; a crash loses writes still in flight). All randomness comes from one seed.
 * After every event, the SafetyChecker checks the Raft invariants and throws on any breach.
 */
export class Simulator {
  readonly peers: number;
  readonly seed: number;
  now = 0;
  readonly net: SimNetwork;
  readonly checker: SafetyChecker;
  readonly trace: Trace;
  readonly rng: Rng;
  /** RPC requests sent per peer, as 6.824's labrpc counts them (replies excluded). */
  readonly rpcs: number[];
  /** Payload bytes of every message sent. */
  bytes = 0;
  readonly appliedLogs: AppliedLog[];
  /** Reads asked for and not yet answered: ctx -> the committed floor when asked. */
  private readonly reads = new Map<number, { peer: number; floor: number }>();
  private nextReadCtx = 1;
  /** Reads confirmed, and reads aborted by a lost leadership. */
  readsServed = 0;
  readsAborted = 0;
  private readonly nodes: SimNode[];
  private readonly heap = new EventHeap<SimEvent>();
  private order = 0;
  private readonly opts: Required<Omit<SimOptions, 'peers' | 'seed'>>;

  constructor(options: SimOptions) {
    if (!Number.isInteger(options.peers) || options.peers < 1) throw new RangeError(`peers must be a positive integer, got ${options.peers}`);
    this.peers = options.peers;
    this.seed = options.seed;
    this.opts = {
      tickMs: options.tickMs ?? 10,
      electionTicks: options.electionTicks ?? 15,
      heartbeatTicks: options.heartbeatTicks ?? 5,
      diskLatencyMs: options.diskLatencyMs ?? [0.1, 1],
      snapshotEvery: options.snapshotEvery ?? 0,
      checkQuorum: options.checkQuorum ?? true,
      maxInflightMsgs: options.maxInflightMsgs ?? 64,
      maxMsgEntries: options.maxMsgEntries ?? 4096,
      traceCapacity: options.traceCapacity ?? 300,
    };
    this.rng = createRng(options.seed);
    this.net = new SimNetwork(this.peers, createRng(options.seed ^ 0x5bd1e995));
    this.checker = new SafetyChecker(this.peers);
    this.trace = new Trace(this.opts.traceCapacity);
    this.rpcs = new Array<number>(this.peers).fill(0);
    this.appliedLogs = Array.from({ length: this.peers }, () => new Map());
    this.nodes = Array.from({ length: this.peers }, (_, i) => new SimNode(i));
    for (const n of this.nodes) this.boot(n);
  }

  // ------------------------------------------------------------------ the public controls

  /** Runs the event loop for `ms` of simulated time. */
  runFor(ms: number): void {
    this.runUntil(() => false, ms);
  }

  /** Runs until `done()` holds (checked after each event) or `ms` pass; returns whether it held. */
  runUntil(done: () => boolean, ms: number): boolean {
    const end = this.now + ms;
    if (done()) return true;
    for (;;) {
      const ev = this.heap.peek();
      if (!ev || ev.at > end) break;
      this.heap.pop();
      this.now = ev.at;
      this.dispatch(ev);
      if (done()) return true;
    }
    this.now = end;
    return done();
  }

  propose(peer: number, command: Uint8Array | string): ProposeResult | { ok: false; reason: 'down' } {
    const node = this.node(peer);
    if (!node.up) return { ok: false, reason: 'down' };
    const data = typeof command === 'string' ? new TextEncoder().encode(command) : command;
    const r = node.core.propose(data);
    if (r.ok) this.trace.add(this.now, `p${peer} propose ${JSON.stringify(decode(data))} -> index ${r.index} term ${r.term}`);
    this.drive(node);
    return r;
  }

  /** Asks peer for a ReadIndex read; its answer is checked against what was committed when asked. */
  readIndex(peer: number): boolean {
    const node = this.node(peer);
    if (!node.up) return false;
    const ctx = this.nextReadCtx++;
    const r = node.core.readIndex(ctx);
    if (!r.ok) return false;
    this.reads.set(ctx, { peer, floor: this.checker.committedFloor });
    this.drive(node);
    return true;
  }

  /** A lease read on peer: if the lease holds, the index it serves at must cover everything committed. */
  leaseRead(peer: number): boolean {
    const node = this.node(peer);
    if (!node.up) return false;
    const r = node.core.leaseRead();
    if (!r.ok) return false;
    this.checker.readServed(peer, this.checker.committedFloor, r.index, 'a lease read');
    this.readsServed++;
    return true;
  }

  status(peer: number): RaftStatus & { up: boolean } {
    const node = this.node(peer);
    return { ...node.core.status(), up: node.up };
  }

  isUp(peer: number): boolean {
    return this.node(peer).up;
  }

  /** Stops a peer at once: it loses everything not yet durable. */
  crash(peer: number): void {
    const node = this.node(peer);
    if (!node.up) return;
    for (const [ctx, r] of this.reads) if (r.peer === peer) this.reads.delete(ctx);
    node.up = false;
    node.life++;
    node.pending = [];
    this.trace.add(this.now, `p${peer} CRASH (term ${node.core.status().term})`);
  }

  /** Starts a crashed peer from what its disk holds. */
  restart(peer: number): void {
    const node = this.node(peer);
    if (node.up) this.crash(peer);
    node.up = true;
    node.life++;
    this.boot(node);
    this.trace.add(this.now, `p${peer} RESTART term ${node.disk.hardState.currentTerm} log ${node.disk.lastIndex()}`);
  }

  disconnect(peer: number): void {
    this.net.setPeer(peer, false);
    this.trace.add(this.now, `p${peer} disconnected`);
  }

  connect(peer: number): void {
    this.net.setPeer(peer, true);
    this.trace.add(this.now, `p${peer} connected`);
  }

  partition(groups: readonly (readonly number[])[]): void {
    this.net.partition(groups);
    this.trace.add(this.now, `partition ${JSON.stringify(groups)}`);
  }

  heal(): void {
    this.net.heal();
    this.trace.add(this.now, 'heal');
  }

  setNetwork(faults: Partial<NetworkFaults>): void {
    this.net.set(faults);
    this.trace.add(this.now, `network ${JSON.stringify(faults)}`);
  }

  /** The service on `peer` snapshots its state now (as 6.824's Snapshot(index)). */
  snapshot(peer: number): void {
    const node = this.node(peer);
    if (node.up) this.takeSnapshot(node);
  }

  /** Bytes of log a peer keeps in memory. */
  logBytes(peer: number): number {
    return this.node(peer).core.log.bytes();
  }

  /** The peers that are up and think they lead, with their terms. */
  leaders(): { peer: number; term: number }[] {
    const out: { peer: number; term: number }[] = [];
    for (const n of this.nodes) if (n.up && n.core.isLeader()) out.push({ peer: n.id, term: n.core.status().term });
    return out;
  }

  // ------------------------------------------------------------------ the driver, simulated

  private node(peer: number): SimNode {
    const n = this.nodes[peer];
    if (!n) throw new RangeError(`peer ${peer} is out of range: this cluster has peers 0..${this.peers - 1}`);
    return n;
  }

  private boot(node: SimNode): void {
    const d = node.disk;
    node.core = new RaftCore(
      {
        id: node.id,
        peers: this.peers,
        electionTicks: this.opts.electionTicks,
        heartbeatTicks: this.opts.heartbeatTicks,
        rng: createRng((this.seed * 31 + node.id * 7919 + node.life * 104729) >>> 0),
        checkQuorum: this.opts.checkQuorum,
        maxInflightMsgs: this.opts.maxInflightMsgs,
        maxMsgEntries: this.opts.maxMsgEntries,
      },
      { hardState: d.hardState, snapshot: d.snapshot, entries: d.entries },
    );
    node.pending = [];
    node.lastWriteDone = this.now;
    node.latestSnapshot = d.snapshot;
    if (d.snapshot) this.loadSnapshot(node, d.snapshot);
    else {
      node.applied = 0;
      node.hash = 0x811c9dc5;
    }
    this.checker.restarted(node.id, node.core.status().commitIndex);
    // Peers' clocks are not in phase: each starts ticking at a random offset.
    this.schedule({ at: this.now + this.rng.next() * this.opts.tickMs, order: 0, kind: 'tick', peer: node.id, life: node.life });
  }

  private schedule(ev: SimEvent): void {
    (ev as { order: number }).order = ++this.order;
    this.heap.push(ev);
  }

  private dispatch(ev: SimEvent): void {
    switch (ev.kind) {
      case 'tick': {
        const node = this.nodes[ev.peer]!;
        if (!node.up || node.life !== ev.life) return;
        node.core.tick();
        this.drive(node);
        this.schedule({ at: this.now + this.opts.tickMs, order: 0, kind: 'tick', peer: node.id, life: node.life });
        return;
      }
      case 'persist': {
        const node = this.nodes[ev.peer]!;
        if (!node.up || node.life !== ev.life) return;
        this.completeWrites(node);
        return;
      }
      case 'deliver': {
        const m = ev.msg;
        const node = this.nodes[m.to]!;
        if (!node.up || !this.net.linkUp(m.from, m.to)) return;
        this.trace.add(this.now, `p${m.from}->p${m.to} ${describe(m)}`);
        const r = node.core.step(m);
        if (!r.ok) throw new Error(`core rejected a message the cores produced: ${JSON.stringify(r)}`);
        this.drive(node);
        return;
      }
    }
  }

  /** Drains the core's Ready batches: send, start the write, apply. */
  private drive(node: SimNode): void {
    const core = node.core;
    this.checker.observe(node.id, core);
    while (core.hasReady()) {
      const r = core.ready();
      for (const m of r.messages) this.send(node, m);
      if (r.entries.length > 0) this.checker.appended(node.id, r.entries, core.log.term(r.entries[0]!.index - 1));
      if (r.snapshot) {
        node.latestSnapshot = r.snapshot;
        this.loadSnapshot(node, r.snapshot);
      }
      for (const e of r.committed) this.apply(node, e);
      for (const rs of r.readStates) {
        const asked = this.reads.get(rs.ctx);
        if (!asked) throw new Error(`read ${rs.ctx} answered twice or never asked`);
        this.reads.delete(rs.ctx);
        if (rs.index < 0) this.readsAborted++;
        else {
          this.checker.readServed(node.id, asked.floor, rs.index, `ReadIndex read ${rs.ctx}`);
          this.readsServed++;
        }
      }
      const writes = r.hardState !== null || r.snapshot !== null || r.entries.length > 0;
      this.enqueueWrite(node, {
        seq: r.seq,
        doneAt: 0,
        hardState: r.hardState,
        snapshot: r.snapshot,
        entries: r.entries,
        compact: null,
        after: r.messagesAfterPersist,
      }, writes);
      this.maybeSnapshot(node);
      this.checker.observe(node.id, core);
    }
  }

  /** Writes complete in the order they were issued, each after a random latency. */
  private enqueueWrite(node: SimNode, w: PendingWrite, takesTime: boolean): void {
    if (!takesTime && w.after.length === 0 && node.pending.length === 0) {
      node.core.persisted(w.seq);
      return;
    }
    const [lo, hi] = this.opts.diskLatencyMs;
    const latency = takesTime ? lo + this.rng.next() * (hi - lo) : 0;
    w.doneAt = Math.max(this.now + latency, node.lastWriteDone);
    node.lastWriteDone = w.doneAt;
    node.pending.push(w);
    this.schedule({ at: w.doneAt, order: 0, kind: 'persist', peer: node.id, life: node.life });
  }

  private completeWrites(node: SimNode): void {
    let last = -1;
    while (node.pending.length > 0 && node.pending[0]!.doneAt <= this.now) {
      const w = node.pending.shift()!;
      if (w.compact) node.disk.compact(w.compact);
      else node.disk.write(w.hardState, w.snapshot, w.entries);
      if (w.seq >= 0) {
        node.core.persisted(w.seq);
        last = w.seq;
      }
      for (const m of w.after) this.send(node, m);
    }
    if (last >= 0) this.drive(node);
  }

  private send(node: SimNode, m: Message): void {
    let msg = m;
    if (m.type === MsgType.InstallSnapshot) {
      const s = node.latestSnapshot;
      if (!s || s.index !== m.lastIncludedIndex) throw new Error(`p${node.id} has no snapshot at ${m.lastIncludedIndex} to send`);
      msg = { ...m, data: s.data, total: s.data.length };
    }
    const size = messageBytes(msg);
    this.bytes += size;
    const isRequest = msg.type === MsgType.RequestVote || msg.type === MsgType.AppendEntries || msg.type === MsgType.InstallSnapshot;
    if (isRequest) this.rpcs[node.id]!++;
    if (!this.net.linkUp(msg.from, msg.to)) return;
    for (const delay of this.net.deliveries(!isRequest)) {
      this.schedule({ at: this.now + delay, order: 0, kind: 'deliver', msg });
    }
  }

  // ------------------------------------------------------------------ the state machine

  private apply(node: SimNode, e: Entry): void {
    const key = entryKey(e);
    node.hash = fnv(node.hash, key);
    this.checker.applied(node.id, node.applied, e, node.hash);
    node.applied = e.index;
    if (e.kind === EntryKind.Normal) this.appliedLogs[node.id]!.set(e.index, key);
  }

  private loadSnapshot(node: SimNode, s: Snapshot): void {
    const view = new DataView(s.data.buffer, s.data.byteOffset, s.data.byteLength);
    const index = view.getFloat64(0, true);
    const hash = view.getUint32(8, true);
    if (index !== s.index) throw new Error(`snapshot data says index ${index}, metadata ${s.index}`);
    node.applied = index;
    node.hash = hash;
    this.checker.snapshotApplied(node.id, index, hash);
    this.trace.add(this.now, `p${node.id} loads snapshot at ${index}`);
  }

  private maybeSnapshot(node: SimNode): void {
    const every = this.opts.snapshotEvery;
    if (every > 0 && node.applied - node.core.log.snapshotIndex >= every) this.takeSnapshot(node);
  }

  private takeSnapshot(node: SimNode): void {
    const index = node.applied;
    if (index <= node.core.log.snapshotIndex) return;
    const data = new Uint8Array(12);
    const view = new DataView(data.buffer);
    view.setFloat64(0, index, true);
    view.setUint32(8, node.hash, true);
    const snap: Snapshot = { index, term: node.core.log.term(index), data };
    const r = node.core.compact(index);
    if (!r.ok) throw new Error(`compact refused: ${JSON.stringify(r)}`);
    node.latestSnapshot = snap;
    this.trace.add(this.now, `p${node.id} snapshots at ${index}`);
    this.enqueueWrite(node, { seq: -1, doneAt: 0, hardState: null, snapshot: null, entries: [], compact: snap, after: [] }, true);
  }
}

function fnv(h: number, s: string): number {
  let x = h;
  for (let i = 0; i < s.length; i++) {
    x ^= s.charCodeAt(i);
    x = Math.imul(x, 0x01000193) >>> 0;
  }
  return x;
}

function decode(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}

/** Payload bytes of a message, as the transport would count them. */
export function messageBytes(m: Message): number {
  let n = 24;
  if (m.type === MsgType.AppendEntries) for (const e of m.entries) n += 17 + e.data.length;
  else if (m.type === MsgType.InstallSnapshot) n += 16 + m.data.length;
  return n;
}

export function describe(m: Message): string {
  switch (m.type) {
    case MsgType.RequestVote:
      return `RequestVote t${m.term} last=${m.lastLogIndex}/t${m.lastLogTerm}`;
    case MsgType.RequestVoteReply:
      return `VoteReply t${m.term} ${m.voteGranted ? 'granted' : 'denied'}`;
    case MsgType.AppendEntries:
      return `Append t${m.term} prev=${m.prevLogIndex}/t${m.prevLogTerm} n=${m.entries.length} commit=${m.leaderCommit}`;
    case MsgType.AppendEntriesReply:
      return m.success
        ? `AppendOK t${m.term} match=${m.matchIndex}`
        : `AppendReject t${m.term} at=${m.matchIndex} conflict=t${m.conflictTerm}@${m.conflictIndex}`;
    case MsgType.InstallSnapshot:
      return `InstallSnapshot t${m.term} at=${m.lastIncludedIndex}/t${m.lastIncludedTerm} ${m.data.length}B`;
    case MsgType.InstallSnapshotReply:
      return `SnapshotReply t${m.term} match=${m.matchIndex}`;
    case MsgType.SnapshotChunkAck:
      return `ChunkAck t${m.term} at=${m.index} offset=${m.offset}`;
  }
}
