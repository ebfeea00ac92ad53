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
    let body: Uint8Array;
    try {
      body = serialize(value);
    } catch (err) {
      throw new InvalidArgumentError(
        `${what}: a command must be structured-cloneable (numbers, strings, plain objects, Uint8Array, ...): ${(err as Error).message}`,
      );
    }
    out = new Uint8Array(body.length + 1);
    out[0] = TAG_V8;
    out.set(body, 1);
  }
  if (out.length > MAX_COMMAND_BYTES) {
    throw new InvalidArgumentError(`${what}: the command is ${out.length} bytes, over the ${MAX_COMMAND_BYTES}-byte limit; split it`);
  }
  return out;
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
