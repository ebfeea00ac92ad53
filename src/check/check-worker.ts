/**
 * Piscina worker: checks a group of partitions, interleaved round-robin like the single-thread
 * path. The model travels by name (functions cannot be cloned); operations, the deadline and the
 * shared cancel flag travel as plain data (a SharedArrayBuffer is shared, not copied).
 */
import { checkPartitions, type PartitionCheck } from './linearizability.js';
import type { Operation } from './model.js';
import { getModel } from './registry.js';

export interface PartitionTask {
  readonly model: string;
  /** The partitions' positions in the whole history, parallel to `parts`. */
  readonly indices: readonly number[];
  readonly parts: readonly (readonly Operation<unknown, unknown>[])[];
  /** `Date.now()` deadline; Infinity for none. */
  readonly deadline: number;
  /** Raise the cancel flag when a partition is illegal (so every worker stops). */
  readonly stopOnIllegal: boolean;
  readonly maxMemoStates?: number;
  /** Int32Array over a SharedArrayBuffer; non-zero at [0] = stop. */
  readonly cancel: Int32Array;
}

export default function checkPartitionTask(task: PartitionTask): PartitionCheck<unknown, unknown>[] {
  const model = getModel(task.model);
  return checkPartitions(
    model,
    task.parts,
    {
      deadline: task.deadline,
      cancel: task.cancel,
      stopOnIllegal: task.stopOnIllegal,
      ...(task.maxMemoStates !== undefined ? { maxMemoStates: task.maxMemoStates } : {}),
    },
    task.indices,
  );
}
