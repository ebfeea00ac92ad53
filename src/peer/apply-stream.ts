import type { Entry, LogIndex, Snapshot, Term } from '../core/types.js';

/**
 * The apply stream from a peer worker to the main thread, packed into one buffer per batch
 * (one postMessage per Ready, whatever the number of entries).
 *
 * Layout, little-endian: u32 count, then per item:
 *   u8 kind (0 entry, 1 snapshot), f64 index, f64 term, u32 length, bytes.
 */
export type ApplyMsg =
  | { readonly type: 'entry'; readonly index: LogIndex; readonly term: Term; readonly command: Uint8Array }
  | { readonly type: 'snapshot'; readonly index: LogIndex; readonly term: Term; readonly data: Uint8Array };

const HEADER = 1 + 8 + 8 + 4;

export function encodeApplied(snapshot: Snapshot | null, entries: readonly Entry[]): Uint8Array<ArrayBuffer> {
  let size = 4;
  let count = 0;
  if (snapshot) {
    size += HEADER + snapshot.data.length;
    count++;
  }
  for (const e of entries) {
    size += HEADER + e.data.length;
    count++;
  }
  const buf = new Uint8Array(size);
  const view = new DataView(buf.buffer);
  view.setUint32(0, count, true);
  let at = 4;
  const put = (kind: number, index: number, term: number, data: Uint8Array): void => {
    view.setUint8(at, kind);
    view.setFloat64(at + 1, index, true);
    view.setFloat64(at + 9, term, true);
    view.setUint32(at + 17, data.length, true);
    buf.set(data, at + HEADER);
    at += HEADER + data.length;
  };
  if (snapshot) put(1, snapshot.index, snapshot.term, snapshot.data);
  for (const e of entries) put(0, e.index, e.term, e.data);
  return buf;
}

type SnapshotMsg = Extract<ApplyMsg, { type: 'snapshot' }>;

/** Builds the message for one applied entry whose command is bytes [start, end) of `buf`. */
export type AppliedEntryFactory<E> = (index: LogIndex, term: Term, buf: Uint8Array, start: number, end: number) => E;

/**
 * Decodes a batch. `entry` builds each entry's message from its range of `buf` (no copy): the
 * Cluster's makes the command view only when a listener reads it, which saves an allocation per
 * entry for listeners that skip most of them. Throws on a malformed buffer.
 */
export function decodeApplied<E>(buf: Uint8Array, entry: AppliedEntryFactory<E>): (E | SnapshotMsg)[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const count = view.getUint32(0, true);
  const out: (E | SnapshotMsg)[] = new Array(count);
  let at = 4;
  for (let k = 0; k < count; k++) {
    if (at + HEADER > buf.length) throw new Error('apply batch truncated');
    const kind = view.getUint8(at);
    const index = view.getFloat64(at + 1, true);
    const term = view.getFloat64(at + 9, true);
    const len = view.getUint32(at + 17, true);
    const start = at + HEADER;
    if (start + len > buf.length) throw new Error('apply batch truncated');
    out[k] = kind === 1 ? { type: 'snapshot', index, term, data: buf.subarray(start, start + len) } : entry(index, term, buf, start, start + len);
    at = start + len;
  }
  return out;
}
