import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A temporary directory for a benchmark or profiling run (LMDB environments, fsync files) that
 * is removed however the run ends: normally (cleanup()), on an error that escapes (the 'exit'
 * handler removes it synchronously), or on Ctrl-C / SIGTERM (open clusters are closed first,
 * for at most a few seconds, then the directory is removed and the process exits with 130).
 */
export class Scratch {
  readonly root: string;
  private readonly closers = new Set<() => Promise<unknown>>();
  private removed = false;
  private interrupted = false;
  /** At exit, whatever else happened: remove again (a worker may have written after a removal). */
  private readonly onExit = (): void => {
    this.removed = false;
    this.removeNow();
  };
  private readonly onSignal = (signal: NodeJS.Signals): void => void this.interrupt(signal);

  private constructor(prefix: string) {
    this.root = mkdtempSync(join(tmpdir(), prefix));
    process.on('exit', this.onExit);
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  static create(prefix = 'raftwork-bench-'): Scratch {
    return new Scratch(prefix);
  }

  /** A path inside the scratch directory (not created). */
  path(name: string): string {
    return join(this.root, name);
  }

  /** Registers something to close on interrupt (a Cluster); returns the function that forgets it. */
  track(close: () => Promise<unknown>): () => void {
    this.closers.add(close);
    return () => this.closers.delete(close);
  }

  /** Removes the directory and the handlers. Call once the run is over. */
  async cleanup(): Promise<void> {
    await this.closeAll();
    this.removeNow();
    process.off('exit', this.onExit);
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }

  private async closeAll(): Promise<void> {
    const all = [...this.closers];
    this.closers.clear();
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, 3000).unref());
    await Promise.race([Promise.allSettled(all.map((c) => c())), deadline]);
  }

  private async interrupt(signal: NodeJS.Signals): Promise<void> {
    if (this.interrupted) {
      this.removeNow();
      process.exit(130);
    }
    this.interrupted = true;
    process.stderr.write(`\n${signal}: closing clusters and removing ${this.root}\n`);
    await this.closeAll();
    this.removeNow();
    process.exit(130);
  }

  private removeNow(): void {
    if (this.removed) return;
    this.removed = true;
    try {
      rmSync(this.root, { recursive: true, force: true, maxRetries: 3 });
    } catch (err) {
      process.stderr.write(`could not remove ${this.root}: ${(err as Error).message}\n`);
    }
  }
}
