// The compression terms of eqs. 16–18 in their usable forms (algorithms.md §7 "Making eqs. 16–17
// usable", [X]):
//   L_W = Σ_i mean_{w ∈ unpruned(W_i)} |w|   (the raw ‖W‖₁ of a sparse ResNet-18 is ~10³–10⁴ and
//         would swamp the CE at γλ1 = 2.8),
//   L_A = Σ_i mean over (batch, all post-ReLU tensors of F_i on x_adv,i) of |a|, an L1 surrogate
//         of ‖h^i‖₀, which is non-differentiable (and constant for a softmax),
//   L_C = λ1·L_W + λ2·L_A.
// The true L0 density of the activations is reported alongside as a metric.

import { noGrad } from '../../engine/autograd.js';
import { shapeStr } from '../../engine/shape.js';
import type { Tensor } from '../../engine/tensor.js';
import type { Module } from '../../nn/module.js';
import { abs, add, div, gt, maximum, mul } from '../../ops/elementwise.js';
import { full } from '../../ops/creation.js';
import { sum } from '../../ops/reduce.js';
import { prunableLayers } from '../../pruning/prunable.js';

function total(terms: Tensor[]): Tensor {
  return terms.reduce((acc, t) => add(acc, t));
}

/**
 * mean |w| over the unpruned entries of the weights (mask 1; a null mask keeps every entry).
 * Pruned entries neither count nor receive a gradient.
 */
export function maskedWeightL1(weights: readonly Tensor[], masks: readonly (Tensor | null)[]): Tensor {
  if (!weights.length) throw new Error('maskedWeightL1: no weights');
  if (masks.length !== weights.length) throw new Error(`maskedWeightL1: ${masks.length} masks for ${weights.length} weights`);
  const sums: Tensor[] = [];
  const counts: Tensor[] = [];
  weights.forEach((w, i) => {
    const m = masks[i];
    if (m && m.size !== w.size)
      throw new Error(`maskedWeightL1: mask ${i} ${shapeStr(m.shape)} does not match weight ${w.name ?? i} ${shapeStr(w.shape)}`);
    sums.push(sum(abs(m ? mul(w, m.view(w.shape)) : w)));
    counts.push(m ? noGrad(() => sum(m)) : full([], w.size));
  });
  // A fully pruned member has no weights to average: the floor makes its term 0, not NaN.
  return div(total(sums), noGrad(() => maximum(total(counts), 1)));
}

/** The L_W term of one member: its Conv2d/Linear weights under their fixed masks. */
export function memberWeightL1(member: Module): Tensor {
  const layers = prunableLayers(member);
  if (!layers.length) throw new Error(`memberWeightL1: ${member.label} has no Conv2d or Linear weights`);
  return maskedWeightL1(
    layers.map((l) => l.weight),
    layers.map((l) => l.layer.weightMask),
  );
}

/** mean |a| over all elements of all the activation tensors (one member's post-ReLU outputs). */
export function activationL1(activations: readonly Tensor[]): Tensor {
  if (!activations.length) throw new Error('activationL1: no activations were recorded (does the model have ReLUs?)');
  const count = activations.reduce((n, a) => n + a.size, 0);
  const s = total(activations.map((a) => sum(abs(a))));
  return mul(s, 1 / count);
}

/** Fraction of non-zero entries over all the activation tensors (L0 density; no gradient). */
export function activationDensity(activations: readonly Tensor[]): Tensor {
  if (!activations.length) throw new Error('activationDensity: no activations');
  const count = activations.reduce((n, a) => n + a.size, 0);
  return noGrad(() => mul(total(activations.map((a) => sum(gt(abs(a), 0)))), 1 / count));
}
