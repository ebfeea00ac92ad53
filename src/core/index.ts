export * from './types.js';
export { RaftCore, type RaftConfig, type RestoredState, type RaftStatus } from './raft.js';
export { RaftLog } from './log.js';
export { createRng, type Rng } from './rng.js';
export { InvariantError } from './assert.js';
export { validateMessage } from './validate.js';
