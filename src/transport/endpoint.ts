/**
 * A peer's end of the network, used inside its worker: one MessagePort per
 * other peer, batched sends through the fault table, decoded receives.
 *
 *   send(msgs)  queues each message for its destination;
 *   flush()     encodes each destination's queue into one buffer and posts it
 *               (transferring the buffer), after the fault table has had its say.
 *
 * On a reliable network that is one postMessage per destination per flush,
 * whatever the number of messages. Faults work per message:
 *
 *   - link down when sent: dropped, or held under longDelays (fault-table.ts);
 *   - dropRate:            dropped;
 *   - duplicateRate:       sent twice, each copy with its own delay;
 *   - delayMs, longReordering: held in a timer. Messages of one flush that draw
 *     the same whole-millisecond delay for the same destination share one batch.
 *
 * A delayed message is encoded when flushed, so it carries the bytes it had
 * then. close() cancels every pending timer: nothing a peer sent before it
 * crashed can arrive after.
 *
 * When links are checked: at send, again when a delay or hold ends, and again
 * on receive, before the handler sees the batch. So a message is delivered only
 * if its link is up from the moment it is sent until it is handled: whatever is
 * in flight on a link that goes down is lost, as on a real network, and after
 * disconnect(i) returns on the main thread no handler anywhere sees a message
 * from or to i. The receive-time check costs a few atomic loads per batch.
 *
 * Receiving never throws out of the port's 'message' listener (an exception
 * there would take the worker down): bytes that fail to decode, or that claim
 * another route than the port's, are counted (Counter.Malformed of the receiver)
 * and reported to `onMalformed`; an exception from `onMessage` goes to `onError`.
 * All messages of one received batch are handed to `onMessage` synchronously,
 * in order, so a driver can gather them and step its core once per batch.
 *
 * Counters: every message passed to flush() counts as sent by this peer
 * (Messages, Bytes, and the request counters), whether or not the network then
 * loses it, as 6.824 counts RPCs.
 */

import type { MessagePort } from 'node:worker_threads';
import { MsgType, type Message, type PeerId } from '../core/types.js';
import { BATCH_HEADER_BYTES, decodeBatch, encodeBatch, messageSize, type DecodeError } from './codec.js';
import { Counter, type FaultTableView } from './fault-table.js';

/** How a batch from a port was found malformed. */
export type ReceiveError =
  | DecodeError
  | { readonly code: 'not-bytes'; readonly offset: 0; readonly detail: string }
  | { readonly code: 'wrong-route'; readonly offset: 0; readonly detail: string }
  | { readonly code: 'message-error'; readonly offset: 0; readonly detail: string };

export interface EndpointOptions {
  /** This peer's id. */
  readonly self: PeerId;
  /** The cluster's fault table (a FaultTableView over the shared buffer). */
  readonly faults: FaultTableView;
  /** Ports to the other peers, by peer id; more can be attached later. */
  readonly ports?: ReadonlyMap<PeerId, MessagePort> | readonly (MessagePort | null | undefined)[];
  /** Called with each message received, in order. */
  readonly onMessage: (msg: Message) => void;
  /** Uniform numbers in [0, 1) for the fault decisions. Default Math.random. */
  readonly random?: () => number;
  /** An exception thrown by onMessage. Default: console.error. */
  readonly onError?: (err: unknown) => void;
  /** A malformed batch that was counted and dropped. Default: nothing. */
  readonly onMalformed?: (from: PeerId, error: ReceiveError) => void;
  /** The most messages held under longDelays per destination; more are dropped. Default 4096. */
  readonly maxHeldPerPeer?: number;
}

/** This endpoint's own counts, for tests and debugging (the shared counters are in the fault table). */
export interface EndpointStats {
  /** postMessage calls made. */
  readonly batchesPosted: number;
  readonly messagesPosted: number;
  readonly batchesReceived: number;
  /** Messages handed to onMessage. */
  readonly messagesReceived: number;
  readonly malformed: number;
  /** Messages dropped here because their link was down on arrival. */
  readonly droppedOnReceive: number;
  /** Timers pending with delayed or held batches. */
  readonly pendingTimers: number;
}

interface PeerLink {
  port: MessagePort;
  open: boolean;
  readonly onData: (data: unknown) => void;
  readonly onClose: () => void;
  readonly onMessageError: (err: unknown) => void;
}

const DEFAULT_MAX_HELD = 4096;

export class Endpoint {
  readonly self: PeerId;
  readonly peers: number;
  private readonly faults: FaultTableView;
  private readonly links: (PeerLink | undefined)[];
  private readonly queues: Message[][];
  private readonly held: number[];
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private readonly onMessage: (msg: Message) => void;
  private readonly random: () => number;
  private readonly onError: (err: unknown) => void;
  private readonly onMalformed: ((from: PeerId, error: ReceiveError) => void) | undefined;
  private readonly maxHeld: number;
  private closed = false;

  private batchesPosted = 0;
  private messagesPosted = 0;
  private batchesReceived = 0;
  private messagesReceived = 0;
  private malformed = 0;
  private droppedOnReceive = 0;

  constructor(opts: EndpointOptions) {
    const peers = opts.faults.peers;
    if (!(Number.isInteger(opts.self) && opts.self >= 0 && opts.self < peers)) {
      throw new RangeError(`Endpoint: self = ${opts.self} is not in [0, ${peers})`);
    }
    this.self = opts.self;
    this.peers = peers;
    this.faults = opts.faults;
    this.onMessage = opts.onMessage;
    this.random = opts.random ?? Math.random;
    this.onError = opts.onError ?? ((err) => console.error('raftwork transport: onMessage threw', err));
    this.onMalformed = opts.onMalformed;
    this.maxHeld = opts.maxHeldPerPeer ?? DEFAULT_MAX_HELD;
    this.links = new Array<PeerLink | undefined>(peers).fill(undefined);
    this.queues = Array.from({ length: peers }, () => []);
    this.held = new Array<number>(peers).fill(0);
    const ports = opts.ports;
    if (ports instanceof Map) {
      for (const [peer, port] of ports) this.attach(peer, port);
    } else if (Array.isArray(ports)) {
      ports.forEach((port: MessagePort | null | undefined, peer: number) => {
        if (port) this.attach(peer, port);
      });
    }
  }

  /**
   * Uses `port` for traffic with `peer` from now on, closing the port used
   * before (after `peer` restarted, say). Delayed messages for `peer` still
   * pending go out on the new port.
   */
  attach(peer: PeerId, port: MessagePort): void {
    this.checkOther(peer);
    if (this.closed) {
      port.close();
      return;
    }
    this.detach(peer);
    const link: PeerLink = {
      port,
      open: true,
      onData: (data) => this.receive(peer, data),
      onClose: () => {
        link.open = false;
      },
      onMessageError: (err) => this.reject(peer, { code: 'message-error', offset: 0, detail: String(err) }),
    };
    port.on('message', link.onData);
    port.on('close', link.onClose);
    port.on('messageerror', link.onMessageError);
    this.links[peer] = link;
  }

  private detach(peer: PeerId): void {
    const link = this.links[peer];
    if (!link) return;
    link.port.off('message', link.onData);
    link.port.off('close', link.onClose);
    link.port.off('messageerror', link.onMessageError);
    link.open = false;
    link.port.close();
    this.links[peer] = undefined;
  }

  /**
   * Queues messages until the next flush(). Each must be from this peer to
   * another peer of the cluster. Ignored after close().
   *
   * @throws RangeError for a message not from self or not to another peer.
   */
  send(msgs: readonly Message[]): void {
    if (this.closed) return;
    for (let i = 0; i < msgs.length; i++) {
      const m = msgs[i]!;
      if (m.from !== this.self) throw new RangeError(`Endpoint.send: message from ${m.from}, this is ${this.self}`);
      this.checkOther(m.to);
      this.queues[m.to]!.push(m);
    }
  }

  /**
   * Sends everything queued: at most one postMessage per destination now, plus
   * delayed batches later.
   *
   * @throws EncodeError (from the codec) if a message cannot be encoded: a bug in
   *   whoever built it. That destination's queue is discarded; the others stay queued.
   */
  flush(): void {
    if (this.closed) return;
    for (let to = 0; to < this.peers; to++) {
      const q = this.queues[to]!;
      if (q.length === 0) continue;
      this.queues[to] = [];
      this.flushTo(to, q);
    }
  }

  private flushTo(to: PeerId, msgs: Message[]): void {
    const faults = this.faults;
    const self = this.self;
    // Counted per destination rather than per message: a few Atomics.add per flush.
    let rv = 0;
    let ae = 0;
    let is = 0;
    for (let i = 0; i < msgs.length; i++) {
      const t = msgs[i]!.type;
      if (t === MsgType.AppendEntries) ae++;
      else if (t === MsgType.RequestVote) rv++;
      else if (t === MsgType.InstallSnapshot) is++;
    }
    faults.add(self, Counter.Messages, msgs.length);
    faults.add(self, Counter.AppendEntries, ae);
    faults.add(self, Counter.RequestVote, rv);
    faults.add(self, Counter.InstallSnapshot, is);
    const net = faults.network();
    const up = this.isOpen(to) && faults.isLinkUp(self, to);
    const dropRate = net.dropRate;
    const dupRate = net.duplicateRate;
    const [dMin, dMax] = net.delayMs;
    const reorder = net.longReordering && net.longReorderingRate > 0;
    if (up && dropRate === 0 && dupRate === 0 && dMax === 0 && !reorder) {
      // The common case: the encoded batch gives the byte count without walking the entries.
      const bytes = encodeBatch(msgs);
      faults.add(self, Counter.Bytes, bytes.byteLength - BATCH_HEADER_BYTES);
      this.postBytes(to, bytes, msgs.length);
      return;
    }
    let bytes = 0;
    for (let i = 0; i < msgs.length; i++) bytes += messageSize(msgs[i]!);
    faults.add(self, Counter.Bytes, bytes);

    if (!up) {
      if (!net.longDelays) {
        faults.add(self, Counter.Dropped, msgs.length);
        return;
      }
      const byDelay = new Map<number, Message[]>();
      let dropped = 0;
      for (const m of msgs) {
        if (this.held[to]! >= this.maxHeld) {
          dropped++;
          continue;
        }
        this.held[to]!++;
        groupByDelay(byDelay, this.random() * net.longDelayMaxMs, m);
      }
      faults.add(self, Counter.Dropped, dropped);
      faults.add(self, Counter.Held, msgs.length - dropped);
      for (const [ms, group] of byDelay) this.schedule(to, ms, group, true);
      return;
    }

    const now: Message[] = [];
    const byDelay = new Map<number, Message[]>();
    let dropped = 0;
    let duplicated = 0;
    let delayed = 0;
    const [rMin, rMax] = net.longReorderingMs;
    for (const m of msgs) {
      if (dropRate > 0 && this.random() < dropRate) {
        dropped++;
        continue;
      }
      const copies = dupRate > 0 && this.random() < dupRate ? 2 : 1;
      duplicated += copies - 1;
      for (let c = 0; c < copies; c++) {
        let ms = dMax > 0 ? dMin + this.random() * (dMax - dMin) : dMin;
        if (reorder && this.random() < net.longReorderingRate) ms = rMin + this.random() * (rMax - rMin);
        if (Math.round(ms) <= 0) {
          now.push(m);
        } else {
          delayed++;
          groupByDelay(byDelay, ms, m);
        }
      }
    }
    faults.add(self, Counter.Dropped, dropped);
    faults.add(self, Counter.Duplicated, duplicated);
    faults.add(self, Counter.Delayed, delayed);
    if (now.length > 0) this.post(to, now);
    for (const [ms, group] of byDelay) this.schedule(to, ms, group, false);
  }

  /** Encodes `msgs` now and posts them after `ms`, if the link is up by then. */
  private schedule(to: PeerId, ms: number, msgs: Message[], held: boolean): void {
    const bytes = encodeBatch(msgs);
    const count = msgs.length;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (held) this.held[to]! -= count;
      if (this.closed) return;
      if (this.isOpen(to) && this.faults.isLinkUp(this.self, to)) {
        this.postBytes(to, bytes, count);
      } else {
        this.faults.add(this.self, Counter.Dropped, count);
      }
    }, ms);
    // A delayed message alone should not keep a process alive; open ports do that.
    timer.unref();
    this.timers.add(timer);
  }

  private post(to: PeerId, msgs: Message[]): void {
    this.postBytes(to, encodeBatch(msgs), msgs.length);
  }

  private postBytes(to: PeerId, bytes: Uint8Array<ArrayBuffer>, count: number): void {
    const link = this.links[to]!;
    link.port.postMessage(bytes, [bytes.buffer]);
    this.batchesPosted++;
    this.messagesPosted += count;
  }

  private isOpen(peer: PeerId): boolean {
    const link = this.links[peer];
    return link !== undefined && link.open;
  }

  private receive(from: PeerId, data: unknown): void {
    if (this.closed) return;
    if (!(data instanceof Uint8Array)) {
      this.reject(from, { code: 'not-bytes', offset: 0, detail: `received ${typeof data}, not a Uint8Array` });
      return;
    }
    const r = decodeBatch(data, this.peers);
    if (!r.ok) {
      this.reject(from, r.error);
      return;
    }
    if (r.from !== from || r.to !== this.self) {
      this.reject(from, {
        code: 'wrong-route',
        offset: 0,
        detail: `batch ${r.from} -> ${r.to} arrived on the port from ${from} to ${this.self}`,
      });
      return;
    }
    const msgs = r.messages;
    this.batchesReceived++;
    if (!this.faults.isLinkUp(from, this.self)) {
      this.droppedOnReceive += msgs.length;
      this.faults.add(from, Counter.Dropped, msgs.length);
      return;
    }
    for (let i = 0; i < msgs.length; i++) {
      if (this.closed) return;
      this.messagesReceived++;
      try {
        this.onMessage(msgs[i]!);
      } catch (err) {
        this.report(err);
      }
    }
  }

  private reject(from: PeerId, error: ReceiveError): void {
    this.malformed++;
    this.faults.add(this.self, Counter.Malformed, 1);
    if (!this.onMalformed) return;
    try {
      this.onMalformed(from, error);
    } catch (err) {
      this.report(err);
    }
  }

  private report(err: unknown): void {
    try {
      this.onError(err);
    } catch {
      // Nowhere left to report to, and throwing here would take the worker down.
    }
  }

  /**
   * Closes every port, cancels every delayed or held batch and drops anything
   * queued. Idempotent; send and flush do nothing afterwards.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.held.fill(0);
    for (let p = 0; p < this.peers; p++) {
      this.queues[p] = [];
      if (p !== this.self) this.detach(p);
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  stats(): EndpointStats {
    return {
      batchesPosted: this.batchesPosted,
      messagesPosted: this.messagesPosted,
      batchesReceived: this.batchesReceived,
      messagesReceived: this.messagesReceived,
      malformed: this.malformed,
      droppedOnReceive: this.droppedOnReceive,
      pendingTimers: this.timers.size,
    };
  }

  private checkOther(peer: number): void {
    if (!(Number.isInteger(peer) && peer >= 0 && peer < this.peers) || peer === this.self) {
      throw new RangeError(`Endpoint ${this.self}: peer ${peer} is not another peer in [0, ${this.peers})`);
    }
  }
}

function groupByDelay(groups: Map<number, Message[]>, ms: number, m: Message): void {
  const key = Math.max(1, Math.round(ms));
  const g = groups.get(key);
  if (g) g.push(m);
  else groups.set(key, [m]);
}
