// Multiply-accumulates of the prunable (conv and linear) layers per image, for algorithms.md
// §11.5's theoretical FLOP ratio: dense MACs / mean over samples of Σ_{t ≤ members run}
// nnz-MACs(F_t). A conv's weight is applied once per output position, so its MACs are its
// non-zero weights times its output positions; a linear layer's are its non-zero weights. Batch
// norm, activations and pooling are left out on both sides of the ratio (they are not pruned).

import { noGrad } from '../engine/autograd.js';
import { scope } from '../engine/scope.js';
import { zeros } from '../ops/creation.js';
import { Conv2d } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { prunableLayers } from '../pruning/prunable.js';
import { buildArchitecture, type ArchitectureSpec } from './subModel.js';

/** Output positions per image of every prunable layer of the architecture, by layer name (1 for linear layers). */
export function layerPositions(spec: ArchitectureSpec): Map<string, number> {
  const model = buildArchitecture(spec).eval();
  const positions = new Map<string, number>();
  const layers = prunableLayers(model);
  for (const l of layers) positions.set(l.name, 1);
  // One forward of a blank image, each conv's output shape noted on the way (an own property
  // shadows the prototype's forward for this pass only).
  const convs = layers.filter((l) => l.layer instanceof Conv2d).map((l) => [l.name, l.layer as Conv2d] as const);
  for (const [name, conv] of convs) {
    const forward = Conv2d.prototype.forward;
    conv.forward = function (this: Conv2d, x) {
      const y = forward.call(this, x);
      positions.set(name, y.shape[2] * y.shape[3]);
      return y;
    };
  }
  try {
    scope(() => noGrad(() => void model.forward(zeros([1, spec.inChannels, spec.imageSize, spec.imageSize]))));
  } finally {
    for (const [, conv] of convs) delete (conv as { forward?: unknown }).forward;
    model.dispose();
  }
  return positions;
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
    const w = await l.weight.data();
    const m = l.layer.weightMask ? await l.layer.weightMask.data() : null;
    let kept = 0;
    for (let i = 0; i < w.length; i++) if (w[i] !== 0 && (!m || m[i] !== 0)) kept++;
    dense += w.length * at;
    nonZero += kept * at;
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
