// A pruned sub-model as the ensemble stages use it: a plain model whose Conv2d/Linear layers
// carry their fixed pruning masks (weightMask, applied inside the kernels), loaded from and saved
// to one safetensors file with `<param>.mask` tensors (src/io/checkpoint.ts). The pool jobs write
// such files, team selection and ensemble training read them, and the ensemble manifest
// (manifest.ts) lists them. No file system here (the browser bundle uses this file); reading and
// writing the files is subModelFile.ts.

import type { Tensor } from '../engine/tensor.js';
import type { SafetensorsContent } from '../io/safetensorsCodec.js';
import { applyStateDict, type LoadedCheckpoint } from '../io/stateDict.js';
import { Conv2d, Linear } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { Generator } from '../ops/random.js';
import { keptWeightCount, prunableLayers, prunableWeightCount, weightKey } from '../pruning/prunable.js';
import { buildModel, MODEL_NAMES, type ModelName } from '../training/models.js';

/** Everything needed to rebuild a model before its weights are loaded. */
export interface ArchitectureSpec {
  model: ModelName;
  width: number;
  inChannels: number;
  numClasses: number;
  /** Height (= width) of the input images; SmallCNN's classifier reads the flattened last map. */
  imageSize: number;
}

export function checkArchitecture(spec: ArchitectureSpec, where: string): void {
  if (!(MODEL_NAMES as readonly string[]).includes(spec.model))
    throw new Error(`${where}: model '${String(spec.model)}' is not one of ${MODEL_NAMES.join(', ')}`);
  if (!(spec.width > 0)) throw new Error(`${where}: width must be positive, got ${spec.width}`);
  for (const k of ['inChannels', 'numClasses', 'imageSize'] as const)
    if (!Number.isInteger(spec[k]) || spec[k] < 1) throw new Error(`${where}: ${k} must be a positive integer, got ${spec[k]}`);
}

export function buildArchitecture(spec: ArchitectureSpec, seed = 0): Module {
  return buildModel(spec.model, { ...spec, generator: new Generator(seed) });
}

/**
 * Hands the masks to the layers whose weights they mask (the module then owns them; release with
 * releaseMasks). A mask for anything but a Conv2d/Linear weight is an error.
 */
export function applyMasks(module: Module, masks: Map<string, Tensor>, source = 'masks'): void {
  const layers = new Map(prunableLayers(module).map((l) => [weightKey(l), l.layer]));
  for (const name of masks.keys())
    if (!layers.has(name)) throw new Error(`${source}: mask '${name}' does not belong to a Conv2d or Linear weight of ${module.constructor.name}`);
  for (const [name, mask] of masks) {
    const layer = layers.get(name)!;
    layer.weightMask?.dispose();
    layer.weightMask = mask;
  }
}

/** The masks the module's layers hold, by parameter name (not copies). */
export function masksOf(module: Module): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const l of prunableLayers(module)) if (l.layer.weightMask) out.set(weightKey(l), l.layer.weightMask);
  return out;
}

/** Frees the module's masks (the weights stay). */
export function releaseMasks(module: Module): void {
  for (const [, m] of module.namedModules())
    if ((m instanceof Conv2d || m instanceof Linear) && m.weightMask) {
      m.weightMask.dispose();
      m.weightMask = null;
    }
}

/** Frees a sub-model: its masks and its parameters and buffers. */
export function disposeSubModel(module: Module): void {
  releaseMasks(module);
  for (const [, m] of module.namedModules())
    if (m instanceof Conv2d && m.sparseWeight) {
      m.sparseWeight.dispose();
      m.sparseWeight = null;
    }
  module.dispose();
}

export interface ParameterCount {
  /** Non-zero conv/linear weights after the masks: what EED reports as parameters (§11.5). */
  prunableNonZero: number;
  prunableTotal: number;
  /** All parameters (BN, biases) of the dense architecture. */
  parameters: number;
}

export async function countParameters(module: Module): Promise<ParameterCount> {
  const layers = prunableLayers(module);
  let nonZero = 0;
  for (const l of layers) nonZero += await keptWeightCount(l);
  return { prunableNonZero: nonZero, prunableTotal: prunableWeightCount(layers), parameters: module.numParameters() };
}

function adopt(module: Module, loaded: LoadedCheckpoint, source: string): Record<string, string> {
  applyMasks(module, loaded.masks, source);
  return loaded.metadata;
}

/**
 * Builds the architecture and loads decoded checkpoint content into it, masks applied
 * (subModelFile.ts reads the file in Node; the browser fetches the bytes).
 */
export function subModelFromContent(content: SafetensorsContent, source: string, spec: ArchitectureSpec): { module: Module; metadata: Record<string, string> } {
  checkArchitecture(spec, source);
  const module = buildArchitecture(spec);
  try {
    const metadata = adopt(module, applyStateDict(content, source, module), source);
    return { module, metadata };
  } catch (e) {
    disposeSubModel(module);
    throw e;
  }
}
