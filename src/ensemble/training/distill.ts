// DVERGE feature distillation (algorithms.md §7, [C:xqsi/iGAT arguments.py; zjysteven/DVERGE
// distillation.py Linf_distillation]):
//   x̃ = argmin_{‖z − x_s‖∞ ≤ ε_d, z ∈ [0,1]} ‖f^l(z) − f^l(x_t)‖²
// approximated by K steps of momentum-iterative descent from z = x_s (no random start):
//   g_acc ← μ·g_acc + ∇/‖∇‖₁ (per sample),  z ← clip_{x_s, ε_d}(z − a_d·sign(g_acc)).
// x̃ looks like x_s but carries the member's layer-l features of x_t. The member runs in eval mode
// (BN running statistics) as every attack does (§0), and its own mode is restored afterwards.

import { inEvalMode } from '../../attacks/classifier.js';
import { linfStep } from '../../attacks/project.js';
import { grad, noGrad } from '../../engine/autograd.js';
import { scope } from '../../engine/scope.js';
import { shapeStr } from '../../engine/shape.js';
import type { Tensor } from '../../engine/tensor.js';
import { tappedModel } from '../../nn/models/featureTap.js';
import type { Module } from '../../nn/module.js';
import { clone, variable } from '../../ops/creation.js';
import { abs, add, div, maximum, mul, square, sub } from '../../ops/elementwise.js';
import { sum } from '../../ops/reduce.js';

export interface DistillOptions {
  /** Feature layer l, 1..featureLayerCount() of the member. */
  layer: number;
  /** ε_d (0.05 [C:iGAT]). */
  eps: number;
  /** a_d (0.005). */
  stepSize: number;
  /** K (10). */
  steps: number;
  /** μ of the gradient accumulator (1). */
  momentum?: number;
}

export const DISTILL_DEFAULTS = { eps: 0.05, stepSize: 0.005, steps: 10, momentum: 1 } as const;

/** The member's layer-l features of x (differentiable in x), in the caller's mode. */
export function featuresAt(member: Module, x: Tensor, layer: number): Tensor {
  return tappedModel(member, 'featuresAt').forwardTapped(x, { stopAt: layer });
}

/** Per-sample sum of squared differences of two feature tensors [N, ...]. */
function squaredDistance(a: Tensor, b: Tensor): Tensor {
  const axes = a.shape.map((_, i) => i).slice(1);
  return sum(square(sub(a, b)), axes);
}

/** Σ_n ‖f^l(x_n) − target_n‖² per sample [N], in eval mode and without a graph (tests, logging). */
export function featureDistance(member: Module, x: Tensor, target: Tensor, layer: number): Tensor {
  return scope(() => noGrad(() => inEvalMode(member, () => squaredDistance(featuresAt(member, x, layer), target))));
}

/** Layer-l features of x in eval mode, detached: the distillation target f^l(x_t). */
export function featureTarget(member: Module, x: Tensor, layer: number): Tensor {
  return scope(() => noGrad(() => inEvalMode(member, () => featuresAt(member, x, layer))));
}

/** Distilled images x̃ (same shape as xSource) for one member; nothing else is left allocated. */
export function distill(member: Module, xSource: Tensor, xTarget: Tensor, o: DistillOptions): Tensor {
  const count = tappedModel(member, 'distill').featureLayerCount();
  if (!(Number.isInteger(o.layer) && o.layer >= 1 && o.layer <= count))
    throw new Error(`distill: layer must be an integer in [1, ${count}] for ${member.label}, got ${o.layer}`);
  if (!(o.eps >= 0) || !(o.stepSize >= 0) || !(Number.isInteger(o.steps) && o.steps >= 0))
    throw new Error(`distill: eps and stepSize must be ≥ 0 and steps a non-negative integer, got ${o.eps}, ${o.stepSize}, ${o.steps}`);
  if (xSource.shape.length !== xTarget.shape.length || xSource.shape.some((d, i) => d !== xTarget.shape[i]))
    throw new Error(`distill: the target batch ${shapeStr(xTarget.shape)} must match the source batch ${shapeStr(xSource.shape)}`);
  const mu = o.momentum ?? DISTILL_DEFAULTS.momentum;
  const target = featureTarget(member, xTarget, o.layer);
  const sampleAxes = xSource.shape.map((_, i) => i).slice(1);
  // DVERGE starts from the clamped source (its images are already in [0, 1]; clone keeps it owned).
  let z = scope(() => clone(xSource));
  let acc: Tensor | null = null;
  try {
    for (let k = 0; k < o.steps; k++) {
      const current = z;
      const prevAcc: Tensor | null = acc;
      const next = scope((): { z: Tensor; acc: Tensor } => {
        const v = variable(current);
        const loss = inEvalMode(member, () => sum(squaredDistance(featuresAt(member, v, o.layer), target)));
        const [g] = grad(loss, [v]);
        // Per-sample L1 normalisation; the floor (DVERGE's Linf_distillation clamps at 1e-12 too)
        // keeps a sample whose gradient vanished (a dead feature) at 0/1e-12 = 0 instead of NaN.
        const l1 = maximum(sum(abs(g), sampleAxes, { keepDims: true }), 1e-12);
        const normalised = div(g, l1);
        const a: Tensor = prevAcc ? add(mul(prevAcc, mu), normalised) : normalised;
        // Descent: the fused ℓ∞ step with a negative step size moves against sign(g_acc).
        return { z: linfStep(current, a, xSource, o.eps, -o.stepSize), acc: a };
      });
      current.dispose();
      prevAcc?.dispose();
      z = next.z;
      acc = next.acc;
    }
  } catch (e) {
    z.dispose();
    throw e;
  } finally {
    acc?.dispose();
    target.dispose();
  }
  return z;
}
