/** The network between peers: wire codec, fault table, per-worker endpoint, channel mesh. */
export * from './codec.js';
export * from './fault-table.js';
export * from './endpoint.js';
export * from './mesh.js';
