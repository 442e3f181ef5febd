// Sub-model files on disk (Node): subModel.ts's masked models read from and written to one
// safetensors file with `<param>.mask` tensors.

import { readSafetensors } from '../io/safetensors.js';
import { saveStateDict } from '../io/checkpoint.js';
import type { Module } from '../nn/module.js';
import { checkArchitecture, masksOf, subModelFromContent, type ArchitectureSpec } from './subModel.js';

/** Builds the architecture and loads a (pruned) checkpoint into it, masks applied. */
export async function loadSubModel(path: string, spec: ArchitectureSpec): Promise<{ module: Module; metadata: Record<string, string> }> {
  checkArchitecture(spec, path);
  return subModelFromContent(await readSafetensors(path), path, spec);
}

/** Writes weights and masks (atomically). */
export async function saveSubModel(path: string, module: Module, metadata: Record<string, string> = {}): Promise<void> {
  await saveStateDict(path, module, { masks: masksOf(module), metadata });
}
