import type { Entry, HardState, Snapshot } from '../core/types.js';

/**
 * What a simulated peer has made durable. Survives crashes; nothing else does.
 * Writes reach it only when the simulated storage reports them done, so a crash loses
 * exactly the writes that were still in flight.
 */
export class SimDisk {
  hardState: HardState = { currentTerm: 0, votedFor: -1 };
  snapshot: Snapshot | null = null;
  /** entries[k] has index (snapshot?.index ?? 0) + 1 + k. */
  entries: Entry[] = [];

  private get offset(): number {
    return this.snapshot?.index ?? 0;
  }

  lastIndex(): number {
    return this.offset + this.entries.length;
  }

  /** Applies one Ready's write atomically, with the storage semantics written on Ready. */
  write(hardState: HardState | null, snapshot: Snapshot | null, entries: readonly Entry[]): void {
    if (hardState) this.hardState = hardState;
    if (snapshot) this.installSnapshot(snapshot);
    if (entries.length > 0) {
      const from = entries[0]!.index;
      const keep = from - this.offset - 1;
      if (keep < 0) throw new Error(`disk write at ${from} below snapshot ${this.offset}`);
      if (keep > this.entries.length) throw new Error(`disk write at ${from} leaves a gap after ${this.lastIndex()}`);
      this.entries.length = keep;
      for (const e of entries) this.entries.push(e);
    }
  }

  /** The service's own snapshot: drop the log up to it, keep the rest. */
  compact(snapshot: Snapshot): void {
    if (snapshot.index <= this.offset) return;
    const drop = Math.min(snapshot.index - this.offset, this.entries.length);
    this.entries.splice(0, drop);
    this.snapshot = snapshot;
  }

  private installSnapshot(s: Snapshot): void {
    const k = s.index - this.offset - 1;
    const matches = k >= 0 && k < this.entries.length && this.entries[k]!.term === s.term;
    this.entries = matches ? this.entries.slice(k + 1) : [];
    this.snapshot = s;
  }
}
