// Switches a pruned model's convolutions to the zero-skipping sparse kernel for inference
// (issue 6: sparse weights must run faster, not only hold zeros). Each Conv2d keeps its dense
// weights and mask for training and attacks; the compressed copy (w ⊙ mask) serves the forward
// passes that record no gradient. Only layers sparse enough for the sparse kernels to have a
// chance are compressed (bench/results/sparse.json, 27 November: at 50% they ran 0.55–1.2× dense's
// speed per ResNet-18 layer, at 80% 1.15–1.95×); given a sample input, each candidate layer (with
// the batch norm after it) is also timed both ways, interleaved, at that input's shape and keeps
// the sparse kernel only where it measured faster, since which wins depends on the adapter, the
// layer's shape and how fast the dense GEMM is there.

import { measureThroughputInterleaved, speedUp } from '../attacks/throughput.js';
import { noGrad } from '../engine/autograd.js';
import { runtime } from '../engine/engine.js';
import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { recordConvCalls } from '../nn/convCalls.js';
import { Conv2d } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { Generator } from '../ops/random.js';
import { SparseConv2d } from '../ops/sparseConv.js';
import { prunableLayers } from './prunable.js';

/** Sparsity from which a conv layer is compressed (see the file comment). */
export const SPARSE_INFERENCE_MIN_SPARSITY = 0.8;

export interface SparseInferenceSummary {
  /** Layers compressed, by module path, with their sparsity. */
  compressed: Record<string, number>;
  /** Layers left dense (too dense to gain, or measured slower sparse), with their sparsity. */
  dense: Record<string, number>;
  /** Per timed layer: median milliseconds dense and sparse at the sample input's shape. */
  timings: Record<string, { dense: number; sparse: number }>;
}

export interface CompressOptions {
  minSparsity?: number;
  /** A batch of typical inputs: when given, each candidate layer is timed both ways. */
  sample?: Tensor;
  /** Timed repeats per layer and kernel, interleaved (default 5). */
  repeats?: number;
}

/**
 * Compresses every conv at or above `minSparsity` (replacing an earlier compression); with a
 * `sample`, only where the sparse kernel measured faster than the dense one.
 */
export async function compressForInference(model: Module, opts: CompressOptions | number = {}): Promise<SparseInferenceSummary> {
  const o: CompressOptions = typeof opts === 'number' ? { minSparsity: opts } : opts;
  const minSparsity = o.minSparsity ?? SPARSE_INFERENCE_MIN_SPARSITY;
  const summary: SparseInferenceSummary = { compressed: {}, dense: {}, timings: {} };
  decompress(model);
  const calls = o.sample ? recordConvCalls(model, o.sample) : null;
  const followingBn = new Map(prunableLayers(model).map((l) => [l.layer, l.followingBn]));
  const gen = new Generator(0x5ba25e);
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof Conv2d)) continue;
    const sparse = await SparseConv2d.fromTensors(m.weight, m.weightMask ?? undefined);
    let keep = sparse.sparsity >= minSparsity;
    const shape = calls?.get(name)?.input;
    if (keep && shape) {
      const x = gen.uniform(shape);
      // A conv followed by a batch norm in eval mode is timed with it: compressed, the norm folds
      // into the sparse kernel's store (Conv2d.forwardBatchNorm), which is part of what it saves.
      // (In training mode the norm would update its running statistics, so the conv runs alone.)
      const after = followingBn.get(m);
      const bn = after && !after.training ? after : null;
      // With the ReLU and residual the model applies: the sparse kernels fuse them into their store
      // where the dense path runs them as a pass of its own, or the other way round.
      const epilogue = calls?.get(name)?.epilogue ?? { relu: false, residual: null };
      const residual = epilogue.residual ? gen.uniform(epilogue.residual) : undefined;
      const run = () => scope(() => void noGrad(() => (bn ? m.forwardBatchNorm(x, bn, epilogue.relu, residual) : m.forward(x))));
      try {
        const [dense, fast] = await measureThroughputInterleaved(
          [
            run,
            () => {
              m.sparseWeight = sparse;
              try {
                run();
              } finally {
                m.sparseWeight = null;
              }
            },
          ],
          { images: 1, warmup: 1, repeats: o.repeats ?? 5, sync: () => runtime().sync() },
        );
        summary.timings[name] = { dense: dense.medianSeconds * 1000, sparse: fast.medianSeconds * 1000 };
        keep = speedUp(dense, fast) > 1;
      } finally {
        x.dispose();
        residual?.dispose();
      }
    }
    if (keep) {
      m.sparseWeight = sparse;
      summary.compressed[name] = sparse.sparsity;
    } else {
      summary.dense[name] = sparse.sparsity;
      sparse.dispose();
    }
  }
  return summary;
}

/**
 * Whether attacks on pruned models, and their training passes, should run on compressed copies of
 * their layers (the sparse kernels in both passes, src/ops/sparseConv.ts): on CPU adapters, where they beat the dense
 * kernels from 80% sparsity (lavapipe, SmallCNN's PGD step at batch 128 against the dense model:
 * 1.65× at 80%, 3.16× at 95%; the masked dense path 0.96×; `node dist/bench/sparseAb.js attack`,
 * 27 November), and not on a GPU (H100: whole sparse forward passes 0.90–1.18× dense).
 */
export function sparseKernelsPay(): boolean {
  return runtime().adapterInfo.isSoftware;
}

/** A model that compresses itself with masks it applies only during forward (MaskedModel). */
interface CompressesForStep {
  compressForStep(): Promise<void>;
}

const compressesForStep = (m: Module): m is Module & CompressesForStep =>
  typeof (m as Partial<CompressesForStep>).compressForStep === 'function';

/**
 * Runs `step` (a training step, or an evaluation, with its attacks) with the pruned convs of
 * `models` compressed, so the attacks inside it (eval mode) and its training pass
 * (Conv2d.sparseWeightTrainable) run the sparse kernels, and drops the copies when it is
 * done: they are snapshots of the weights, which the step's update makes stale, so `step` must
 * not run the model again after updating it. Without `enabled` (default: sparseKernelsPay) it just
 * runs `step`.
 */
export async function withSparseKernels<T>(models: readonly Module[], step: () => T | Promise<T>, enabled = sparseKernelsPay()): Promise<T> {
  if (!enabled) return await step();
  try {
    for (const m of models) {
      await (compressesForStep(m) ? m.compressForStep() : compressForInference(m));
      markTrainable(m);
    }
    return await step();
  } finally {
    for (const m of models) decompress(m);
  }
}

/**
 * Lets training passes run the compressed convs of `model` (Conv2d.sparseWeightTrainable): only
 * where a mask chose the kept weights, since a conv compressed from its non-zero weights alone
 * would leave its zeros (still trained on the dense path) without a gradient. The caller vouches
 * that the copies stay current until decompress (withSparseKernels does, for one step).
 */
export function markTrainable(model: Module): void {
  for (const [, c] of model.namedModules()) if (c instanceof Conv2d && c.sparseWeight?.fromMask) c.sparseWeightTrainable = true;
}

/** Drops the compressed copies (after which inference uses the masked dense kernels again). */
export function decompress(model: Module): void {
  for (const [, m] of model.namedModules())
    if (m instanceof Conv2d) {
      m.sparseWeight?.dispose();
      m.sparseWeight = null;
      m.sparseWeightTrainable = false;
    }
}
