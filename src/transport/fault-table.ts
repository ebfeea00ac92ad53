/**
 * The network's fault table and traffic counters, in one SharedArrayBuffer.
 *
 * The main thread (the Cluster) owns a FaultTable and writes it; every peer
 * worker wraps the same buffer in a FaultTableView and reads it before every
 * send and on every receive. Because the memory is shared, a write is visible to
 * every reader as soon as it is made: when `disconnect(2)` returns, no Endpoint
 * will post or accept another batch on a link of peer 2.
 *
 * ## Who may talk to whom
 *
 * Three independent layers; a link from -> to is up only if all three allow it:
 *
 *   1. peers:      connected[i], set by disconnect(i) / connect(i). This is a
 *                  server's own state (crashed, or cut off by a test), like
 *                  6.824's connect/disconnect.
 *   2. partitions: group[i], set by partition(groups); a link is up only inside
 *                  one group.
 *   3. links:      link[from][to], set per ordered pair by setLink (one-way cuts).
 *
 * heal() clears layers 2 and 3 and leaves layer 1 alone, so a disconnected peer
 * stays disconnected through a heal, and connect(i) does not undo a partition.
 * reset() clears all three and the network settings.
 *
 * ## Network settings
 *
 * dropRate, duplicateRate and delayMs apply to every message on an up link.
 * Messages, not batches: an AppendEntries with 64 entries is one message.
 *
 * longReordering: besides the short delay, each message with probability
 * longReorderingRate (default 0.25) is instead held for a long time drawn
 * uniformly from longReorderingMs (default 200-2000 ms), so it arrives far out
 * of order, often after messages of later terms. 6.824's labrpc does this to
 * replies; here messages are one-way, so requests and replies alike.
 *
 * longDelays: in 6.824, an RPC to a dead or disconnected server blocks its
 * caller for up to 7 s before failing, which tests that Raft does not wait on
 * RPCs. Our sends never block and have no reply to wait for, so a plain hold
 * before dropping would be invisible. What a long hold can still do here is
 * what a real network's buffers do: keep a message sent into a down link and
 * deliver it late. With longDelays on, a message whose link is down when sent
 * is held for a time drawn uniformly from [0, longDelayMaxMs] (default 7000 ms);
 * when the hold ends it is delivered if the link is up by then and dropped if
 * not. So stale messages from before a disconnect or partition arrive seconds
 * after connect() or heal(). With longDelays off, such a message is dropped at
 * once.
 *
 * ## Layout
 *
 * Int32 words (read and written with Atomics, so no torn values):
 *   header (4) | settings (16) | connected (N) | group (N) | link (N*N)
 * then, aligned to 8 bytes, BigInt64 counters: N peers x 16 slots.
 *
 * Rates are stored in parts per million and delays in microseconds, so every
 * setting is an Int32 that Atomics can load and store whole (Atomics does not
 * work on a Float64Array). Two settings that belong together (a delay's min and
 * max) are written one after the other: a reader racing with the write can see
 * a new min with an old max, and readers clamp max up to min.
 */

import { MsgType, type PeerId } from '../core/types.js';

const MAGIC = 0x52575446; // "RWTF"
const LAYOUT_VERSION = 1;
const HEADER_WORDS = 4;
const SETTINGS_WORDS = 16;
const COUNTER_SLOTS = 16;
/** The most peers a table holds: the codec carries u16 peer ids; N*N links stay small. */
export const MAX_PEERS = 256;
/** The longest delay a setting accepts, in ms (an Int32 of microseconds holds 2147 s). */
export const MAX_DELAY_MS = 1_000_000;

// Settings words, relative to the settings block.
const S_DROP_PPM = 0;
const S_DUP_PPM = 1;
const S_DELAY_MIN_US = 2;
const S_DELAY_MAX_US = 3;
const S_FLAGS = 4;
const S_REORDER_PPM = 5;
const S_REORDER_MIN_US = 6;
const S_REORDER_MAX_US = 7;
const S_LONG_DELAY_MAX_US = 8;

const F_LONG_REORDERING = 1;
const F_LONG_DELAYS = 2;

const PPM = 1_000_000;
const US_PER_MS = 1000;

/** What `setNetwork({ reliable: false })` sets: about 10% loss, 0-27 ms delays. */
export const UNRELIABLE_DROP_RATE = 0.1;
export const UNRELIABLE_DELAY_MS: readonly [number, number] = [0, 27];
export const DEFAULT_LONG_REORDERING_RATE = 0.25;
export const DEFAULT_LONG_REORDERING_MS: readonly [number, number] = [200, 2000];
export const DEFAULT_LONG_DELAY_MAX_MS = 7000;

/** Per-peer counters. Each counts what the peer sent, except Malformed (what it received). */
export const Counter = {
  /** RequestVote messages sent (whether or not the network then lost them). */
  RequestVote: 0,
  AppendEntries: 1,
  InstallSnapshot: 2,
  /** All messages sent, requests and replies. */
  Messages: 3,
  /** Encoded payload bytes of all messages sent (codec messageSize, no batch headers). */
  Bytes: 4,
  /** Messages lost: link down, drop rate, or link down when a delay or hold ended. */
  Dropped: 5,
  /** Extra copies the network made. */
  Duplicated: 6,
  /** Messages given a delay (short or long) on an up link. */
  Delayed: 7,
  /** Messages held under longDelays because their link was down when sent. */
  Held: 8,
  /** Batches this peer received and discarded as malformed. */
  Malformed: 9,
} as const;
export type Counter = (typeof Counter)[keyof typeof Counter];
const COUNTER_COUNT = 10;

export interface NetworkSettings {
  readonly dropRate: number;
  readonly duplicateRate: number;
  readonly delayMs: readonly [number, number];
  readonly longReordering: boolean;
  readonly longReorderingRate: number;
  readonly longReorderingMs: readonly [number, number];
  readonly longDelays: boolean;
  readonly longDelayMaxMs: number;
}

/** A partial update for setNetwork: fields left out keep their current value. */
export interface NetworkOptions {
  /**
   * Shorthand applied before the other fields: `false` sets dropRate 0.1 and
   * delayMs [0, 27]; `true` sets dropRate, duplicateRate and delayMs to zero.
   * Neither touches the long* settings.
   */
  readonly reliable?: boolean;
  readonly dropRate?: number;
  readonly duplicateRate?: number;
  readonly delayMs?: readonly [number, number];
  readonly longReordering?: boolean;
  readonly longReorderingRate?: number;
  readonly longReorderingMs?: readonly [number, number];
  readonly longDelays?: boolean;
  readonly longDelayMaxMs?: number;
}

export interface PeerTrafficStats {
  readonly requestVote: number;
  readonly appendEntries: number;
  readonly installSnapshot: number;
  /** requestVote + appendEntries + installSnapshot: the RPC count 6.824's tests limit. */
  readonly rpcs: number;
  readonly messages: number;
  readonly bytes: number;
  readonly dropped: number;
  readonly duplicated: number;
  readonly delayed: number;
  readonly held: number;
  readonly malformed: number;
}

export interface TrafficStats {
  /** Indexed by peer id. */
  readonly peers: readonly PeerTrafficStats[];
  readonly total: PeerTrafficStats;
}

/** Bytes of SharedArrayBuffer a table for `peers` peers takes. */
export function faultTableBytes(peers: number): number {
  const words = HEADER_WORDS + SETTINGS_WORDS + 2 * peers + peers * peers;
  return align8(words * 4) + peers * COUNTER_SLOTS * 8;
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

/**
 * A fault table over an existing SharedArrayBuffer: what a peer worker holds.
 * Reads links and settings, and adds to counters (Atomics.add: many workers
 * count at once). It cannot change links or settings; the FaultTable can.
 */
export class FaultTableView {
  readonly buffer: SharedArrayBuffer;
  readonly peers: number;
  protected readonly words: Int32Array;
  protected readonly counters: BigInt64Array;
  protected readonly settingsAt = HEADER_WORDS;
  protected readonly connectedAt = HEADER_WORDS + SETTINGS_WORDS;
  protected readonly groupAt: number;
  protected readonly linkAt: number;

  /** @throws TypeError if `buffer` was not made by a FaultTable. */
  constructor(buffer: SharedArrayBuffer) {
    if (!(buffer instanceof SharedArrayBuffer)) throw new TypeError('FaultTableView: not a SharedArrayBuffer');
    if (buffer.byteLength < HEADER_WORDS * 4) throw new TypeError('FaultTableView: buffer too small');
    const head = new Int32Array(buffer, 0, HEADER_WORDS);
    const peers = Atomics.load(head, 2);
    if (Atomics.load(head, 0) !== MAGIC || Atomics.load(head, 1) !== LAYOUT_VERSION) {
      throw new TypeError('FaultTableView: buffer is not a fault table of this version');
    }
    if (!(peers >= 1 && peers <= MAX_PEERS) || buffer.byteLength !== faultTableBytes(peers)) {
      throw new TypeError(`FaultTableView: buffer size does not match ${peers} peers`);
    }
    this.buffer = buffer;
    this.peers = peers;
    const words = HEADER_WORDS + SETTINGS_WORDS + 2 * peers + peers * peers;
    this.words = new Int32Array(buffer, 0, words);
    this.counters = new BigInt64Array(buffer, align8(words * 4), peers * COUNTER_SLOTS);
    this.groupAt = this.connectedAt + peers;
    this.linkAt = this.groupAt + peers;
  }

  /** Whether a message from `from` to `to` may travel now (all three layers agree). */
  isLinkUp(from: PeerId, to: PeerId): boolean {
    this.checkPeer(from);
    this.checkPeer(to);
    const w = this.words;
    return (
      Atomics.load(w, this.connectedAt + from) === 1 &&
      Atomics.load(w, this.connectedAt + to) === 1 &&
      Atomics.load(w, this.groupAt + from) === Atomics.load(w, this.groupAt + to) &&
      Atomics.load(w, this.linkAt + from * this.peers + to) === 1
    );
  }

  /** Layer 1 only: whether `peer` is connected (see the file comment). */
  isConnected(peer: PeerId): boolean {
    this.checkPeer(peer);
    return Atomics.load(this.words, this.connectedAt + peer) === 1;
  }

  /** The current network settings, read field by field. */
  network(): NetworkSettings {
    const s = this.settingsAt;
    const w = this.words;
    const flags = Atomics.load(w, s + S_FLAGS);
    return {
      dropRate: Atomics.load(w, s + S_DROP_PPM) / PPM,
      duplicateRate: Atomics.load(w, s + S_DUP_PPM) / PPM,
      delayMs: this.range(S_DELAY_MIN_US, S_DELAY_MAX_US),
      longReordering: (flags & F_LONG_REORDERING) !== 0,
      longReorderingRate: Atomics.load(w, s + S_REORDER_PPM) / PPM,
      longReorderingMs: this.range(S_REORDER_MIN_US, S_REORDER_MAX_US),
      longDelays: (flags & F_LONG_DELAYS) !== 0,
      longDelayMaxMs: Atomics.load(w, s + S_LONG_DELAY_MAX_US) / US_PER_MS,
    };
  }

  private range(minWord: number, maxWord: number): readonly [number, number] {
    const min = Atomics.load(this.words, this.settingsAt + minWord) / US_PER_MS;
    const max = Atomics.load(this.words, this.settingsAt + maxWord) / US_PER_MS;
    return [min, Math.max(min, max)];
  }

  /**
   * Counts one message sent by `from`: Messages and Bytes always, and the
   * request counter of its type for RequestVote, AppendEntries and InstallSnapshot.
   */
  countSend(from: PeerId, type: MsgType, bytes: number): void {
    this.add(from, Counter.Messages, 1);
    this.add(from, Counter.Bytes, bytes);
    switch (type) {
      case MsgType.RequestVote:
        this.add(from, Counter.RequestVote, 1);
        break;
      case MsgType.AppendEntries:
        this.add(from, Counter.AppendEntries, 1);
        break;
      case MsgType.InstallSnapshot:
        this.add(from, Counter.InstallSnapshot, 1);
        break;
      default:
        break;
    }
  }

  /** Adds `n` (a non-negative integer) to one of `peer`'s counters. */
  add(peer: PeerId, counter: Counter, n: number): void {
    this.checkPeer(peer);
    if (n === 0) return;
    Atomics.add(this.counters, peer * COUNTER_SLOTS + counter, BigInt(n));
  }

  /** One counter of one peer. */
  read(peer: PeerId, counter: Counter): number {
    this.checkPeer(peer);
    return Number(Atomics.load(this.counters, peer * COUNTER_SLOTS + counter));
  }

  /** Every peer's counters and their sum. Counters race with senders: each is exact, the set is not a snapshot. */
  stats(): TrafficStats {
    const peers: PeerTrafficStats[] = [];
    const sum = new Array<number>(COUNTER_COUNT).fill(0);
    for (let p = 0; p < this.peers; p++) {
      const c: number[] = [];
      for (let k = 0; k < COUNTER_COUNT; k++) {
        const v = Number(Atomics.load(this.counters, p * COUNTER_SLOTS + k));
        c.push(v);
        sum[k]! += v;
      }
      peers.push(toStats(c));
    }
    return { peers, total: toStats(sum) };
  }

  protected checkPeer(peer: number): void {
    if (!(Number.isInteger(peer) && peer >= 0 && peer < this.peers)) {
      throw new RangeError(`peer ${peer} is not in [0, ${this.peers})`);
    }
  }
}

function toStats(c: readonly number[]): PeerTrafficStats {
  const requestVote = c[Counter.RequestVote]!;
  const appendEntries = c[Counter.AppendEntries]!;
  const installSnapshot = c[Counter.InstallSnapshot]!;
  return {
    requestVote,
    appendEntries,
    installSnapshot,
    rpcs: requestVote + appendEntries + installSnapshot,
    messages: c[Counter.Messages]!,
    bytes: c[Counter.Bytes]!,
    dropped: c[Counter.Dropped]!,
    duplicated: c[Counter.Duplicated]!,
    delayed: c[Counter.Delayed]!,
    held: c[Counter.Held]!,
    malformed: c[Counter.Malformed]!,
  };
}

/**
 * The writable fault table: created by the main thread, which hands `buffer`
 * to each peer worker (a SharedArrayBuffer is shared, not copied, by postMessage
 * and workerData). Starts fully connected and reliable.
 *
 * Meant to have one writer (the Cluster); counters may be added from anywhere.
 * Each method takes effect before it returns.
 */
export class FaultTable extends FaultTableView {
  constructor(peers: number) {
    if (!(Number.isInteger(peers) && peers >= 1 && peers <= MAX_PEERS)) {
      throw new RangeError(`FaultTable: peers = ${peers} is not in [1, ${MAX_PEERS}]`);
    }
    const buffer = new SharedArrayBuffer(faultTableBytes(peers));
    const head = new Int32Array(buffer, 0, HEADER_WORDS);
    head[0] = MAGIC;
    head[1] = LAYOUT_VERSION;
    head[2] = peers;
    super(buffer);
    this.reset();
  }

  /** Cuts or restores the one-way link from -> to (layer 3). */
  setLink(from: PeerId, to: PeerId, up: boolean): void {
    this.checkPeer(from);
    this.checkPeer(to);
    Atomics.store(this.words, this.linkAt + from * this.peers + to, up ? 1 : 0);
  }

  /** Cuts every link in and out of `peer` (layer 1). */
  disconnect(peer: PeerId): void {
    this.checkPeer(peer);
    Atomics.store(this.words, this.connectedAt + peer, 0);
  }

  /** Undoes disconnect(peer); partitions and one-way cuts still apply. */
  connect(peer: PeerId): void {
    this.checkPeer(peer);
    Atomics.store(this.words, this.connectedAt + peer, 1);
  }

  /**
   * Splits the peers into groups that can talk only within themselves (layer 2),
   * replacing any earlier partition. A peer left out of every group is alone.
   *
   * @throws RangeError if a peer id is out of range or listed twice.
   */
  partition(groups: readonly (readonly PeerId[])[]): void {
    const group = new Array<number>(this.peers).fill(-1);
    groups.forEach((g, gi) => {
      for (const p of g) {
        this.checkPeer(p);
        if (group[p] !== -1) throw new RangeError(`partition: peer ${p} is in two groups`);
        group[p] = gi;
      }
    });
    for (let p = 0; p < this.peers; p++) {
      // A peer in no group gets a group of its own, numbered past the listed ones.
      Atomics.store(this.words, this.groupAt + p, group[p] === -1 ? groups.length + p : group[p]!);
    }
  }

  /** Clears partitions and one-way cuts (layers 2 and 3); disconnected peers stay so. */
  heal(): void {
    for (let p = 0; p < this.peers; p++) Atomics.store(this.words, this.groupAt + p, 0);
    for (let i = 0; i < this.peers * this.peers; i++) Atomics.store(this.words, this.linkAt + i, 1);
  }

  /**
   * Merges `opts` into the current settings (fields left out are kept).
   * Validates everything before writing anything.
   *
   * @throws RangeError for a rate outside [0, 1] or a delay range that is not
   *   0 <= min <= max <= MAX_DELAY_MS.
   */
  setNetwork(opts: NetworkOptions): void {
    const cur = this.network();
    let dropRate = cur.dropRate;
    let duplicateRate = cur.duplicateRate;
    let delayMs = cur.delayMs;
    if (opts.reliable === true) {
      dropRate = 0;
      duplicateRate = 0;
      delayMs = [0, 0];
    } else if (opts.reliable === false) {
      dropRate = UNRELIABLE_DROP_RATE;
      delayMs = UNRELIABLE_DELAY_MS;
    }
    dropRate = opts.dropRate ?? dropRate;
    duplicateRate = opts.duplicateRate ?? duplicateRate;
    delayMs = opts.delayMs ?? delayMs;
    const longReordering = opts.longReordering ?? cur.longReordering;
    const longReorderingRate = opts.longReorderingRate ?? cur.longReorderingRate;
    const longReorderingMs = opts.longReorderingMs ?? cur.longReorderingMs;
    const longDelays = opts.longDelays ?? cur.longDelays;
    const longDelayMaxMs = opts.longDelayMaxMs ?? cur.longDelayMaxMs;

    checkRate('dropRate', dropRate);
    checkRate('duplicateRate', duplicateRate);
    checkRate('longReorderingRate', longReorderingRate);
    checkRange('delayMs', delayMs);
    checkRange('longReorderingMs', longReorderingMs);
    checkRange('longDelayMaxMs', [0, longDelayMaxMs]);

    const s = this.settingsAt;
    const w = this.words;
    Atomics.store(w, s + S_DROP_PPM, Math.round(dropRate * PPM));
    Atomics.store(w, s + S_DUP_PPM, Math.round(duplicateRate * PPM));
    Atomics.store(w, s + S_DELAY_MIN_US, Math.round(delayMs[0] * US_PER_MS));
    Atomics.store(w, s + S_DELAY_MAX_US, Math.round(delayMs[1] * US_PER_MS));
    Atomics.store(w, s + S_REORDER_PPM, Math.round(longReorderingRate * PPM));
    Atomics.store(w, s + S_REORDER_MIN_US, Math.round(longReorderingMs[0] * US_PER_MS));
    Atomics.store(w, s + S_REORDER_MAX_US, Math.round(longReorderingMs[1] * US_PER_MS));
    Atomics.store(w, s + S_LONG_DELAY_MAX_US, Math.round(longDelayMaxMs * US_PER_MS));
    Atomics.store(
      w,
      s + S_FLAGS,
      (longReordering ? F_LONG_REORDERING : 0) | (longDelays ? F_LONG_DELAYS : 0),
    );
  }

  /** Everything connected, no partitions or cuts, a reliable network with default long* parameters. */
  reset(): void {
    for (let p = 0; p < this.peers; p++) Atomics.store(this.words, this.connectedAt + p, 1);
    this.heal();
    const s = this.settingsAt;
    const w = this.words;
    for (let i = 0; i < SETTINGS_WORDS; i++) Atomics.store(w, s + i, 0);
    Atomics.store(w, s + S_REORDER_PPM, Math.round(DEFAULT_LONG_REORDERING_RATE * PPM));
    Atomics.store(w, s + S_REORDER_MIN_US, DEFAULT_LONG_REORDERING_MS[0] * US_PER_MS);
    Atomics.store(w, s + S_REORDER_MAX_US, DEFAULT_LONG_REORDERING_MS[1] * US_PER_MS);
    Atomics.store(w, s + S_LONG_DELAY_MAX_US, DEFAULT_LONG_DELAY_MAX_MS * US_PER_MS);
  }

  /** Sets every counter of every peer to zero. */
  resetCounters(): void {
    for (let i = 0; i < this.counters.length; i++) Atomics.store(this.counters, i, 0n);
  }
}

function checkRate(name: string, x: number): void {
  if (!(x >= 0 && x <= 1)) throw new RangeError(`setNetwork: ${name} = ${x} is not in [0, 1]`);
}

function checkRange(name: string, r: readonly [number, number]): void {
  const [min, max] = r;
  if (!(min >= 0 && min <= max && max <= MAX_DELAY_MS)) {
    throw new RangeError(`setNetwork: ${name} = [${min}, ${max}] is not 0 <= min <= max <= ${MAX_DELAY_MS}`);
  }
}
