import { MsgType, type InstallSnapshot, type LogIndex, type Message, type PeerId, type Snapshot, type SnapshotChunkAck, type Term } from '../core/types.js';

/** One chunk of a streamed snapshot: about 1 MiB, so no single message is large. */
export const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
/** Chunks in flight per follower before the leader waits for an ack. */
export const SNAPSHOT_WINDOW_CHUNKS = 4;
/** With no ack for this long, the leader resends from the last acknowledged byte. */
export const SNAPSHOT_STALL_MS = 250;

interface Stream {
  readonly to: PeerId;
  readonly snapshot: Snapshot;
  readonly term: Term;
  /** Bytes the follower has acknowledged, and bytes sent. */
  acked: number;
  sent: number;
  lastProgress: number;
}

/**
 * The leader's side of a streamed InstallSnapshot (Figure 13's offset and done, with flow
 * control). A snapshot larger than one chunk goes out as a window of chunks per follower; each
 * ack from the follower moves the window on. A stalled stream (lost chunks, a partition) resends
 * from the last acknowledged byte, so an interrupted transfer resumes instead of starting over.
 * The leader's event loop never blocks on it, and heartbeats to everyone go on meanwhile.
 */
export class SnapshotSender {
  private readonly streams = new Map<PeerId, Stream>();

  constructor(
    private readonly self: PeerId,
    private readonly send: (msgs: readonly Message[]) => void,
    private readonly now: () => number,
    private readonly chunkBytes = SNAPSHOT_CHUNK_BYTES,
    private readonly windowChunks = SNAPSHOT_WINDOW_CHUNKS,
  ) {}

  /** Whether a snapshot this size goes out in one message. */
  fitsOneMessage(snapshot: Snapshot): boolean {
    return snapshot.data.length <= this.chunkBytes;
  }

  /** The core asked to send `snapshot` to `to` in `term`: start a stream, unless one is already on its way. */
  start(to: PeerId, term: Term, snapshot: Snapshot): void {
    const s = this.streams.get(to);
    if (s && s.snapshot.index === snapshot.index && s.term === term && this.now() - s.lastProgress < SNAPSHOT_STALL_MS) return;
    const stream: Stream = { to, snapshot, term, acked: 0, sent: 0, lastProgress: this.now() };
    this.streams.set(to, stream);
    this.pump(stream);
  }

  onAck(ack: SnapshotChunkAck): void {
    const s = this.streams.get(ack.from);
    if (!s || s.snapshot.index !== ack.index || ack.term !== s.term) return;
    if (ack.offset > s.acked) {
      s.acked = Math.min(ack.offset, s.snapshot.data.length);
      s.lastProgress = this.now();
    }
    if (s.acked >= s.snapshot.data.length) {
      // All bytes are there; the follower's core answers with an InstallSnapshotReply.
      this.streams.delete(s.to);
      return;
    }
    if (s.sent < s.acked) s.sent = s.acked;
    this.pump(s);
  }

  /** Called every tick: resend stalled streams from their last acknowledged byte. */
  tick(): void {
    const now = this.now();
    for (const s of this.streams.values()) {
      if (now - s.lastProgress < SNAPSHOT_STALL_MS) continue;
      s.sent = s.acked;
      s.lastProgress = now;
      this.pump(s);
    }
  }

  /** Leadership is gone (or the peer stops): drop every stream. */
  cancelAll(): void {
    this.streams.clear();
  }

  get active(): number {
    return this.streams.size;
  }

  private pump(s: Stream): void {
    const total = s.snapshot.data.length;
    const limit = Math.min(total, s.acked + this.windowChunks * this.chunkBytes);
    const out: Message[] = [];
    while (s.sent < limit) {
      const end = Math.min(total, s.sent + this.chunkBytes);
      const chunk: InstallSnapshot = {
        type: MsgType.InstallSnapshot,
        term: s.term,
        from: this.self,
        to: s.to,
        lastIncludedIndex: s.snapshot.index,
        lastIncludedTerm: s.snapshot.term,
        offset: s.sent,
        total,
        data: s.snapshot.data.subarray(s.sent, end),
      };
      out.push(chunk);
      s.sent = end;
    }
    if (out.length > 0) this.send(out);
  }
}

/**
 * The follower's side: puts a streamed snapshot back together in one buffer allocated at its
 * final size (so it is never held twice), acking each chunk. Chunks must arrive in order; a
 * duplicate or a chunk past a gap is answered with the current offset, which makes the leader
 * resend from there. A chunk of another snapshot (a new leader, a newer snapshot) starts over.
 */
export class SnapshotReceiver {
  private current: { index: LogIndex; term: Term; leaderTerm: Term; from: PeerId; buf: Uint8Array; received: number } | null = null;
  /** The last snapshot put together: late duplicates of its chunks are acked, not restarted. */
  private done: { index: LogIndex; term: Term; total: number } | null = null;

  constructor(
    private readonly self: PeerId,
    private readonly send: (msgs: readonly Message[]) => void,
  ) {}

  /**
   * Takes one chunk; returns the whole snapshot as one InstallSnapshot for the core once the
   * last chunk is in, else null.
   */
  onChunk(m: InstallSnapshot): InstallSnapshot | null {
    const d = this.done;
    if (!this.current && d && d.index === m.lastIncludedIndex && d.term === m.lastIncludedTerm && d.total === m.total) {
      this.ack(m, d.total);
      return null;
    }
    let c = this.current;
    if (!c || c.index !== m.lastIncludedIndex || c.term !== m.lastIncludedTerm || c.buf.length !== m.total || m.term > c.leaderTerm) {
      if (m.offset !== 0) {
        // A chunk of a stream we never saw start: ask for it from the beginning.
        this.ack(m, 0);
        return null;
      }
      c = { index: m.lastIncludedIndex, term: m.lastIncludedTerm, leaderTerm: m.term, from: m.from, buf: new Uint8Array(m.total), received: 0 };
      this.current = c;
    }
    if (m.offset === c.received) {
      c.buf.set(m.data, m.offset);
      c.received += m.data.length;
    }
    this.ack(m, c.received);
    if (c.received < c.buf.length) return null;
    this.current = null;
    this.done = { index: c.index, term: c.term, total: c.buf.length };
    return {
      type: MsgType.InstallSnapshot,
      term: m.term,
      from: m.from,
      to: m.to,
      lastIncludedIndex: c.index,
      lastIncludedTerm: c.term,
      offset: 0,
      total: c.buf.length,
      data: c.buf,
    };
  }

  /** Bytes of a partly received snapshot held now. */
  get pendingBytes(): number {
    return this.current?.buf.length ?? 0;
  }

  private ack(m: InstallSnapshot, offset: number): void {
    const ack: SnapshotChunkAck = { type: MsgType.SnapshotChunkAck, term: m.term, from: this.self, to: m.from, index: m.lastIncludedIndex, offset };
    this.send([ack]);
  }
}
