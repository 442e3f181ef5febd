// Checkpoint files (Node only: they use node:fs).

export * from './safetensors.js';
export * from './checkpoint.js';
export { writeFileAtomic } from './atomicWrite.js';
