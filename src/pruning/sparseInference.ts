// Switches a pruned model's convolutions to the zero-skipping sparse kernel for inference
// (issue 6: sparse weights must run faster, not only hold zeros). Each Conv2d keeps its dense
// weights and mask for training and attacks; the compressed CSR copy (w ⊙ mask) serves the
// forward passes that record no gradient. Only layers sparse enough for the CSR kernel to win
// are compressed: bench/results/sparse.json has it faster than dense from about 80% sparsity.

import { Conv2d } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { SparseConv2d } from '../ops/sparseConv.js';

/** Sparsity from which a conv layer is compressed (see the file comment). */
export const SPARSE_INFERENCE_MIN_SPARSITY = 0.8;

export interface SparseInferenceSummary {
  /** Layers compressed, by module path, with their sparsity. */
  compressed: Record<string, number>;
  /** Layers left dense (too dense to gain), with their sparsity. */
  dense: Record<string, number>;
}

/** Compresses every conv at or above `minSparsity` (replacing an earlier compression). */
export async function compressForInference(model: Module, minSparsity = SPARSE_INFERENCE_MIN_SPARSITY): Promise<SparseInferenceSummary> {
  const summary: SparseInferenceSummary = { compressed: {}, dense: {} };
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof Conv2d)) continue;
    const sparse = await SparseConv2d.fromTensors(m.weight, m.weightMask ?? undefined);
    m.sparseWeight?.dispose();
    m.sparseWeight = null;
    if (sparse.sparsity >= minSparsity) {
      m.sparseWeight = sparse;
      summary.compressed[name] = sparse.sparsity;
    } else {
      summary.dense[name] = sparse.sparsity;
      sparse.dispose();
    }
  }
  return summary;
}

/** Drops the compressed copies (after which inference uses the masked dense kernels again). */
export function decompress(model: Module): void {
  for (const [, m] of model.namedModules())
    if (m instanceof Conv2d && m.sparseWeight) {
      m.sparseWeight.dispose();
      m.sparseWeight = null;
    }
}
