/**
 * The KV store's bytes: log commands, the client wire protocol, stored values and snapshots.
 * One small hand-written codec (unsigned LEB128 varints, length-prefixed byte strings), so a
 * command's size is countable and a client's write request carries the log command as-is: the
 * leader proposes the bytes it received without decoding and re-encoding them.
 *
 * ## Stored values
 *
 * A value is stored as one tag byte then its bytes: tag 0 = a string (UTF-8), tag 1 = a
 * Uint8Array. get() hands back the type that was put.
 *
 * ## Log commands (one per Raft entry)
 *
 *     PUT     u8 1, v clientId, v seq, v ackedBelow, str key, val value
 *     APPEND  u8 2, v clientId, v seq, v ackedBelow, str key, val value
 *     DELETE  u8 3, v clientId, v seq, v ackedBelow, str key
 *     CAS     u8 4, v clientId, v seq, v ackedBelow, str key, opt expected, val next
 *     CLOCK   u8 9, v ms, v expireMs          the leader's clock, and the idle time that expires a session
 *
 *   v = varint; str = v length + UTF-8; val = v length + stored value (tag + bytes);
 *   opt = u8 0 (absent) or u8 1 then val.
 *
 * `ackedBelow` is the lowest seq of this client that has no answer yet: results of lower seqs
 * may be forgotten (see state-machine.ts, sessions).
 *
 * ## Client wire protocol (main thread <-> peer worker, over one MessagePort per peer)
 *
 * A batch is frames back to back, each `v length, frame`, so the network can drop, delay or
 * duplicate each request or reply on its own.
 *
 *   requests:  u8 REQ_WRITE, v reqId, command bytes (to the end of the frame)
 *              u8 REQ_GET,   v reqId, u8 consistency, str key
 *              u8 REQ_SCAN,  v reqId, u8 consistency, str prefix, opt-str after, v limit
 *   replies:   u8 RES_WRITE, v reqId, u8 result code
 *              u8 RES_GET,   v reqId, opt val
 *              u8 RES_SCAN,  v reqId, u8 more, v count, (str key, val value)*
 *              u8 RES_NOT_LEADER, v reqId, v leader + 1 (0: unknown)
 *              u8 RES_RETRY,  v reqId           (leadership lost before the entry applied)
 *              u8 RES_ERROR,  v reqId, str message (a malformed request: a bug)
 */

export const Op = { Put: 1, Append: 2, Delete: 3, Cas: 4, Clock: 9 } as const;
export type Op = (typeof Op)[keyof typeof Op];

export const ValueTag = { String: 0, Bytes: 1 } as const;

/** The result of a write, as stored in a session and sent to the client. */
export const Result = {
  Ok: 0,
  /** cas swapped / delete found the key. */
  True: 1,
  /** cas did not swap / delete found no key. */
  False: 2,
  /** append of a string to bytes (or the reverse). */
  TypeMismatch: 3,
  /** append would make the value larger than maxValueBytes. */
  TooLarge: 4,
  /** the client's session expired before this request was applied; it was not applied. */
  SessionExpired: 5,
  /** a duplicate of a request the client already has the answer to; nothing done. */
  Stale: 6,
} as const;
export type Result = (typeof Result)[keyof typeof Result];

export const Req = { Write: 1, Get: 2, Scan: 3 } as const;
export const Res = { Write: 1, Get: 2, Scan: 3, NotLeader: 4, Retry: 5, Error: 6 } as const;

export const Consistency = { Linearizable: 0, Lease: 1, Stale: 2 } as const;
export type ConsistencyCode = (typeof Consistency)[keyof typeof Consistency];

/** A scan page holds at most this many pairs, and about this many bytes. */
export const SCAN_PAGE_LIMIT = 1000;
export const SCAN_PAGE_BYTES = 1024 * 1024;

export class CodecError extends Error {
  override name = 'CodecError';
}

/** Strings up to this many UTF-16 units are written by a JavaScript loop when they are ASCII. */
const ASCII_LOOP_MAX = 32;

/** A growable output buffer. */
export class Writer {
  private buf: Buffer;
  pos = 0;

  constructor(size = 256) {
    this.buf = Buffer.allocUnsafe(size);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(n: number): this {
    this.ensure(1);
    this.buf[this.pos++] = n;
    return this;
  }

  /** An unsigned integer up to 2^53 as LEB128. */
  uint(n: number): this {
    this.ensure(8);
    const b = this.buf;
    if (n < 0x80000000) {
      while (n >= 0x80) {
        b[this.pos++] = (n & 0x7f) | 0x80;
        n >>>= 7;
      }
      b[this.pos++] = n;
      return this;
    }
    // Above 31 bits (a client id has 52): the low 28 bits as four groups in int arithmetic, then
    // the high part, which fits in 25 bits after the division.
    let lo = n % 0x10000000;
    let hi = (n - lo) / 0x10000000;
    for (let k = 0; k < 4; k++) {
      b[this.pos++] = (lo & 0x7f) | 0x80;
      lo >>>= 7;
    }
    while (hi >= 0x80) {
      b[this.pos++] = (hi & 0x7f) | 0x80;
      hi >>>= 7;
    }
    b[this.pos++] = hi;
    return this;
  }

  bytes(data: Uint8Array): this {
    this.uint(data.length);
    return this.raw(data);
  }

  raw(data: Uint8Array): this {
    this.ensure(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
    return this;
  }

  str(s: string): this {
    // A string of n UTF-16 units is at most 3n UTF-8 bytes.
    const max = s.length * 3;
    this.ensure(max + 5);
    if (max < 128) {
      const at = this.pos++;
      const n = this.writeUtf8(s);
      this.buf[at] = n;
      return this;
    }
    const n = Buffer.byteLength(s, 'utf8');
    this.uint(n);
    this.pos += this.buf.write(s, this.pos, 'utf8');
    return this;
  }

  /** A string's UTF-8 bytes, no length: the caller wrote `n`, its byte length, before. */
  utf8(s: string, n: number): this {
    this.ensure(n);
    this.pos += this.buf.write(s, this.pos, n, 'utf8');
    return this;
  }

  /**
   * Writes `s` as UTF-8 at pos (room for it ensured) and returns its byte count. Keys are short
   * and nearly always ASCII: a loop of byte stores beats Buffer.write's call into C++ there
   * (65 against 150 ns for an 8-character key, measured). Not for longer strings: the loop's
   * per-character cost catches up by 64 characters, and a string built by repeat() or many
   * concatenations costs it ten times more.
   */
  private writeUtf8(s: string): number {
    const b = this.buf;
    const start = this.pos;
    const len = s.length;
    if (len <= ASCII_LOOP_MAX) {
      let k = 0;
      for (; k < len; k++) {
        const c = s.charCodeAt(k);
        if (c > 0x7f) break;
        b[start + k] = c;
      }
      if (k === len) {
        this.pos = start + len;
        return len;
      }
    }
    const n = b.write(s, start, 'utf8');
    this.pos = start + n;
    return n;
  }

  /** Reserves room for a length written later (always 4 bytes: a padded varint). */
  reserveLength(): number {
    this.ensure(4);
    const at = this.pos;
    this.pos += 4;
    return at;
  }

  /** Writes the bytes since `at + 4` as a 4-byte padded varint at `at`. */
  patchLength(at: number): void {
    let n = this.pos - at - 4;
    if (n >= 2 ** 28) throw new CodecError('frame too large');
    const b = this.buf;
    for (let k = 0; k < 3; k++) {
      b[at + k] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    b[at + 3] = n;
  }

  /** The bytes written, as a copy that owns its ArrayBuffer (transferable). */
  finish(): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(this.pos);
    out.set(this.buf.subarray(0, this.pos));
    return out;
  }

  /** A view of the bytes written (valid until the next write). */
  view(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  reset(): void {
    this.pos = 0;
  }
}

/**
 * UTF-8 bytes of any Uint8Array as a string (malformed sequences become U+FFFD, as
 * Buffer.toString does). Node's Buffer.prototype.utf8Slice takes any Uint8Array as `this`, which
 * spares the Buffer view (lmdb-js reads its strings the same way); TextDecoder where it is absent.
 */
const utf8Slice = (Buffer.prototype as unknown as { utf8Slice?: (this: Uint8Array, start: number, end: number) => string }).utf8Slice;
const utf8Decoder = new TextDecoder();
function utf8(bytes: Uint8Array, start: number, end: number): string {
  return utf8Slice !== undefined ? utf8Slice.call(bytes, start, end) : utf8Decoder.decode(bytes.subarray(start, end));
}

/**
 * Reads what a Writer wrote. Every read checks bounds and throws CodecError past the end. It
 * reads the Uint8Array it is given, with no Buffer view made of it: every peer decodes every
 * command it applies, and the leader each one it receives (~0.35 us a put against ~0.8 us with a
 * Buffer view, measured on this VM).
 */
export class Reader {
  readonly buf: Uint8Array;
  pos: number;
  /** Where reading stops (a caller may narrow it to one frame of a batch). */
  end: number;

  constructor(data: Uint8Array, start = 0, end = data.length) {
    this.buf = data;
    this.pos = start;
    this.end = end;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  u8(): number {
    if (this.pos >= this.end) throw new CodecError('truncated');
    return this.buf[this.pos++]!;
  }

  uint(): number {
    let n = 0;
    let mul = 1;
    for (let k = 0; k < 8; k++) {
      const b = this.u8();
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 128;
    }
    throw new CodecError('varint too long');
  }

  /** A view (no copy) of the next `n` bytes. */
  raw(n: number): Uint8Array {
    if (n > this.end - this.pos) throw new CodecError('truncated');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  bytes(): Uint8Array {
    return this.raw(this.uint());
  }

  str(): string {
    const n = this.uint();
    if (n > this.end - this.pos) throw new CodecError('truncated');
    const s = utf8(this.buf, this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  rest(): Uint8Array {
    return this.raw(this.end - this.pos);
  }

  /**
   * A value in its stored form (length, tag, bytes), decoded as decodeValue() does, without the
   * view decodeValue(r.bytes()) would make on the way: a get's reply is decoded on
   * the client's thread, which is on every get's path.
   */
  value(): Value {
    const n = this.uint();
    if (n > this.end - this.pos) throw new CodecError('truncated');
    const at = this.pos;
    this.pos += n;
    return valueAt(this.buf, at, at + n);
  }
}

// ------------------------------------------------------------------------------------ values

export type Value = string | Uint8Array;

/** A value as stored: tag byte then bytes. */
export function encodeValue(v: Value): Uint8Array {
  if (typeof v === 'string') {
    const n = Buffer.byteLength(v, 'utf8');
    const out = Buffer.allocUnsafe(n + 1);
    out[0] = ValueTag.String;
    out.write(v, 1, 'utf8');
    return out;
  }
  const out = new Uint8Array(v.length + 1);
  out[0] = ValueTag.Bytes;
  out.set(v, 1);
  return out;
}

/** The value a stored form holds; bytes are copied (the caller owns them). */
export function decodeValue(stored: Uint8Array): Value {
  return valueAt(stored, 0, stored.length);
}

/** The value whose stored form is buf[start, end); bytes are copied, never a view. */
function valueAt(buf: Uint8Array, start: number, end: number): Value {
  if (end <= start) throw new CodecError('empty stored value');
  const tag = buf[start];
  if (tag === ValueTag.String) return utf8(buf, start + 1, end);
  if (tag === ValueTag.Bytes) return new Uint8Array(buf.subarray(start + 1, end));
  throw new CodecError(`unknown value tag ${String(tag)}`);
}

// ------------------------------------------------------------------------------------ commands

export interface WriteCommand {
  readonly op: typeof Op.Put | typeof Op.Append | typeof Op.Delete | typeof Op.Cas;
  readonly clientId: number;
  readonly seq: number;
  readonly ackedBelow: number;
  readonly key: string;
  /** put/append: the value; cas: the next value (stored form). */
  readonly value: Uint8Array | null;
  /** cas: the expected value (stored form), or null for "absent". */
  readonly expected: Uint8Array | null;
}

export type Command = WriteCommand | { readonly op: typeof Op.Clock; readonly ms: number; readonly timeoutMs: number };

/** What a client sends for one write (encoded by encodeWrite). */
export interface WriteRequest {
  readonly op: WriteCommand['op'];
  readonly key: string;
  readonly value?: Value;
  /** cas: undefined means "only if absent". */
  readonly expected?: Value | undefined;
}

/** Writes a log command for a client write into `w`. */
export function encodeWrite(w: Writer, clientId: number, seq: number, ackedBelow: number, req: WriteRequest): void {
  w.u8(req.op).uint(clientId).uint(seq).uint(ackedBelow).str(req.key);
  if (req.op === Op.Cas) {
    if (req.expected === undefined) w.u8(0);
    else writeValue(w.u8(1), req.expected);
  }
  if (req.op !== Op.Delete) writeValue(w, req.value!);
}

/** `val`: v length, then the stored form (tag + bytes), written in place. */
function writeValue(w: Writer, v: Value): void {
  if (typeof v === 'string') {
    const n = v.length < 64 && isAscii(v) ? v.length : Buffer.byteLength(v, 'utf8');
    w.uint(n + 1).u8(ValueTag.String).utf8(v, n);
  } else w.uint(v.length + 1).u8(ValueTag.Bytes).raw(v);
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

export function encodeClock(ms: number, timeoutMs: number): Uint8Array {
  return new Writer(24).u8(Op.Clock).uint(ms).uint(timeoutMs).finish();
}

export function decodeCommand(data: Uint8Array): Command {
  const r = new Reader(data);
  const op = r.u8();
  if (op === Op.Clock) return { op, ms: r.uint(), timeoutMs: r.uint() };
  if (op !== Op.Put && op !== Op.Append && op !== Op.Delete && op !== Op.Cas) throw new CodecError(`unknown command ${op}`);
  const clientId = r.uint();
  const seq = r.uint();
  const ackedBelow = r.uint();
  const key = r.str();
  let expected: Uint8Array | null = null;
  if (op === Op.Cas && r.u8() === 1) expected = checkStored(r.bytes());
  const value = op === Op.Delete ? null : checkStored(r.bytes());
  if (!r.done) throw new CodecError('trailing bytes in command');
  return { op, clientId, seq, ackedBelow, key, value, expected };
}

function checkStored(v: Uint8Array): Uint8Array {
  if (v.length === 0 || (v[0] !== ValueTag.String && v[0] !== ValueTag.Bytes)) throw new CodecError('malformed value');
  return v;
}

// ------------------------------------------------------------------------------------ frames

/** Appends one length-prefixed frame to `w`, written by `body`. */
export function frame(w: Writer, body: (w: Writer) => void): void {
  const at = w.reserveLength();
  body(w);
  w.patchLength(at);
}

/** Splits a batch into frames (views). Throws CodecError when malformed. */
export function splitFrames(batch: Uint8Array): Uint8Array[] {
  const r = new Reader(batch);
  const out: Uint8Array[] = [];
  while (!r.done) out.push(r.bytes());
  return out;
}

/**
 * Whether a request frame is a get or a scan page asking for a linearizable read, read from its
 * first bytes (type, request id, consistency) without decoding the rest. False for anything
 * else, a malformed frame included (handle() answers that one).
 */
export function isLinearizableRead(frame: Uint8Array): boolean {
  const type = frame[0];
  if (type !== Req.Get && type !== Req.Scan) return false;
  let k = 1;
  while (k < frame.length && k < 10 && frame[k]! >= 0x80) k++;
  return k + 1 < frame.length && frame[k + 1] === Consistency.Linearizable;
}

/** Byte-order successor bound for a prefix scan: the smallest key greater than every key starting with `prefix`, or null for none. */
export function prefixEnd(prefix: Uint8Array): Uint8Array | null {
  let n = prefix.length;
  while (n > 0 && prefix[n - 1] === 0xff) n--;
  if (n === 0) return null;
  const out = new Uint8Array(n); // a copy (Buffer#slice would be a view)
  out.set(prefix.subarray(0, n));
  out[n - 1] = out[n - 1]! + 1;
  return out;
}

/** Compares two byte strings in byte order. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}
