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
  let out: Uint8Array;
  if (value instanceof Uint8Array && value.constructor === Uint8Array) {
    out = new Uint8Array(value.length + 1);
    out[0] = TAG_BYTES;
    out.set(value, 1);
  } else if (typeof value === 'string') {
    const body = encoder.encode(value);
    out = new Uint8Array(body.length + 1);
    out[0] = TAG_STRING;
    out.set(body, 1);
  } else {
    const body = serializeCommand(value, what);
    out = new Uint8Array(body.length + 1);
    out[0] = TAG_V8;
    out.set(body, 1);
  }
  if (out.length > MAX_COMMAND_BYTES) {
    throw new InvalidArgumentError(`${what}: the command is ${out.length} bytes, over the ${MAX_COMMAND_BYTES}-byte limit; split it`);
  }
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
  let v8Bodies: (Uint8Array | undefined)[] | null = null;
  let size = 4;
  for (let k = 0; k < n; k++) {
    const value = values[k];
    let len: number;
    if (value instanceof Uint8Array && value.constructor === Uint8Array) {
      len = value.length + 1;
    } else if (typeof value === 'string') {
      len = Buffer.byteLength(value, 'utf8') + 1;
    } else {
      const body = serializeCommand(value, what);
      (v8Bodies ??= new Array<Uint8Array | undefined>(n))[k] = body;
      len = body.length + 1;
    }
    if (len > MAX_COMMAND_BYTES) {
      throw new InvalidArgumentError(`${what}: command ${k} is ${len} bytes, over the ${MAX_COMMAND_BYTES}-byte limit; split it`);
    }
    lengths[k] = len;
    size += 4 + len;
  }
  const buf = new Uint8Array(size);
  const view = new DataView(buf.buffer);
  view.setUint32(0, n, true);
  let at = 4;
  for (let k = 0; k < n; k++) {
    const value = values[k];
    const len = lengths[k]!;
    view.setUint32(at, len, true);
    const body = at + 5;
    const v8Body = v8Bodies?.[k];
    if (v8Body !== undefined) {
      buf[at + 4] = TAG_V8;
      buf.set(v8Body, body);
    } else if (typeof value === 'string') {
      buf[at + 4] = TAG_STRING;
      encoder.encodeInto(value, buf.subarray(body, body + len - 1));
    } else {
      buf[at + 4] = TAG_BYTES;
      buf.set(value as Uint8Array, body);
    }
    at += 4 + len;
  }
  return buf;
}

function serializeCommand(value: unknown, what: string): Uint8Array {
  try {
    return serialize(value);
  } catch (err) {
    throw new InvalidArgumentError(
      `${what}: a command must be structured-cloneable (numbers, strings, plain objects, Uint8Array, ...): ${(err as Error).message}`,
    );
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
