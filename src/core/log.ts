import { assert } from './assert.js';
import type { Entry, LogIndex, Term } from './types.js';

/** Per-entry bookkeeping counted by bytes(), besides the data. */
const ENTRY_OVERHEAD = 24;

/**
 * The in-memory Raft log of one peer: a snapshot boundary followed by entries.
 *
 *        snapshotIndex
 *             |
 *   [compacted]| e(s+1) e(s+2) ... e(last)
 *
 * Entries at or below snapshotIndex are gone; term(snapshotIndex) is remembered so the
 * AppendEntries consistency check still works right after compaction.
 *
 * The log is the whole truth for the core; storage holds a durable copy written from Ready.
 */
export class RaftLog {
  snapshotIndex: LogIndex = 0;
  snapshotTerm: Term = 0;
  /** entries[k] has index snapshotIndex + 1 + k. */
  private entries: Entry[] = [];
  /** Running total for bytes(). */
  private dataBytes = 0;

  constructor(snapshotIndex: LogIndex = 0, snapshotTerm: Term = 0, entries: readonly Entry[] = []) {
    this.snapshotIndex = snapshotIndex;
    this.snapshotTerm = snapshotTerm;
    for (let k = 0; k < entries.length; k++) {
      assert(entries[k]!.index === snapshotIndex + 1 + k, `log entries not contiguous at ${entries[k]!.index}`);
    }
    this.entries = entries.slice();
    for (const e of this.entries) this.dataBytes += e.data.length + ENTRY_OVERHEAD;
  }

  firstIndex(): LogIndex {
    return this.snapshotIndex + 1;
  }

  lastIndex(): LogIndex {
    return this.snapshotIndex + this.entries.length;
  }

  lastTerm(): Term {
    return this.entries.length === 0 ? this.snapshotTerm : this.entries[this.entries.length - 1]!.term;
  }

  /** The term at `index`, or -1 when the log does not hold it (compacted away or beyond the end). */
  term(index: LogIndex): Term {
    if (index === this.snapshotIndex) return this.snapshotTerm;
    if (index < this.snapshotIndex || index > this.lastIndex()) return -1;
    return this.entries[index - this.snapshotIndex - 1]!.term;
  }

  entry(index: LogIndex): Entry {
    assert(index > this.snapshotIndex && index <= this.lastIndex(), `entry ${index} is not in the log`);
    return this.entries[index - this.snapshotIndex - 1]!;
  }

  /** Entries [lo, hi), both within the log. */
  slice(lo: LogIndex, hi: LogIndex): Entry[] {
    assert(lo > this.snapshotIndex && hi <= this.lastIndex() + 1 && lo <= hi, `bad slice [${lo}, ${hi})`);
    return this.entries.slice(lo - this.snapshotIndex - 1, hi - this.snapshotIndex - 1);
  }

  /**
   * Entries from `lo` onwards, stopping before their data exceeds `maxBytes` (at least one entry
   * is returned when any exists, so a single large entry still moves).
   */
  sliceBytes(lo: LogIndex, maxEntries: number, maxBytes: number): Entry[] {
    const start = lo - this.snapshotIndex - 1;
    const end = Math.min(this.entries.length, start + maxEntries);
    let bytes = 0;
    let k = start;
    for (; k < end; k++) {
      bytes += this.entries[k]!.data.length + 16;
      if (bytes > maxBytes && k > start) break;
    }
    return this.entries.slice(start, k);
  }

  append(entry: Entry): void {
    assert(entry.index === this.lastIndex() + 1, `append at ${entry.index}, expected ${this.lastIndex() + 1}`);
    this.entries.push(entry);
    this.dataBytes += entry.data.length + ENTRY_OVERHEAD;
  }

  /** Removes every entry at or after `index`. */
  truncateFrom(index: LogIndex): void {
    assert(index > this.snapshotIndex, `cannot truncate at ${index}: compacted up to ${this.snapshotIndex}`);
    if (index <= this.lastIndex()) this.drop(index - this.snapshotIndex - 1, this.entries.length);
  }

  /** The first index holding `term` in the run of entries ending at `index` (for the rejection hint). */
  firstIndexOfTermEndingAt(index: LogIndex): LogIndex {
    const term = this.term(index);
    let i = index;
    while (i - 1 > this.snapshotIndex && this.term(i - 1) === term) i--;
    return i;
  }

  /** The last index holding `term` at or below `atMost`, or 0 when none is in the log. */
  lastIndexOfTerm(term: Term, atMost: LogIndex): LogIndex {
    for (let i = Math.min(atMost, this.lastIndex()); i > this.snapshotIndex; i--) {
      const t = this.entries[i - this.snapshotIndex - 1]!.term;
      if (t === term) return i;
      if (t < term) return 0;
    }
    return 0;
  }

  /** Drops entries up to `index` (the service snapshotted them). */
  compact(index: LogIndex): void {
    assert(index > this.snapshotIndex && index <= this.lastIndex(), `cannot compact to ${index}`);
    const term = this.term(index);
    this.drop(0, index - this.snapshotIndex);
    this.snapshotIndex = index;
    this.snapshotTerm = term;
  }

  /**
   * Installs a snapshot from the leader: keeps the entries after it if the log holds the
   * snapshot's last entry (section 7 of the paper), otherwise discards the whole log.
   */
  restore(index: LogIndex, term: Term): void {
    if (index < this.lastIndex() && index > this.snapshotIndex && this.term(index) === term) {
      this.drop(0, index - this.snapshotIndex);
    } else {
      this.drop(0, this.entries.length);
    }
    this.snapshotIndex = index;
    this.snapshotTerm = term;
  }

  /** Approximate bytes held: data plus a fixed per-entry overhead. O(1). */
  bytes(): number {
    return this.dataBytes;
  }

  /** Removes entries[from, to) and keeps the byte count. */
  private drop(from: number, to: number): void {
    for (let k = from; k < to; k++) this.dataBytes -= this.entries[k]!.data.length + ENTRY_OVERHEAD;
    if (to === this.entries.length) this.entries.length = from;
    else this.entries.splice(from, to - from);
  }
}
