/**
 * raftwork's linearizability checker (porcupine's algorithm): models, the search, a parallel
 * driver on worker threads, and readers for Jepsen-style histories.
 */
export {
  type Event,
  type Model,
  type Operation,
  type Verdict,
  HistoryError,
  eventsToOperations,
  validateHistory,
} from './model.js';
export {
  type KvInput,
  type KvOperation,
  type KvOutput,
  type KvState,
  type RegisterInput,
  type RegisterOperation,
  type RegisterOutput,
  type RegisterState,
  kvModel,
  registerModel,
} from './kv-model.js';
export {
  type CheckOptions,
  type CheckResult,
  type IllegalExplanation,
  type PartitionReport,
  type PartitionStatus,
  type PartitionCheck,
  type ScheduleOptions,
  type SearchLimits,
  type SearchOutcome,
  type SearchStatus,
  DEFAULT_MAX_MEMO_STATES,
  PartitionSearch,
  checkEvents,
  checkOperations,
  checkPartitions,
  searchPartition,
} from './linearizability.js';
export { type ModelName, getModel, isModelName, modelNames } from './registry.js';
export {
  type CheckerPoolOptions,
  type ParallelCheckOptions,
  CheckerPool,
  DEFAULT_MIN_POOL_OPERATIONS,
  checkOperationsByName,
  checkOperationsParallel,
  groupPartitions,
} from './parallel.js';
export {
  type EdnMap,
  type EdnValue,
  type ParseOptions,
  Keyword,
  ParseError,
  parseEdn,
  parseJepsenRegisterLog,
  parseKvHistory,
} from './parse.js';
