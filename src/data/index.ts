// Datasets, batching and EED subsets. The file loaders use node:fs and node:zlib, so this entry
// point is for Node; batches.ts, augment.ts and subsets.ts themselves are browser-safe.

export * from './dataset.js';
export * from './idx.js';
export * from './cifar.js';
export * from './matv5.js';
export * from './svhn.js';
export * from './augment.js';
export * from './batches.js';
export * from './subsets.js';
export { HostRandom } from './hostRandom.js';
