/**
 * The wire format between peers: a batch of Messages, all from one peer to one
 * other peer, packed into one Uint8Array whose ArrayBuffer can be transferred
 * through a MessagePort (no structured clone of the entries).
 *
 * Why one buffer: 64 entries of 64 B cross a MessagePort at about 2.2 M entries/s
 * as 64 separate Uint8Arrays and at about 15.6 M entries/s packed into one buffer
 * (docs: shared/MEASURED.md). Each entry's data is copied exactly once, into the
 * packed buffer; the receiver hands out views into the buffer it received.
 *
 * Layout, little-endian throughout. u64 fields carry non-negative safe integers
 * (at most 2^53 - 1), written as a low and a high u32; a high word above 0x1FFFFF
 * is rejected on decode.
 *
 *   batch   := version:u8  flags:u8(=0)  from:u16  to:u16  count:u32  message{count}
 *   message := type:u8  flags:u8  term:u64  body
 *
 *   type  body                                                              flags bit 0
 *   1 RequestVote           lastLogIndex:u64 lastLogTerm:u64                bit 1: preVote
 *   2 RequestVoteReply      (none)                                          voteGranted; bit 1: preVote
 *   3 AppendEntries         prevLogIndex:u64 prevLogTerm:u64 leaderCommit:u64
 *                           round:u64 n:u32 entry{n}                        bit 2: quiet
 *   4 AppendEntriesReply    matchIndex:u64 conflictTerm:u64 conflictIndex:u64
 *                           round:u64                                       success
 *   5 InstallSnapshot       lastIncludedIndex:u64 lastIncludedTerm:u64
 *                           offset:u64 total:u64 len:u32 data[len]          -
 *   6 InstallSnapshotReply  matchIndex:u64                                  -
 *   7 SnapshotChunkAck      index:u64 offset:u64                            -
 *
 *   entry := term:u64  kind:u8  len:u32  data[len]
 *
 * An entry's index is not on the wire: in AppendEntries entries[i] is at index
 * prevLogIndex + 1 + i (Figure 2), so the encoder checks that and the decoder
 * rebuilds it. That saves 8 of 21 bytes of per-entry overhead and makes a
 * non-contiguous batch unrepresentable.
 *
 * from and to live once in the batch header, since a batch goes to one destination.
 *
 * Errors: encoding a Message the format cannot carry (a negative or fractional
 * term, entries out of sequence, a batch with mixed destinations) is a bug in the
 * caller and throws EncodeError. Decoding never throws: bytes from another thread
 * are untrusted, and every way they can be wrong comes back as a DecodeError.
 */

import { Buffer } from 'node:buffer';
import {
  EntryKind,
  MsgType,
  type AppendEntries,
  type Entry,
  type Message,
  type PeerId,
} from '../core/types.js';

/** The version byte written first in every batch. */
export const CODEC_VERSION = 1;

/** Bytes of the batch header: version, flags, from, to, count. */
export const BATCH_HEADER_BYTES = 10;

/** The largest peer id the format can carry (u16). */
export const MAX_PEER_ID = 0xffff;

const MESSAGE_HEADER_BYTES = 10; // type u8, flags u8, term u64
const ENTRY_HEADER_BYTES = 13; // term u64, kind u8, len u32
const TWO_POW_32 = 4294967296;
const MAX_HIGH_WORD = 0x1fffff; // 2^53 - 1 = 0x1FFFFF_FFFFFFFF

/** Fixed size of each message type, without entries or snapshot data. */
const FIXED_BYTES: readonly number[] = [
  0, // unused: types start at 1
  MESSAGE_HEADER_BYTES + 16, // RequestVote
  MESSAGE_HEADER_BYTES, // RequestVoteReply
  MESSAGE_HEADER_BYTES + 36, // AppendEntries (4 u64 + count u32)
  MESSAGE_HEADER_BYTES + 32, // AppendEntriesReply (4 u64)
  MESSAGE_HEADER_BYTES + 36, // InstallSnapshot (4 u64 + len u32)
  MESSAGE_HEADER_BYTES + 8, // InstallSnapshotReply
  MESSAGE_HEADER_BYTES + 16, // SnapshotChunkAck (2 u64)
];

/** The smallest encoded message: a decoder bound on a batch's message count. */
const MIN_MESSAGE_BYTES = MESSAGE_HEADER_BYTES;

const FLAG_BIT = 1;
/** RequestVote and its reply: a Pre-Vote round (section 9.6 of Ongaro's thesis). */
const PRE_VOTE_BIT = 2;
/** AppendEntries: a heartbeat that needs no answer if accepted (AppendEntries.quiet). */
const QUIET_BIT = 4;

// ---------------------------------------------------------------------------
// Sizes

/**
 * The bytes `msg` occupies in an encoded batch, excluding the batch header.
 * This is the payload size that transport statistics count.
 */
export function messageSize(msg: Message): number {
  switch (msg.type) {
    case MsgType.AppendEntries: {
      let n = FIXED_BYTES[MsgType.AppendEntries]! + msg.entries.length * ENTRY_HEADER_BYTES;
      const entries = msg.entries;
      for (let i = 0; i < entries.length; i++) n += entries[i]!.data.byteLength;
      return n;
    }
    case MsgType.InstallSnapshot:
      return FIXED_BYTES[MsgType.InstallSnapshot]! + msg.data.byteLength;
    case MsgType.RequestVote:
    case MsgType.RequestVoteReply:
    case MsgType.AppendEntriesReply:
    case MsgType.InstallSnapshotReply:
    case MsgType.SnapshotChunkAck:
      return FIXED_BYTES[msg.type]!;
    default:
      return assertNever(msg);
  }
}

/** The bytes of a whole encoded batch of `msgs`. */
export function batchSize(msgs: readonly Message[]): number {
  let n = BATCH_HEADER_BYTES;
  for (let i = 0; i < msgs.length; i++) n += messageSize(msgs[i]!);
  return n;
}

// ---------------------------------------------------------------------------
// Encoding

/** A Message the wire format cannot carry: a bug in whoever built it. */
export class EncodeError extends RangeError {
  override readonly name = 'EncodeError';
}

/**
 * Packs `msgs` (at least one; all with the same `from` and `to`) into one
 * freshly allocated Uint8Array that owns its whole ArrayBuffer, ready to be
 * transferred: `port.postMessage(bytes, [bytes.buffer])`.
 *
 * One allocation per batch and none per message: a first pass adds up the exact
 * size (cheap: no bytes are touched), the second writes straight into the final
 * buffer. A reusable scratch buffer would cost an extra copy here, because a
 * transferred buffer cannot be reused and a cloned one is copied by postMessage.
 *
 * @throws EncodeError if a message cannot be represented (see the file comment).
 */
export function encodeBatch(msgs: readonly Message[]): Uint8Array<ArrayBuffer> {
  if (msgs.length === 0) throw new EncodeError('encodeBatch: empty batch');
  const first = msgs[0]!;
  const from = first.from;
  const to = first.to;
  checkPeer('from', from);
  checkPeer('to', to);
  if (from === to) throw new EncodeError(`encodeBatch: message from peer ${from} to itself`);

  const size = batchSize(msgs);
  // Uninitialized memory (about 0.4 us cheaper per 5 KB batch than a zeroed ArrayBuffer):
  // safe because every byte gets written, which the `off !== size` check below confirms.
  // allocUnsafeSlow, unlike allocUnsafe, never hands out a slice of a shared pool,
  // so the ArrayBuffer is exactly `size` bytes and ours alone to transfer.
  const buf = Buffer.allocUnsafeSlow(size).buffer as ArrayBuffer;
  const bytes = new Uint8Array(buf, 0, size);
  const dv = new DataView(buf, 0, size);

  dv.setUint8(0, CODEC_VERSION);
  dv.setUint8(1, 0);
  dv.setUint16(2, from, true);
  dv.setUint16(4, to, true);
  dv.setUint32(6, msgs.length, true);
  let off = BATCH_HEADER_BYTES;

  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i]!;
    if (m.from !== from || m.to !== to) {
      throw new EncodeError(
        `encodeBatch: message ${i} goes ${m.from} -> ${m.to}, the batch goes ${from} -> ${to}`,
      );
    }
    dv.setUint8(off, m.type);
    writeU64(dv, off + 2, m.term, 'term');
    const body = off + MESSAGE_HEADER_BYTES;
    switch (m.type) {
      case MsgType.RequestVote:
        dv.setUint8(off + 1, m.preVote ? PRE_VOTE_BIT : 0);
        writeU64(dv, body, m.lastLogIndex, 'lastLogIndex');
        writeU64(dv, body + 8, m.lastLogTerm, 'lastLogTerm');
        off = body + 16;
        break;
      case MsgType.RequestVoteReply:
        dv.setUint8(off + 1, (m.voteGranted ? FLAG_BIT : 0) | (m.preVote ? PRE_VOTE_BIT : 0));
        off = body;
        break;
      case MsgType.AppendEntries:
        dv.setUint8(off + 1, m.quiet === true ? QUIET_BIT : 0);
        off = writeAppendEntries(dv, bytes, body, m);
        break;
      case MsgType.AppendEntriesReply:
        dv.setUint8(off + 1, m.success ? FLAG_BIT : 0);
        writeU64(dv, body, m.matchIndex, 'matchIndex');
        writeU64(dv, body + 8, m.conflictTerm, 'conflictTerm');
        writeU64(dv, body + 16, m.conflictIndex, 'conflictIndex');
        writeU64(dv, body + 24, m.round, 'round');
        off = body + 32;
        break;
      case MsgType.InstallSnapshot: {
        dv.setUint8(off + 1, 0);
        writeU64(dv, body, m.lastIncludedIndex, 'lastIncludedIndex');
        writeU64(dv, body + 8, m.lastIncludedTerm, 'lastIncludedTerm');
        writeU64(dv, body + 16, m.offset, 'offset');
        writeU64(dv, body + 24, m.total, 'total');
        const data = m.data;
        dv.setUint32(body + 32, data.byteLength, true);
        bytes.set(data, body + 36);
        off = body + 36 + data.byteLength;
        break;
      }
      case MsgType.InstallSnapshotReply:
        dv.setUint8(off + 1, 0);
        writeU64(dv, body, m.matchIndex, 'matchIndex');
        off = body + 8;
        break;
      case MsgType.SnapshotChunkAck:
        dv.setUint8(off + 1, 0);
        writeU64(dv, body, m.index, 'index');
        writeU64(dv, body + 8, m.offset, 'offset');
        off = body + 16;
        break;
      default:
        assertNever(m);
    }
  }
  // The size pass and the write pass must agree, or the format has a bug.
  if (off !== size) throw new Error(`encodeBatch: wrote ${off} bytes, sized ${size}`);
  return bytes;
}

/**
 * The entries part of the last AppendEntries encoded on this thread. A leader sends the same
 * entries (the same Entry objects, sliced from its log) to every follower in one flush; the
 * first encoding is kept as a block of bytes and the others copy it whole, which costs one
 * memcpy instead of encoding every entry again (for 1024 entries of 64 B, ~8 us against ~50 us
 * per follower). Only runs of at least REUSE_MIN_ENTRIES are kept: below that encoding is cheap.
 */
const REUSE_MIN_ENTRIES = 16;
let reuseFirst: Entry | null = null;
let reuseLast: Entry | null = null;
let reuseCount = 0;
let reuseBlock: Uint8Array | null = null;

function writeAppendEntries(dv: DataView, bytes: Uint8Array, at: number, m: AppendEntries): number {
  const prev = m.prevLogIndex;
  writeU64(dv, at, prev, 'prevLogIndex');
  writeU64(dv, at + 8, m.prevLogTerm, 'prevLogTerm');
  writeU64(dv, at + 16, m.leaderCommit, 'leaderCommit');
  writeU64(dv, at + 24, m.round, 'round');
  const entries = m.entries;
  const n = entries.length;
  dv.setUint32(at + 32, n, true);
  let off = at + 36;
  if (n === 0) return off;
  // Entry objects are immutable and a log slice is contiguous, so the same first and last
  // object and the same count mean the same entries. The index check still runs on the first.
  if (n === reuseCount && entries[0] === reuseFirst && entries[n - 1] === reuseLast && reuseBlock !== null) {
    if (reuseFirst.index !== prev + 1) {
      throw new EncodeError(`encodeBatch: AppendEntries entry 0 has index ${reuseFirst.index}, expected ${prev + 1}`);
    }
    bytes.set(reuseBlock, off);
    return off + reuseBlock.length;
  }
  const start = off;
  for (let i = 0; i < n; i++) {
    const e = entries[i]!;
    if (e.index !== prev + 1 + i) {
      throw new EncodeError(
        `encodeBatch: AppendEntries entry ${i} has index ${e.index}, expected ${prev + 1 + i}`,
      );
    }
    if (e.kind !== EntryKind.Normal && e.kind !== EntryKind.Noop) {
      throw new EncodeError(`encodeBatch: entry ${e.index} has unknown kind ${String(e.kind)}`);
    }
    const data = e.data;
    writeU64(dv, off, e.term, 'entry term');
    dv.setUint8(off + 8, e.kind);
    dv.setUint32(off + 9, data.byteLength, true);
    off += ENTRY_HEADER_BYTES;
    bytes.set(data, off);
    off += data.byteLength;
  }
  if (n >= REUSE_MIN_ENTRIES) {
    // A copy: `bytes` is transferred (detached) when it is posted.
    reuseBlock = bytes.slice(start, off);
    reuseFirst = entries[0]!;
    reuseLast = entries[n - 1]!;
    reuseCount = n;
  }
  return off;
}

function writeU64(dv: DataView, off: number, x: number, field: string): void {
  // Fast path: terms and indexes below 2^32 (all of them, in practice). `x >>> 0 === x`
  // holds exactly for integers in [0, 2^32), and skips the float division below,
  // which made this function most of the encoder's per-entry cost.
  if (x >>> 0 === x) {
    dv.setUint32(off, x, true);
    dv.setUint32(off + 4, 0, true);
    return;
  }
  if (!(x >= 0 && Number.isSafeInteger(x))) {
    throw new EncodeError(`encodeBatch: ${field} = ${x} is not a non-negative safe integer`);
  }
  const lo = x % TWO_POW_32;
  dv.setUint32(off, lo, true);
  dv.setUint32(off + 4, (x - lo) / TWO_POW_32, true);
}

function checkPeer(field: string, id: number): void {
  if (!(Number.isInteger(id) && id >= 0 && id <= MAX_PEER_ID)) {
    throw new EncodeError(`encodeBatch: ${field} = ${id} is not a peer id in [0, ${MAX_PEER_ID}]`);
  }
}

// ---------------------------------------------------------------------------
// Decoding

export type DecodeErrorCode =
  /** The bytes end before a field or a length they announce. */
  | 'truncated'
  /** The version byte is not CODEC_VERSION. */
  | 'bad-version'
  /** A reserved header or flag bit is set. */
  | 'bad-flags'
  /** from or to is outside [0, peers), or from equals to. */
  | 'bad-peer'
  /** A message type outside MsgType. */
  | 'bad-type'
  /** A u64 above 2^53 - 1, or an entry index past it. */
  | 'bad-integer'
  /** An entry kind outside EntryKind. */
  | 'bad-kind'
  /** A count larger than the bytes left could possibly hold, or a batch of zero messages. */
  | 'bad-count'
  /** Bytes left over after the last message. */
  | 'trailing-bytes'
  /** The bytes could not be read at all (a detached buffer, say). */
  | 'unreadable';

export interface DecodeError {
  readonly code: DecodeErrorCode;
  /** Byte offset in the batch where the problem was found. */
  readonly offset: number;
  readonly detail: string;
}

export type DecodeResult =
  | {
      readonly ok: true;
      readonly from: PeerId;
      readonly to: PeerId;
      readonly messages: Message[];
    }
  | { readonly ok: false; readonly error: DecodeError };

/** Thrown and caught inside this module only, to unwind a decode from deep inside. */
class Malformed {
  constructor(readonly error: DecodeError) {}
}

function fail(code: DecodeErrorCode, offset: number, detail: string): never {
  throw new Malformed({ code, offset, detail });
}

/**
 * Unpacks a batch made by encodeBatch, validating every byte of it against a
 * cluster of `peers` peers. Never throws.
 *
 * Entry and snapshot data in the result are views into `bytes` (no copy): they
 * stay valid as long as nobody writes to `bytes`, and they keep its whole buffer
 * alive, so a consumer that keeps one entry for long should copy it.
 */
export function decodeBatch(bytes: Uint8Array, peers: number): DecodeResult {
  try {
    return decodeUnchecked(bytes, peers);
  } catch (e) {
    if (e instanceof Malformed) return { ok: false, error: e.error };
    // Anything else is a bug here, yet the caller asked for no throw: report it as data.
    return {
      ok: false,
      error: { code: 'unreadable', offset: 0, detail: String(e) },
    };
  }
}

function decodeUnchecked(bytes: Uint8Array, peers: number): DecodeResult {
  const len = bytes.byteLength;
  if (len < BATCH_HEADER_BYTES) {
    fail('truncated', 0, `batch of ${len} bytes is shorter than its ${BATCH_HEADER_BYTES}-byte header`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, len);
  const version = dv.getUint8(0);
  if (version !== CODEC_VERSION) fail('bad-version', 0, `version ${version}, expected ${CODEC_VERSION}`);
  const headerFlags = dv.getUint8(1);
  if (headerFlags !== 0) fail('bad-flags', 1, `batch flags 0x${headerFlags.toString(16)} are reserved`);
  const from = dv.getUint16(2, true);
  const to = dv.getUint16(4, true);
  if (from >= peers) fail('bad-peer', 2, `from ${from} is not in [0, ${peers})`);
  if (to >= peers) fail('bad-peer', 4, `to ${to} is not in [0, ${peers})`);
  if (from === to) fail('bad-peer', 2, `message from peer ${from} to itself`);
  const count = dv.getUint32(6, true);
  if (count === 0) fail('bad-count', 6, 'a batch holds at least one message');
  if (count > (len - BATCH_HEADER_BYTES) / MIN_MESSAGE_BYTES) {
    fail('bad-count', 6, `${count} messages cannot fit in ${len - BATCH_HEADER_BYTES} bytes`);
  }

  const messages: Message[] = [];
  let off = BATCH_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    need(off, MESSAGE_HEADER_BYTES, len);
    const type = dv.getUint8(off);
    const flags = dv.getUint8(off + 1);
    const term = readU64(dv, off + 2);
    const body = off + MESSAGE_HEADER_BYTES;
    if (type < MsgType.RequestVote || type > MsgType.SnapshotChunkAck) {
      fail('bad-type', off, `message type ${type}`);
    }
    const hasFlag = type === MsgType.RequestVoteReply || type === MsgType.AppendEntriesReply;
    const voteKind = type === MsgType.RequestVote || type === MsgType.RequestVoteReply;
    const allowed = (hasFlag ? FLAG_BIT : 0) | (voteKind ? PRE_VOTE_BIT : 0) | (type === MsgType.AppendEntries ? QUIET_BIT : 0);
    if ((flags & ~allowed) !== 0) {
      fail('bad-flags', off + 1, `flags 0x${flags.toString(16)} for message type ${type}`);
    }
    need(off, FIXED_BYTES[type]!, len);
    switch (type) {
      case MsgType.RequestVote:
        messages.push({
          type: MsgType.RequestVote,
          term,
          from,
          to,
          lastLogIndex: readU64(dv, body),
          lastLogTerm: readU64(dv, body + 8),
          preVote: (flags & PRE_VOTE_BIT) !== 0,
        });
        off = body + 16;
        break;
      case MsgType.RequestVoteReply:
        messages.push({
          type: MsgType.RequestVoteReply,
          term,
          from,
          to,
          voteGranted: (flags & FLAG_BIT) !== 0,
          preVote: (flags & PRE_VOTE_BIT) !== 0,
        });
        off = body;
        break;
      case MsgType.AppendEntries: {
        const prevLogIndex = readU64(dv, body);
        const prevLogTerm = readU64(dv, body + 8);
        const leaderCommit = readU64(dv, body + 16);
        const round = readU64(dv, body + 24);
        const n = dv.getUint32(body + 32, true);
        off = body + 36;
        if (n > (len - off) / ENTRY_HEADER_BYTES) {
          fail('bad-count', body + 32, `${n} entries cannot fit in ${len - off} bytes`);
        }
        if (prevLogIndex + n > Number.MAX_SAFE_INTEGER) {
          fail('bad-integer', body + 32, `entries would pass index 2^53 - 1`);
        }
        const entries: Entry[] = [];
        for (let k = 0; k < n; k++) {
          need(off, ENTRY_HEADER_BYTES, len);
          const eterm = readU64(dv, off);
          const kind = dv.getUint8(off + 8);
          if (kind !== EntryKind.Normal && kind !== EntryKind.Noop) fail('bad-kind', off + 8, `entry kind ${kind}`);
          const dlen = dv.getUint32(off + 9, true);
          off += ENTRY_HEADER_BYTES;
          need(off, dlen, len);
          entries.push({
            index: prevLogIndex + 1 + k,
            term: eterm,
            kind: kind as EntryKind,
            data: bytes.subarray(off, off + dlen),
          });
          off += dlen;
        }
        const ae: AppendEntries = { type: MsgType.AppendEntries, term, from, to, prevLogIndex, prevLogTerm, entries, leaderCommit, round };
        messages.push((flags & QUIET_BIT) !== 0 ? { ...ae, quiet: true } : ae);
        break;
      }
      case MsgType.AppendEntriesReply:
        messages.push({
          type: MsgType.AppendEntriesReply,
          term,
          from,
          to,
          success: flags === FLAG_BIT,
          matchIndex: readU64(dv, body),
          conflictTerm: readU64(dv, body + 8),
          conflictIndex: readU64(dv, body + 16),
          round: readU64(dv, body + 24),
        });
        off = body + 32;
        break;
      case MsgType.InstallSnapshot: {
        const lastIncludedIndex = readU64(dv, body);
        const lastIncludedTerm = readU64(dv, body + 8);
        const offset = readU64(dv, body + 16);
        const total = readU64(dv, body + 24);
        const dlen = dv.getUint32(body + 32, true);
        off = body + 36;
        need(off, dlen, len);
        if (offset + dlen > total) fail('bad-count', body + 32, `a chunk of ${dlen} bytes at ${offset} passes the snapshot's ${total} bytes`);
        messages.push({
          type: MsgType.InstallSnapshot,
          term,
          from,
          to,
          lastIncludedIndex,
          lastIncludedTerm,
          offset,
          total,
          data: bytes.subarray(off, off + dlen),
        });
        off += dlen;
        break;
      }
      case MsgType.InstallSnapshotReply:
        messages.push({ type: MsgType.InstallSnapshotReply, term, from, to, matchIndex: readU64(dv, body) });
        off = body + 8;
        break;
      case MsgType.SnapshotChunkAck:
        messages.push({ type: MsgType.SnapshotChunkAck, term, from, to, index: readU64(dv, body), offset: readU64(dv, body + 8) });
        off = body + 16;
        break;
    }
  }
  if (off !== len) fail('trailing-bytes', off, `${len - off} bytes after the last message`);
  return { ok: true, from, to, messages };
}

function need(off: number, n: number, len: number): void {
  if (n > len - off) fail('truncated', off, `needs ${n} bytes at ${off}, batch has ${len}`);
}

function readU64(dv: DataView, off: number): number {
  const hi = dv.getUint32(off + 4, true);
  if (hi > MAX_HIGH_WORD) fail('bad-integer', off, `u64 at ${off} is above 2^53 - 1`);
  return hi * TWO_POW_32 + dv.getUint32(off, true);
}

function assertNever(x: never): never {
  throw new Error(`unexpected message ${JSON.stringify(x)}`);
}
