import type { Cluster } from '../cluster/cluster.js';

/**
 * Restarts peer workers that die unexpectedly (an uncaught error, an exit nobody asked for),
 * with exponential backoff, and leaves alone the ones crashed on purpose through
 * `cluster.crash(i)` until `cluster.restart(i)`.
 *
 * The Cluster does not report why a worker went down, so this wraps the instance's crash() and
 * restart() to record what was asked for, and polls isUp() to notice deaths. A hook in the
 * Cluster (an exit callback that says whether the exit was requested) would replace both the
 * wrapping and the polling; see the store's notes.
 */
export class Supervisor {
  private readonly requestedDown: boolean[];
  private readonly restarting: boolean[];
  private readonly connecting: boolean[];
  /** Consecutive quick deaths, for the backoff. */
  private readonly failures: number[];
  /** When an unrequested death was first seen (0: not dead). */
  private readonly deadSince: number[];
  private readonly upSince: number[];
  private timer: ReturnType<typeof setInterval> | null = null;
  private stopped = false;
  /** Restarts done by the supervisor, per peer. */
  readonly restarts: number[];

  constructor(
    private readonly cluster: Cluster,
    /** Called after a peer is up again (by the supervisor or by restart()): reconnect to it. */
    private readonly onUp: (i: number) => Promise<void>,
    /** Whether the store is connected to peer i. */
    private readonly connected: (i: number) => boolean,
    /** Called after onUp fails, or a restart fails: for logging. */
    private readonly onError: (i: number, err: unknown) => void,
    private readonly options: { readonly pollMs: number; readonly minBackoffMs: number; readonly maxBackoffMs: number; readonly restart: boolean },
  ) {
    const n = cluster.peers;
    this.requestedDown = new Array<boolean>(n).fill(false);
    this.restarting = new Array<boolean>(n).fill(false);
    this.connecting = new Array<boolean>(n).fill(false);
    this.failures = new Array<number>(n).fill(0);
    this.deadSince = new Array<number>(n).fill(0);
    this.upSince = new Array<number>(n).fill(performance.now());
    this.restarts = new Array<number>(n).fill(0);
    this.wrap();
  }

  start(): void {
    this.timer = setInterval(() => this.poll(), this.options.pollMs);
    this.timer.unref();
  }

  /** Stops supervising; resolves once no restart is in progress. */
  stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    return this.restartChain;
  }

  private wrap(): void {
    const cluster = this.cluster;
    const crash = cluster.crash.bind(cluster);
    const rawRestart = cluster.restart.bind(cluster);
    // One restart at a time, in the order asked (Cluster.restart also queues its own restarts;
    // this chain keeps the supervisor's bookkeeping in the same order).
    const restart = (i: number): Promise<void> => {
      const p = this.restartChain.then(() => rawRestart(i));
      this.restartChain = p.catch(() => undefined);
      return p;
    };
    // Instance properties shadow the prototype's methods; Cluster.restart calls this.crash,
    // which lands here too (and is undone below once the restart is done).
    Object.defineProperty(cluster, 'crash', {
      configurable: true,
      writable: true,
      value: async (i: number): Promise<void> => {
        if (Number.isInteger(i) && i >= 0 && i < cluster.peers) this.requestedDown[i] = true;
        await crash(i);
      },
    });
    Object.defineProperty(cluster, 'restart', {
      configurable: true,
      writable: true,
      value: async (i: number): Promise<void> => {
        const valid = Number.isInteger(i) && i >= 0 && i < cluster.peers;
        if (valid) this.restarting[i] = true;
        try {
          await restart(i);
          if (valid) {
            this.requestedDown[i] = false;
            this.upSince[i] = performance.now();
          }
        } finally {
          if (valid) this.restarting[i] = false;
        }
        if (valid && !this.stopped) await this.onUp(i);
      },
    });
    this.restartImpl = restart;
  }

  private restartImpl: (i: number) => Promise<void> = async () => undefined;
  private restartChain: Promise<void> = Promise.resolve();

  private poll(): void {
    if (this.stopped) return;
    const now = performance.now();
    for (let i = 0; i < this.cluster.peers; i++) {
      if (this.restarting[i]) continue;
      let up: boolean;
      try {
        up = this.cluster.isUp(i);
      } catch {
        void this.stop();
        return;
      }
      if (up && !this.connected(i) && !this.connecting[i]) {
        // Up but not connected (restarted by a path that did not reconnect, or a failed connect).
        this.connecting[i] = true;
        void this.onUp(i)
          .catch((err: unknown) => {
            if (!this.stopped) this.onError(i, err);
          })
          .finally(() => (this.connecting[i] = false));
      }
      if (up || this.requestedDown[i] || !this.options.restart) {
        this.deadSince[i] = 0;
        continue;
      }
      if (this.deadSince[i] === 0) {
        // First sight of a death nobody asked for. Quick deaths in a row back off exponentially.
        this.deadSince[i] = now;
        this.failures[i] = now - this.upSince[i]! < 10_000 ? this.failures[i]! + 1 : 1;
      }
      const backoff = Math.min(this.options.maxBackoffMs, this.options.minBackoffMs * 2 ** (this.failures[i]! - 1));
      if (now - this.deadSince[i]! < backoff) continue;
      this.restarting[i] = true;
      void this.restartImpl(i)
        .then(async () => {
          this.restarts[i]!++;
          this.upSince[i] = performance.now();
          this.deadSince[i] = 0;
          if (!this.stopped) await this.onUp(i);
        })
        .catch((err: unknown) => {
          if (!this.stopped) this.onError(i, err);
          // Try again after a longer backoff.
          this.deadSince[i] = performance.now();
          this.failures[i]!++;
        })
        .finally(() => {
          this.restarting[i] = false;
        });
    }
  }
}
