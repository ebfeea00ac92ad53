/**
 * Checking partitions in parallel on a piscina pool.
 *
 * Partitions are independent. They are dealt into one group per thread, balanced by size, and
 * each worker interleaves its group round-robin exactly as the single-thread path does. Workers
 * look the model up by name (see registry.ts) because functions cannot be cloned. An illegal
 * partition settles the verdict, so its worker raises a flag in a SharedArrayBuffer that the
 * others poll (every ~1k search steps) and stop on; a deadline works the same way on the shared
 * wall clock.
 *
 * Starting workers costs tens of milliseconds, more than small histories take to check, so below
 * a threshold (or with a single partition) the check runs in the calling thread instead.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { PartitionTask } from './check-worker.js';
import {
  type CheckOptions,
  type CheckResult,
  type PartitionCheck,
  assemble,
  checkOperations,
  deadlineFrom,
  partitionHistory,
} from './linearizability.js';
import { type Operation, validateHistory } from './model.js';
import { type ModelName, getModel } from './registry.js';

/** Below this many operations the parallel entry points check in the calling thread. */
export const DEFAULT_MIN_POOL_OPERATIONS = 2000;

const WORKER_URL = new URL('./check-worker.js', import.meta.url);

/**
 * Split partitions into at most `groups` groups of similar total size (largest first, each into
 * the lightest group so far). One group is one task: a worker interleaves its partitions, so an
 * explosive partition never keeps a cheap one in the same group waiting.
 */
export function groupPartitions(parts: readonly (readonly unknown[])[], groups: number): number[][] {
  const count = Math.max(1, Math.min(groups, parts.length));
  const out: number[][] = Array.from({ length: count }, () => []);
  const load = new Array<number>(count).fill(0);
  const order = parts.map((_, i) => i).sort((a, b) => parts[b].length - parts[a].length || a - b);
  for (const i of order) {
    let g = 0;
    for (let k = 1; k < count; k++) if (load[k] < load[g]) g = k;
    out[g].push(i);
    load[g] += parts[i].length;
  }
  for (const g of out) g.sort((a, b) => a - b);
  return parts.length === 0 ? [] : out;
}

export interface CheckerPoolOptions {
  /** Worker threads. Default: the machine's available parallelism. */
  readonly threads?: number;
}

/**
 * A reusable pool of checker workers. Create one when checking many histories (a simulator
 * swarm, a test suite) and `close()` it when done; an open pool keeps the process alive.
 */
export class CheckerPool {
  readonly #pool: Piscina<PartitionTask, PartitionCheck<unknown, unknown>[]>;
  #closed: Promise<void> | undefined;

  constructor(options: CheckerPoolOptions = {}) {
    const threads = Math.max(1, Math.floor(options.threads ?? availableParallelism()));
    this.#pool = new Piscina({
      filename: WORKER_URL.href,
      minThreads: threads,
      maxThreads: threads,
      // A worker is busy with one CPU-bound search at a time.
      concurrentTasksPerWorker: 1,
    });
  }

  get threads(): number {
    return this.#pool.maxThreads;
  }

  /**
   * Check a history on the pool's workers, every partition as its own task, whatever the size.
   * Throws `HistoryError` for a malformed history and an Error for an unknown model name.
   */
  async check<I, O>(
    modelName: ModelName,
    history: readonly Operation<I, O>[],
    options: CheckOptions = {},
  ): Promise<CheckResult<I, O>> {
    if (this.#closed !== undefined) throw new Error('CheckerPool is closed');
    const t0 = performance.now();
    const model = getModel(modelName);
    validateHistory(history);
    const parts = partitionHistory(model, history);
    const deadline = deadlineFrom(options.timeoutMs);
    const cancel = new Int32Array(new SharedArrayBuffer(4));
    const groups = groupPartitions(parts, this.threads);

    const settled = await Promise.allSettled(
      groups.map((indices) =>
        this.#pool.run({
          model: modelName,
          indices,
          parts: indices.map((i) => parts[i]),
          deadline,
          stopOnIllegal: options.stopOnIllegal ?? true,
          ...(options.maxMemoStates !== undefined ? { maxMemoStates: options.maxMemoStates } : {}),
          cancel,
        }),
      ),
    );
    const checks: PartitionCheck<I, O>[] = [];
    for (const s of settled) {
      if (s.status === 'rejected') throw s.reason;
      checks.push(...(s.value as PartitionCheck<I, O>[]));
    }
    return assemble(checks, t0, 'pool');
  }

  /** Stop the workers. Idempotent; waits for running tasks to finish. */
  close(): Promise<void> {
    this.#closed ??= this.#pool.close();
    return this.#closed;
  }
}

export interface ParallelCheckOptions extends CheckOptions {
  /** Threads of the pool this call creates (ignored with `pool`). Default: min(cores, partitions). */
  readonly threads?: number;
  /**
   * Check in this thread when the history has fewer operations than this, or a single
   * partition. Default DEFAULT_MIN_POOL_OPERATIONS; 0 always uses a pool.
   */
  readonly minOperations?: number;
  /** Use this pool (its owner closes it) instead of starting and closing one. */
  readonly pool?: CheckerPool;
}

/**
 * Check a history against a registered model, partitions in parallel when that pays.
 * The result's `mode` tells which path ran.
 */
export async function checkOperationsParallel<I, O>(
  modelName: ModelName,
  history: readonly Operation<I, O>[],
  options: ParallelCheckOptions = {},
): Promise<CheckResult<I, O>> {
  const model = getModel(modelName);
  validateHistory(history);
  const minOperations = options.minOperations ?? DEFAULT_MIN_POOL_OPERATIONS;
  const checkOptions: CheckOptions = {
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.stopOnIllegal !== undefined ? { stopOnIllegal: options.stopOnIllegal } : {}),
    ...(options.maxMemoStates !== undefined ? { maxMemoStates: options.maxMemoStates } : {}),
  };
  if (options.pool !== undefined) return options.pool.check(modelName, history, checkOptions);

  const partitions = partitionHistory(model, history).length;
  if (minOperations > 0 && (history.length < minOperations || partitions <= 1)) {
    return checkOperations(model, history, checkOptions) as CheckResult<I, O>;
  }
  const threads = Math.max(1, Math.min(options.threads ?? availableParallelism(), partitions));
  const pool = new CheckerPool({ threads });
  try {
    return await pool.check(modelName, history, checkOptions);
  } finally {
    await pool.close();
  }
}

/** The single-thread path by model name (same verdicts as the parallel one). */
export function checkOperationsByName<I, O>(
  modelName: ModelName,
  history: readonly Operation<I, O>[],
  options: CheckOptions = {},
): CheckResult<I, O> {
  return checkOperations(getModel(modelName), history, options) as CheckResult<I, O>;
}
