import { deserialize, serialize } from 'node:v8';
import { InvalidArgumentError } from '../errors.js';

/**
 * Commands are any structured-cloneable value; in the log they are bytes. Byte arrays and
 * strings, the common cases, skip v8's serializer (a tag byte, then the raw bytes or UTF-8);
 * everything else is v8.serialize'd. decodeCommand gives back a deep-equal value.
 */
const TAG_V8 = 0;
const TAG_BYTES = 1;
const TAG_STRING = 2;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The largest command accepted: beyond it, split the value or store it elsewhere. */
export const MAX_COMMAND_BYTES = 64 * 1024 * 1024;

export function encodeCommand(value: unknown, what: string): Uint8Array {
  const v8Body = v8BodyOf(value, what);
  const len = checkedLength(value, v8Body, what, 'the command');
  const out = new Uint8Array(len);
  writeCommand(out, 0, value, v8Body, len);
  return out;
}

/**
 * The commands of a proposeBatch, encoded straight into the packed batch format of
 * src/peer/command-batch.ts (u32 count, then u32 length + encoded command each): each packed
 * command is the bytes encodeCommand gives, with one allocation for the whole batch instead of
 * one per command. Byte arrays are copied once; strings are UTF-8 encoded in place; only other
 * values go through a v8.serialize buffer of their own.
 */
export function packCommandValues(values: readonly unknown[], what: string): Uint8Array<ArrayBuffer> {
  const n = values.length;
  // Per command: its encoded length; v8 bodies are kept until the write pass.
  const lengths = new Uint32Array(n);
  let v8Bodies: (Uint8Array | null)[] | null = null;
  let size = 4;
  for (let k = 0; k < n; k++) {
    const v8Body = v8BodyOf(values[k], what);
    if (v8Body !== null) (v8Bodies ??= new Array<Uint8Array | null>(n).fill(null))[k] = v8Body;
    const len = checkedLength(values[k], v8Body, what, `command ${k}`);
    lengths[k] = len;
    size += 4 + len;
  }
  const buf = new Uint8Array(size);
  const view = new DataView(buf.buffer);
  view.setUint32(0, n, true);
  let at = 4;
  for (let k = 0; k < n; k++) {
    const len = lengths[k]!;
    view.setUint32(at, len, true);
    writeCommand(buf, at + 4, values[k], v8Bodies?.[k] ?? null, len);
    at += 4 + len;
  }
  return buf;
}

/** Byte arrays and strings are stored raw; anything else as its v8.serialize body, made here. */
function v8BodyOf(value: unknown, what: string): Uint8Array | null {
  if ((value instanceof Uint8Array && value.constructor === Uint8Array) || typeof value === 'string') return null;
  try {
    return serialize(value);
  } catch (err) {
    throw new InvalidArgumentError(
      `${what}: a command must be structured-cloneable (numbers, strings, plain objects, Uint8Array, ...): ${(err as Error).message}`,
    );
  }
}

/** The encoded length (tag byte included), refused over MAX_COMMAND_BYTES. */
function checkedLength(value: unknown, v8Body: Uint8Array | null, what: string, which: string): number {
  const len = 1 + (v8Body !== null ? v8Body.length : typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : (value as Uint8Array).length);
  if (len > MAX_COMMAND_BYTES) {
    throw new InvalidArgumentError(`${what}: ${which} is ${len} bytes, over the ${MAX_COMMAND_BYTES}-byte limit; split it`);
  }
  return len;
}

/** Writes the tag and body of a command of encoded length `len` at `buf[at]`. */
function writeCommand(buf: Uint8Array, at: number, value: unknown, v8Body: Uint8Array | null, len: number): void {
  if (v8Body !== null) {
    buf[at] = TAG_V8;
    buf.set(v8Body, at + 1);
  } else if (typeof value === 'string') {
    buf[at] = TAG_STRING;
    encoder.encodeInto(value, buf.subarray(at + 1, at + len));
  } else {
    buf[at] = TAG_BYTES;
    buf.set(value as Uint8Array, at + 1);
  }
}

export function decodeCommand(bytes: Uint8Array): unknown {
  const body = bytes.subarray(1);
  switch (bytes[0]) {
    case TAG_BYTES:
      return body.slice();
    case TAG_STRING:
      return decoder.decode(body);
    case TAG_V8:
      return deserialize(body);
    default:
      throw new Error(`unknown command encoding ${bytes[0]}`);
  }
}
