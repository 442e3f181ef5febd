// Multiply-accumulates of the prunable (conv and linear) layers per image, for algorithms.md
// §11.5's theoretical FLOP ratio: dense MACs / mean over samples of Σ_{t ≤ members run}
// nnz-MACs(F_t). A conv's weight is applied once per output position, so its MACs are its
// non-zero weights times its output positions; a linear layer's are its non-zero weights. Batch
// norm, activations and pooling are left out on both sides of the ratio (they are not pruned).

import { recordConvCalls } from '../nn/convCalls.js';
import type { Module } from '../nn/module.js';
import { zeros } from '../ops/creation.js';
import { keptWeightCount, prunableLayers } from '../pruning/prunable.js';
import { buildArchitecture, type ArchitectureSpec } from './subModel.js';

/** Output positions per image of every prunable layer of the architecture, by layer name (1 for linear layers). */
export function layerPositions(spec: ArchitectureSpec): Map<string, number> {
  const model = buildArchitecture(spec).eval();
  const blank = zeros([1, spec.inChannels, spec.imageSize, spec.imageSize]);
  try {
    const calls = recordConvCalls(model, blank);
    return new Map(
      prunableLayers(model).map((l) => {
        const out = calls.get(l.name)?.output;
        return [l.name, out ? out[2] * out[3] : 1];
      }),
    );
  } finally {
    blank.dispose();
    model.dispose();
  }
}

export interface MacCount {
  /** MACs per image with every weight. */
  dense: number;
  /** MACs per image with the non-zero, unmasked weights only. */
  nonZero: number;
}

/** A model's MACs per image; `positions` from layerPositions for its architecture. */
export async function macCount(model: Module, positions: Map<string, number>): Promise<MacCount> {
  let dense = 0;
  let nonZero = 0;
  for (const l of prunableLayers(model)) {
    const at = positions.get(l.name);
    if (at === undefined) throw new Error(`macCount: layer '${l.name}' is not in the architecture's layer positions`);
    dense += l.weight.size * at;
    nonZero += (await keptWeightCount(l)) * at;
  }
  return { dense, nonZero };
}

/**
 * Mean MACs per image of a dynamic ensemble whose members run in order: histogram[k] images ran
 * the first k + 1 members, which cost memberMacs[0] + … + memberMacs[k].
 */
export function dynamicEnsembleMacs(memberMacs: readonly number[], histogram: readonly number[]): number {
  if (histogram.length !== memberMacs.length) throw new Error(`dynamicEnsembleMacs: a histogram of ${histogram.length} for ${memberMacs.length} members`);
  const images = histogram.reduce((a, b) => a + b, 0);
  if (images === 0) throw new Error('dynamicEnsembleMacs: the histogram counts no images');
  let cumulative = 0;
  let total = 0;
  histogram.forEach((count, k) => {
    cumulative += memberMacs[k];
    total += count * cumulative;
  });
  return total / images;
}
