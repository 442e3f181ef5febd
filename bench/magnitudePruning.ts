// Magnitude pruning for the benchmarks: a stand-in for the EED scores when only the speed of the
// pruned weights matters (bench/suites.ts, bench/sparseAb.ts, bench/profile.ts).

import type { Tensor } from '../src/engine/tensor.js';
import { Conv2d } from '../src/nn/layers.js';
import type { Module } from '../src/nn/module.js';
import { tensor } from '../src/ops/index.js';
import { compressForInference, decompress } from '../src/pruning/sparseInference.js';

/** Keeps the largest-magnitude (1 − sparsity) of the weights (magnitude pruning, one layer). */
export function magnitudeMask(w: Float32Array, sparsity: number): Float32Array {
  const sorted = Float32Array.from(w, Math.abs).sort();
  const threshold = sorted[Math.min(sorted.length - 1, Math.floor(sparsity * sorted.length))];
  return Float32Array.from(w, (v) => (Math.abs(v) >= threshold ? 1 : 0));
}

/**
 * Magnitude-prunes every conv of `model` to `sparsity` (per layer, through Conv2d.weightMask) and
 * compresses it for inference: every conv, or with `sample` only the layers whose sparse kernel
 * measured faster there (what the EED pipeline does).
 */
export async function pruneAndCompress(model: Module, sparsity: number, sample?: Tensor): Promise<void> {
  for (const [, m] of model.namedModules())
    if (m instanceof Conv2d) {
      const w = (await m.weight.data()) as Float32Array;
      m.weightMask = tensor(magnitudeMask(w, sparsity), m.weight.shape);
    }
  await compressForInference(model, { minSparsity: 0, sample });
}

/** Undoes pruneAndCompress: the compressed weights and the masks are released. */
export function releasePruning(model: Module): void {
  decompress(model);
  for (const [, m] of model.namedModules()) if (m instanceof Conv2d) m.weightMask?.dispose();
}
