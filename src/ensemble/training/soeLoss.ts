// SoE's phase-2 loss (eq. 35, algorithms.md §9, [C:cuis15/synergy-of-experts models/model.py
// "loss_base"], condensed [X]): every sample goes to the member with the smallest CE on it, and
// member i minimises the mean CE over its own samples:
//   Σ_i Σ_n 1[i = argmin_k ℓ_k,n]·ℓ_i,n / max(1, Σ_n 1[i = argmin_k ℓ_k,n]).
// The assignment carries no gradient. Phase 1 (DVERGE + AT per member) is the trainer's business.

import { noGrad } from '../../engine/autograd.js';
import { shapeStr } from '../../engine/shape.js';
import type { Tensor } from '../../engine/tensor.js';
import { div, maximum, mul, neg } from '../../ops/elementwise.js';
import { oneHot } from '../../ops/gather.js';
import { crossEntropy } from '../../ops/loss.js';
import { argmax, sum } from '../../ops/reduce.js';
import { stack, transpose } from '../../ops/shape.js';

/** The SoE loss from each member's logits ([S, C]) on the same samples and their labels ([S]). */
export function soeLoss(logits: readonly Tensor[], labels: Tensor): Tensor {
  if (!logits.length) throw new Error('soeLoss: needs at least one member');
  const [s, c] = logits[0].shape;
  for (const z of logits)
    if (z.ndim !== 2 || z.shape[0] !== s || z.shape[1] !== c)
      throw new Error(`soeLoss: every member's logits must be [${s}, ${c}], got ${shapeStr(z.shape)}`);
  const ce = stack(
    logits.map((z) => crossEntropy(z, labels, { reduction: 'none' })),
    0,
  ); // [M, S]
  const assigned = noGrad(() => transpose(oneHot(argmax(neg(ce), 0), logits.length), 0, 1)); // [M, S]
  const perMember = div(sum(mul(ce, assigned), 1), noGrad(() => maximum(sum(assigned, 1), 1)));
  return sum(perMember);
}
