/**
 * The LMDB store's log layout seen from outside, for tests: an encoder of segment values written
 * from the format comment in src/storage/lmdb-store.ts (not from its code, so a change of the
 * format shows up as a failing test), and raw access to a closed store's LMDB environment.
 */
import { open as openLmdb } from 'lmdb';
import type { Entry } from '../../src/core/types.js';

export const DB_SEGMENTS = 'raftwork.segments';

/** A segment value: version u8, count u32 BE, then per entry kind u8, term f64 BE, length u32 BE, data. */
export function encodeSegment(es: readonly Entry[], options: { version?: number; count?: number } = {}): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(5);
  head[0] = options.version ?? 1;
  head.writeUInt32BE(options.count ?? es.length, 1);
  parts.push(head);
  for (const e of es) {
    const h = Buffer.alloc(13);
    h[0] = e.kind;
    h.writeDoubleBE(e.term, 1);
    h.writeUInt32BE(e.data.length, 9);
    parts.push(h, Buffer.from(e.data));
  }
  return Buffer.concat(parts);
}

/** The segments stored in a closed store's directory: [first index, value length], in key order. */
export async function rawSegments(path: string): Promise<Array<[number, number]>> {
  const env = openLmdb({ path, maxDbs: 64, overlappingSync: false, readOnly: true });
  try {
    const d = env.openDB<Buffer, number>(DB_SEGMENTS, { encoding: 'binary' });
    return [...d.getRange({})].map(({ key, value }) => [key, value.length]);
  } finally {
    await env.close();
  }
}

/** Writes (or with null removes) one raw record in a closed store, the way a bug or a bit flip would. */
export async function tamper(path: string, db: string, key: string | number, value: Buffer | null): Promise<void> {
  const env = openLmdb({ path, maxDbs: 64, overlappingSync: false });
  const d = env.openDB(db, { encoding: 'binary' });
  if (value === null) await d.remove(key);
  else await d.put(key, value);
  await env.close();
}
