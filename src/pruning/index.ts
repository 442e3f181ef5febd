// Pruning (algorithms.md §3–§5): prunable layers, the four importance scores, HARP masks, the
// masked-model wrapper and the pruning stage.

export * from './prunable.js';
export * from './harp.js';
export * from './infFs.js';
export * from './nis.js';
export * from './ase.js';
export * from './scores.js';
export * from './maskedModel.js';
export * from './prune.js';
