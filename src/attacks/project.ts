// The ℓ∞ threat model's two primitive updates, as ops over the fused kernel (kernels/linfStep.ts):
// a signed-gradient step followed by the projection P onto {x' : ‖x' − x0‖∞ ≤ ε} ∩ [0, 1]^d, and P
// alone. Their results carry no gradient: attacks use them between gradient evaluations, on
// detached iterates, so they are never differentiated.

import { linfProjectKernel, linfStepKernel } from '../../kernels/linfStep.js';
import type { Tensor } from '../engine/tensor.js';
import { full } from '../ops/creation.js';

/**
 * clamp(min(max(x + a·sign(g), x0 − ε), x0 + ε), 0, 1). `stepSize` is one step for the whole
 * batch or a [N] tensor with one step per sample (APGD adapts them per sample).
 */
export function linfStep(x: Tensor, g: Tensor, x0: Tensor, eps: number, stepSize: number | Tensor): Tensor {
  if (typeof stepSize !== 'number') return linfStepKernel(x, g, x0, eps, stepSize);
  const perSample = full([x.shape[0]], stepSize);
  const y = linfStepKernel(x, g, x0, eps, perSample);
  perSample.dispose();
  return y;
}

/** P(x) = clamp(min(max(x, x0 − ε), x0 + ε), 0, 1). */
export function linfProject(x: Tensor, x0: Tensor, eps: number): Tensor {
  return linfProjectKernel(x, x0, eps);
}
