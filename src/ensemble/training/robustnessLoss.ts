// L_R, the ensemble robustness regulariser of eq. 15 (algorithms.md §7) as implemented by iGAT
// [C:xqsi/iGAT train/train_igat_dverge_cifar10.py]:
//   L_R = (1/B)·Σ_n ψ_n · −log(1 − clip(max_i max_{j≠y_n} h^i_j(x_n), 0, 0.99))
// on x = x_ens (PGD against the average-combiner team). ψ_n = 1 where the average combiner
// misclassifies sample n (h_y < max_{c≠y} h_c); it and the choice of the maximising member and
// class carry no gradient, the maximal probability itself does. iGAT's reg_type=1 code doubles the
// term; eq. 15 has no such factor, so none is used.
//
// regType 0 is iGAT's default: the max over classes per member, summed over members (same ψ).

import { noGrad } from '../../engine/autograd.js';
import { shapeStr } from '../../engine/shape.js';
import type { Tensor } from '../../engine/tensor.js';
import { affine, clamp, log, lt, mul, neg, sub } from '../../ops/elementwise.js';
import { oneHot } from '../../ops/gather.js';
import { softmax } from '../../ops/loss.js';
import { max, mean, sum } from '../../ops/reduce.js';
import { stack } from '../../ops/shape.js';

export type RegType = 0 | 1;

/** Probabilities at or above this are clipped before the log (iGAT's 0.99). */
export const ROBUST_PROB_CLIP = 0.99;

/** ψ of eq. 15: 1 where the average of the members' softmax misclassifies the sample (f32 [N]). */
export function ensembleMisclassified(probs: Tensor, labels: Tensor): Tensor {
  return noGrad(() => {
    const c = probs.shape[2];
    const avg = mean(probs, 0); // [N, C]
    const yHot = oneHot(labels, c);
    const py = sum(mul(avg, yHot), 1);
    // Probabilities are ≥ 0, so pushing the true class to −1 takes it out of the max.
    const pOther = max(sub(avg, mul(yHot, 2)), 1);
    return lt(py, pOther);
  });
}

/** L_R of eq. 15 from the members' logits at x_ens (each [N, C]) and the labels (i32 [N]). */
export function robustnessLoss(logits: readonly Tensor[], labels: Tensor, regType: RegType = 1): Tensor {
  if (!logits.length) throw new Error('robustnessLoss: needs the logits of at least one member');
  const [n, c] = logits[0].shape;
  for (const z of logits)
    if (z.ndim !== 2 || z.shape[0] !== n || z.shape[1] !== c)
      throw new Error(`robustnessLoss: every member's logits must be [${n}, ${c}], got ${shapeStr(z.shape)}`);
  if (labels.dtype !== 'i32' || labels.ndim !== 1 || labels.shape[0] !== n)
    throw new Error(`robustnessLoss: labels must be i32 [${n}], got ${labels.dtype} ${shapeStr(labels.shape)}`);
  if (regType !== 0 && regType !== 1) throw new Error(`robustnessLoss: regType must be 0 or 1, got ${String(regType)}`);
  const probs = stack(logits.map((z) => softmax(z, 1)), 0); // [M, N, C]
  const psi = ensembleMisclassified(probs, labels);
  // Zeroing the true class leaves max_{j≠y} (all probabilities are ≥ 0).
  const others = mul(probs, oneHot(labels, c, 0, 1));
  const worst = regType === 1 ? max(others, [0, 2]) : max(others, 2); // [N] or [M, N]
  const penalty = neg(log(affine(clamp(worst, 0, ROBUST_PROB_CLIP), -1, 1)));
  return affine(sum(mul(penalty, psi)), 1 / n, 0);
}
