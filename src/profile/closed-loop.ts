/**
 * N closed loops of calls, each one call at a time, awaiting each answer before its next: the
 * shape of N independent users of a store. The bench's key-value figures (bench/kv.ts) and the
 * profiler's key-value workload (src/cli/profile-kv.ts) both drive the store with it.
 */
import { within } from './workload.js';

/**
 * `lanes.length` loops, each one operation at a time on its client, awaiting each answer before
 * the next call. Counts answers; while `recording`, keeps each answered operation's latency.
 * (The pipelined figure gives every lane the same client: one client, many calls in flight.)
 */
export class ClosedLoop<C> {
  answered = 0;
  error: Error | null = null;
  recording = false;
  readonly latencies: number[] = [];
  private running = false;
  private loops: Promise<void>[] = [];
  private waiter: { n: number; resolve: () => void; reject: (e: Error) => void } | null = null;

  constructor(
    private readonly lanes: readonly C[],
    private readonly op: (c: C, i: number) => Promise<unknown>,
  ) {}

  start(): void {
    this.running = true;
    this.loops = this.lanes.map((c, lane) => this.loop(c, lane));
  }

  /** Resolves once `n` operations have been answered in all (rejects on the first failure). */
  waitAnswered(n: number): Promise<void> {
    if (this.error) return Promise.reject(this.error);
    if (this.answered >= n) return Promise.resolve();
    return new Promise((resolve, reject) => (this.waiter = { n, resolve, reject }));
  }

  /** Stops issuing; resolves when every lane's last operation is answered. */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.running = false;
    const ok = await within(Promise.all(this.loops).then(() => true), timeoutMs, false);
    if (!ok) throw new Error(`operations still unanswered ${timeoutMs / 1000} s after the run ended`);
  }

  private async loop(c: C, lane: number): Promise<void> {
    // Lanes start 7919 keys apart (a prime, so odd: 1024 lanes start on 1024 different keys).
    for (let i = lane * 7919; this.running && this.error === null; i++) {
      const t = performance.now();
      try {
        await this.op(c, i);
      } catch (err) {
        this.fail(err);
        return;
      }
      if (this.recording) this.latencies.push(performance.now() - t);
      this.answered++;
      const w = this.waiter;
      if (w !== null && this.answered >= w.n) {
        this.waiter = null;
        w.resolve();
      }
    }
  }

  private fail(err: unknown): void {
    if (this.error) return;
    this.error = err instanceof Error ? err : new Error(String(err));
    this.waiter?.reject(this.error);
    this.waiter = null;
  }
}
