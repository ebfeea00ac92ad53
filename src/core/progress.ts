import { assert } from './assert.js';
import type { LogIndex } from './types.js';

/**
 * What the leader knows about one follower, and how it sends to it.
 *
 * Invariant: 0 <= match < next.
 *   match: the highest index known to be replicated (and durable) on the follower.
 *   next:  the next index to send.
 *
 * States:
 *   probe      the leader does not know where the follower's log matches; it sends one
 *              AppendEntries, then waits (paused) for the reply or the next heartbeat.
 *   replicate  the follower is keeping up; the leader streams entries optimistically, advancing
 *              next as it sends, bounded by the inflight window (count and bytes).
 *   snapshot   the follower needs entries the leader has compacted; an InstallSnapshot is in
 *              flight and nothing else is sent until it is answered or times out.
 */
export const ProgressState = { Probe: 0, Replicate: 1, Snapshot: 2 } as const;
export type ProgressState = (typeof ProgressState)[keyof typeof ProgressState];

/** A ring of in-flight AppendEntries (their last index and size), freed as acks arrive. */
export class Inflights {
  private readonly lastIndexes: Float64Array;
  private readonly sizes: Float64Array;
  private start = 0;
  count = 0;
  bytes = 0;

  constructor(readonly maxCount: number, readonly maxBytes: number) {
    this.lastIndexes = new Float64Array(maxCount);
    this.sizes = new Float64Array(maxCount);
  }

  full(): boolean {
    return this.count >= this.maxCount || this.bytes >= this.maxBytes;
  }

  add(lastIndex: LogIndex, size: number): void {
    assert(this.count < this.maxCount, 'inflight window overflow');
    const slot = (this.start + this.count) % this.maxCount;
    this.lastIndexes[slot] = lastIndex;
    this.sizes[slot] = size;
    this.count++;
    this.bytes += size;
  }

  /** Frees every in-flight message whose last index is at or below `index`. */
  freeUpTo(index: LogIndex): void {
    while (this.count > 0 && this.lastIndexes[this.start]! <= index) {
      this.bytes -= this.sizes[this.start]!;
      this.start = (this.start + 1) % this.maxCount;
      this.count--;
    }
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
    this.bytes = 0;
  }
}

export class Progress {
  match: LogIndex = 0;
  next: LogIndex;
  state: ProgressState = ProgressState.Probe;
  /** In probe: an AppendEntries is out and unanswered. */
  paused = false;
  /** In snapshot: the snapshot index being installed and ticks spent waiting for its reply. */
  pendingSnapshot: LogIndex = 0;
  snapshotWaitTicks = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** The highest heartbeat round this follower has echoed. */
  ackedRound = 0;
  readonly inflights: Inflights;

  constructor(next: LogIndex, maxInflightMsgs: number, maxInflightBytes: number) {
    this.next = next;
    this.inflights = new Inflights(maxInflightMsgs, maxInflightBytes);
  }

  becomeProbe(): void {
    // Resume from the known match point; after a snapshot, from just past it.
    const from = this.state === ProgressState.Snapshot ? Math.max(this.match, this.pendingSnapshot) : this.match;
    this.state = ProgressState.Probe;
    this.next = from + 1;
    this.paused = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  becomeReplicate(): void {
    this.state = ProgressState.Replicate;
    this.next = this.match + 1;
    this.paused = false;
    this.inflights.reset();
  }

  becomeSnapshot(index: LogIndex): void {
    this.state = ProgressState.Snapshot;
    this.pendingSnapshot = index;
    this.snapshotWaitTicks = 0;
    this.inflights.reset();
  }

  /** Records an ack up to `index`; returns whether match moved. */
  maybeUpdate(index: LogIndex): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      updated = true;
      this.paused = false;
    }
    if (this.next < index + 1) this.next = index + 1;
    return updated;
  }

  /** Whether the leader may send another AppendEntries carrying entries now. */
  canSend(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return !this.paused;
      case ProgressState.Replicate:
        return !this.inflights.full();
      case ProgressState.Snapshot:
        return false;
    }
  }
}
