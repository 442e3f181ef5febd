// Checkpoint files on disk (Node): stateDict.ts's mapping between a module and safetensors
// content, read from and written to a file. The format (PyTorch names, dtypes, `<param>.mask`
// masks) is described in stateDict.ts.

import type { Tensor } from '../engine/tensor.js';
import type { Module } from '../nn/module.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';
import { applyStateDict, stateDictRecords, type LoadedCheckpoint } from './stateDict.js';

export * from './stateDict.js';

export interface SaveStateDictOptions {
  /** Pruning masks by parameter name (any dtype, values 0 or 1). */
  masks?: Map<string, Tensor>;
  /** Extra string metadata (e.g. dataset, epoch, sparsity). */
  metadata?: Record<string, string>;
}

/** Writes the module's state dict (and masks) to `path`, atomically. */
export async function saveStateDict(path: string, module: Module, opts: SaveStateDictOptions = {}): Promise<void> {
  const records = await stateDictRecords(module, opts.masks);
  // "format: pt" is what safetensors.torch.save_file writes; loaders use it to pick the framework.
  await writeSafetensors(path, records, { format: 'pt', ...opts.metadata });
}

/**
 * Loads `path` into the module (strict: every key, dtype kind and shape must match) and returns
 * the masks and metadata stored with it.
 */
export async function loadStateDict(path: string, module: Module): Promise<LoadedCheckpoint> {
  return applyStateDict(await readSafetensors(path), path, module);
}
