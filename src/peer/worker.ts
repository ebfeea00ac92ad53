/**
 * The entry point of a peer worker thread: opens the peer's storage, builds its core from what
 * is durable, wires the transport, and serves the control plane to the main thread.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { RaftCore } from '../core/raft.js';
import { createRng } from '../core/rng.js';
import type { Snapshot } from '../core/types.js';
import { FaultTableView } from '../transport/fault-table.js';
import { Endpoint } from '../transport/endpoint.js';
import { encodeApplied } from './apply-stream.js';
import { PeerDriver } from './driver.js';
import { openPeerStore } from './open-store.js';
import { unpackCommands } from './command-batch.js';
import type { PeerBoot, PeerControl, PeerState, ProposeReply } from './protocol.js';
import type { PeerService, ServiceFactory } from './service.js';
import type { LogStore } from '../storage/log-store.js';
import { CpuProfiler } from '../profile/cpu-profiler.js';
import { StageLog } from '../profile/stage-log.js';
import { GcRecorder } from '../profile/gc-pauses.js';
import { currentThreadId } from '../profile/thread-stats.js';

const boot = workerData as PeerBoot;
if (!parentPort) throw new Error('peer/worker.js must run as a worker thread');
const parent = parentPort;

let driver: PeerDriver | null = null;
let endpoint: Endpoint | null = null;
let store: LogStore | null = null;
let service: PeerService | null = null;
const applyPort: MessagePort = boot.applyPort;
/** Profiling (npm run profile): the CPU profiler and the stage timestamps, both off unless asked for. */
const profiler = new CpuProfiler();
let stages: StageLog | null = null;
/** This thread's GC pauses, recorded while the stages are. */
let gcPauses: GcRecorder | null = null;

/** Posts the apply stream to the main thread: one buffer per Ready. No-ops are Raft's own. */
const streamSink = {
  entries(committed: readonly import('../core/types.js').Entry[]): void {
    let normal = 0;
    for (const e of committed) if (e.kind === 0) normal++;
    if (normal === 0) return;
    const list = normal === committed.length ? committed : committed.filter((e) => e.kind === 0);
    const buf = encodeApplied(null, list);
    applyPort.postMessage(buf, [buf.buffer]);
  },
  snapshot(s: Snapshot): void {
    const buf = encodeApplied(s, []);
    applyPort.postMessage(buf, [buf.buffer]);
  },
};

/** With a hosted service, committed entries go to it, on this thread. */
const serviceSink = {
  entries(committed: readonly import('../core/types.js').Entry[]): void {
    service!.apply(committed);
  },
  snapshot(s: Snapshot): void {
    service!.restore(s);
  },
  takeAux() {
    return service!.takeAux?.() ?? null;
  },
};

async function start(): Promise<void> {
  store = await openPeerStore(boot);
  const restored = await store.load();
  const snapshot = restored.snapshot ? await store.readSnapshot() : null;
  const faults = new FaultTableView(boot.faultTable);
  let appliedIndex = 0;
  if (boot.service) {
    const mod = (await import(boot.service.module)) as { createService?: ServiceFactory };
    if (typeof mod.createService !== 'function') throw new Error(`service module ${boot.service.module} exports no createService()`);
    service = mod.createService();
    const s = store;
    ({ appliedIndex } = await service.open({
      id: boot.id,
      peers: boot.peers,
      store: s,
      faults,
      options: boot.service.options,
      propose: (c) => running().propose(c),
      proposeBatch: (c) => running().proposeBatch(c),
      readIndex: () => running().readIndex(),
      flush: () => running().flushNow(),
      // Through the driver, which applies the ticks due first: a lease is counted in ticks.
      leaseRead: () => running().leaseRead(),
      status: () => running().status(),
      snapshot: (index, data) => running().snapshot(index, data),
      logBytes: () => running().core.log.bytes(),
    }));
  }
  const sink = service ? serviceSink : streamSink;
  const t = boot.timing;
  const core = new RaftCore(
    {
      id: boot.id,
      peers: boot.peers,
      electionTicks: t.electionTicks,
      maxElectionTicks: t.maxElectionTicks,
      heartbeatTicks: t.heartbeatTicks,
      checkQuorum: t.checkQuorum,
      rng: createRng(boot.seed),
    },
    { ...restored, appliedIndex },
  );
  // A restarted peer hands its snapshot to the service first (unless the service's own durable
  // state is already past it); entries after it follow as they commit.
  if (snapshot && snapshot.index > appliedIndex) sink.snapshot(snapshot);
  endpoint = new Endpoint({
    self: boot.id,
    faults,
    ports: boot.ports,
    onMessage: (msg) => driver?.receive(msg),
    onError: (err) => console.error(`raftwork peer ${boot.id}:`, err),
  });
  driver = new PeerDriver({
    core,
    store,
    wire: endpoint,
    sink,
    tickMs: t.tickMs,
    snapshot,
    onFatal: (err) => {
      // Storage failed under us: stop this peer; the main thread sees the worker exit.
      console.error(`raftwork peer ${boot.id}: stopping after a storage failure:`, err);
      process.exit(70);
    },
  });
  driver.start();
}

const booting = start();
booting.catch(() => undefined); // reported through booted()

function running(): PeerDriver {
  if (!driver) throw new Error(`peer ${boot.id} has not started`);
  return driver;
}

const control: PeerControl = {
  async booted() {
    await booting;
  },
  propose(command) {
    const r = running().propose(command);
    if (stages !== null && r.ok) stages.received(r.index, r.index);
    const term = running().core.status().term;
    return r.ok ? { index: r.index, term: r.term, isLeader: true } : ({ index: -1, term, isLeader: false } satisfies ProposeReply);
  },
  proposePacked(packed) {
    return control.proposeBatch(unpackCommands(packed));
  },
  proposeBatch(commands) {
    const r = running().proposeBatch(commands);
    if (stages !== null && r.ok) stages.received(r.index, r.index + commands.length - 1);
    const term = running().core.status().term;
    return r.ok ? { index: r.index, term: r.term, isLeader: true } : { index: -1, term, isLeader: false };
  },
  state(): PeerState {
    const s = running().core.status();
    return {
      term: s.term,
      isLeader: s.role === 'leader',
      role: s.role,
      leaderId: s.leaderId,
      commitIndex: s.commitIndex,
      lastApplied: s.lastApplied,
      lastLogIndex: s.lastLogIndex,
      snapshotIndex: s.snapshotIndex,
    };
  },
  async snapshot(index, data) {
    const r = await running().snapshot(index, data);
    if (!r.ok) throw new Error(r.reason === 'not-leader' ? 'not leader' : r.detail);
  },
  attachPeer(peer, port) {
    endpoint?.attach(peer, port);
  },
  async callService(request) {
    await booting;
    if (!service) throw new Error('this cluster hosts no service');
    return service.call(request);
  },
  connectService(port) {
    if (!service?.connect) throw new Error('this cluster hosts no service that takes connections');
    service.connect(port);
  },
  async logBytes() {
    return running().core.log.bytes();
  },
  startProfile(intervalUs) {
    return profiler.start(intervalUs);
  },
  stopProfile() {
    return profiler.stop();
  },
  startStages(epochMs) {
    stages = new StageLog(boot.id, epochMs);
    gcPauses = new GcRecorder(stages.now() - performance.now());
    running().stages = stages;
    return stages.now();
  },
  osThreadId() {
    return currentThreadId();
  },
  async stopStages() {
    const log = stages;
    const gc = gcPauses;
    stages = null;
    gcPauses = null;
    if (driver) driver.stages = null;
    const collections = gc ? await gc.stop() : null;
    return log ? { ...log.dump(), gc: collections } : null;
  },
  async haltStorage() {
    driver?.stop();
    endpoint?.close();
    await store?.crash();
  },
  async shutdown() {
    driver?.stop();
    await service?.close();
    endpoint?.close();
    applyPort.close();
    await store?.close();
  },
};

Comlink.expose(control, nodeEndpoint(parent));
