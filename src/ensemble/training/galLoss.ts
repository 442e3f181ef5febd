// GAL, gradient alignment loss (eq. 33, algorithms.md §9):
//   (1/N)·Σ_i CE(z^i(x), ỹ) + λ·mean_n log(Σ_{a<b} exp(cos(∇_x ℓ_a, ∇_x ℓ_b)) + 1e-20) − κ·JSD(h^1..h^N)
// The gradient term follows [C:zjysteven/DVERGE train/train_gal.py]: per-sample cosine of the
// members' input gradients, log-sum-exp over the pairs, mean over the batch. The label smoothing
// (ỹ, 0.1) and the JSD term are [X] from the seed's prose; ℓ_a is the same smoothed CE as the
// first term (one forward per member). The input gradients are built with createGraph, so the
// loss is differentiated into the weights by double backward.

import { grad, isRecording } from '../../engine/autograd.js';
import type { Tensor } from '../../engine/tensor.js';
import { variable } from '../../ops/creation.js';
import { add, affine, div, exp, log, maximum, mul, sqrt, sub } from '../../ops/elementwise.js';
import { crossEntropy, softmax } from '../../ops/loss.js';
import { mean, sum } from '../../ops/reduce.js';
import { flatten, stack } from '../../ops/shape.js';
import { entropy } from './adpLoss.js';

export interface GalOptions {
  /** λ of the gradient-alignment term (0.5). */
  lambda: number;
  /** κ of the JSD term (0.5). */
  kappa: number;
  /** Label smoothing of ỹ (0.1). */
  labelSmoothing: number;
}

export const GAL_DEFAULTS: GalOptions = { lambda: 0.5, kappa: 0.5, labelSmoothing: 0.1 };

/** Per-sample cosine similarity of rows, with F.cosine_similarity's floor 1e-8 on the norm product. */
function cosineRows(a: Tensor, b: Tensor): Tensor {
  const dot = sum(mul(a, b), 1);
  const na = sqrt(sum(mul(a, a), 1));
  const nb = sqrt(sum(mul(b, b), 1));
  return div(dot, maximum(mul(na, nb), 1e-8));
}

/** Per-sample generalised Jensen–Shannon divergence H(mean_i h^i) − mean_i H(h^i). */
export function jensenShannon(probs: readonly Tensor[]): Tensor {
  const avg = mean(stack(probs, 0), 0);
  const meanH = affine(probs.map(entropy).reduce((s, h) => add(s, h)), 1 / probs.length, 0);
  return sub(entropy(avg), meanH);
}

/** The GAL loss of members (each maps images to logits, differentiably) on the batch (x, y). */
export function galLoss(members: readonly ((x: Tensor) => Tensor)[], x: Tensor, y: Tensor, o: GalOptions = GAL_DEFAULTS): Tensor {
  if (members.length < 2) throw new Error(`galLoss: gradient alignment needs at least 2 members, got ${members.length}`);
  if (!isRecording()) throw new Error('galLoss: the loss contains input gradients, which need the autograd graph; do not call it under noGrad');
  const v = variable(x);
  const logits = members.map((f) => f(v));
  const ces = logits.map((z) => crossEntropy(z, y, { labelSmoothing: o.labelSmoothing }));
  const grads = ces.map((l) => flatten(grad(l, [v], { createGraph: true })[0], 1));
  const pairs: Tensor[] = [];
  for (let a = 0; a < grads.length; a++) for (let b = a + 1; b < grads.length; b++) pairs.push(exp(cosineRows(grads[a], grads[b])));
  const align = mean(log(affine(pairs.reduce((s, t) => add(s, t)), 1, 1e-20)));
  const ce = affine(ces.reduce((s, t) => add(s, t)), 1 / members.length, 0);
  const jsd = mean(jensenShannon(logits.map((z) => softmax(z, 1))));
  return sub(add(ce, affine(align, o.lambda, 0)), affine(jsd, o.kappa, 0));
}
