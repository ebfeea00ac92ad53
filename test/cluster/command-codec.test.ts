import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeCommand, encodeCommand, MAX_COMMAND_BYTES, packCommandValues } from '../../src/cluster/command-codec.js';
import { unpackCommands } from '../../src/peer/command-batch.js';
import { InvalidArgumentError } from '../../src/errors.js';

const samples: unknown[] = [
  new Uint8Array([1, 2, 3]),
  new Uint8Array(0),
  'plain ascii',
  '',
  'ünïcödé ✓ 𝄞',
  'lone surrogate \ud800 here',
  { op: 'put', key: 'k', n: 42 },
  [1, 'two', null],
  7,
  Buffer.from('a Buffer is not a plain Uint8Array'),
  new Map([['a', 1]]),
];

test('a packed batch holds each command exactly as encodeCommand encodes it', () => {
  const packed = packCommandValues(samples, 'test');
  assert.equal(packed.byteOffset, 0);
  assert.equal(packed.byteLength, packed.buffer.byteLength, 'the batch owns its whole buffer, so it can be transferred');
  const unpacked = unpackCommands(packed);
  assert.equal(unpacked.length, samples.length);
  for (let k = 0; k < samples.length; k++) {
    assert.deepEqual(Buffer.from(unpacked[k]!), Buffer.from(encodeCommand(samples[k], 'test')), `command ${k}`);
    assert.deepEqual(decodeCommand(unpacked[k]!), decodeCommand(encodeCommand(samples[k], 'test')), `command ${k} decodes alike`);
  }
});

test('an empty batch packs to a count of zero', () => {
  const packed = packCommandValues([], 'test');
  assert.deepEqual(unpackCommands(packed), []);
});

test('a command that cannot be cloned is refused with the call named, and nothing is packed', () => {
  assert.throws(
    () => packCommandValues(['ok', () => 1], 'proposeBatch'),
    (err: unknown) => err instanceof InvalidArgumentError && /proposeBatch: a command must be structured-cloneable/.test(err.message),
  );
});

test('an oversized command is refused with its position in the batch and the limit', () => {
  // A string over the limit: measured, never encoded.
  const huge = 'x'.repeat(MAX_COMMAND_BYTES);
  assert.throws(
    () => packCommandValues(['small', huge], 'proposeBatch'),
    (err: unknown) => err instanceof InvalidArgumentError && /command 1 is \d+ bytes, over the \d+-byte limit/.test(err.message),
  );
});
