// Per-sample losses on logits [N, C] with i32 labels [N], as the attacks maximise them (margin is
// the exception: Square minimises it). Each returns [N], so one backward pass of their sum gives
// every sample its own gradient. Logits of an ensemble are z_ens (§0); DLR and the margins are
// invariant to the per-sample shift that log-probabilities add.

import { noGrad } from '../engine/autograd.js';
import { scope } from '../engine/scope.js';
import { shapeStr } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { add, affine, div, maximum, mul, neg, sub, where } from '../ops/elementwise.js';
import { gather, oneHot } from '../ops/gather.js';
import { crossEntropy } from '../ops/loss.js';
import { argmax, max } from '../ops/reduce.js';
import { reshape } from '../ops/shape.js';

function checkLogits(z: Tensor, labels: Tensor, what: string, minClasses = 2): void {
  if (z.ndim !== 2) throw new Error(`${what}: expected logits [N, C], got ${shapeStr(z.shape)}`);
  if (labels.dtype !== 'i32' || labels.ndim !== 1 || labels.shape[0] !== z.shape[0])
    throw new Error(`${what}: expected i32 labels [${z.shape[0]}], got ${labels.dtype} ${shapeStr(labels.shape)}`);
  if (z.shape[1] < minClasses) throw new Error(`${what}: needs at least ${minClasses} classes, got ${z.shape[1]}`);
}

/** z[n, idx[n]] for each sample (differentiable in z; the gradient reaches only that entry). */
export function logitAt(z: Tensor, idx: Tensor): Tensor {
  const n = z.shape[0];
  return reshape(gather(z, 1, reshape(idx, [n, 1])), [n]);
}

/** max_{i ≠ y} z_i per sample. */
export function largestOtherLogit(z: Tensor, labels: Tensor): Tensor {
  const isLabel = noGrad(() => oneHot(labels, z.shape[1]));
  return max(where(isLabel, -Infinity, z), 1);
}

/**
 * The indices (i32 [N] each) of the k largest logits of every sample, largest first: what
 * argsort(z)[−1], argsort(z)[−2], ... give. Ties go to the lower class index.
 */
export function topClasses(z: Tensor, k: number): Tensor[] {
  if (!Number.isInteger(k) || k < 1 || k > z.shape[1]) throw new Error(`topClasses: k = ${k} for ${z.shape[1]} classes`);
  return scope(() =>
    noGrad(() => {
      const out: Tensor[] = [];
      let rest = z;
      for (let j = 0; j < k; j++) {
        const idx = argmax(rest, 1);
        out.push(idx);
        if (j + 1 < k) rest = where(oneHot(idx, z.shape[1]), -Infinity, rest);
      }
      return out;
    }),
  );
}

/** Cross-entropy per sample. */
export function crossEntropyLoss(z: Tensor, labels: Tensor): Tensor {
  checkLogits(z, labels, 'crossEntropyLoss');
  return crossEntropy(z, labels, { reduction: 'none' });
}

/** z_y − max_{i≠y} z_i: positive iff the sample is classified correctly (Square minimises it). */
export function marginLoss(z: Tensor, labels: Tensor): Tensor {
  checkLogits(z, labels, 'marginLoss');
  return sub(logitAt(z, labels), largestOtherLogit(z, labels));
}

/**
 * The C&W margin loss to ascend, −max(z_y − max_{i≠y} z_i + κ, 0)
 * [C:intellisec/harp utils/adv.py cw_loss, κ = 50].
 */
export function cwLoss(z: Tensor, labels: Tensor, kappa: number): Tensor {
  checkLogits(z, labels, 'cwLoss');
  return neg(maximum(affine(marginLoss(z, labels), 1, kappa), 0));
}

/** DLR = −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3 + 1e-12) [C:fra31/auto-attack autopgd_base.py]. */
export function dlrLoss(z: Tensor, labels: Tensor): Tensor {
  checkLogits(z, labels, 'dlrLoss', 3);
  const [p1, , p3] = topClasses(z, 3);
  const spread = affine(sub(logitAt(z, p1), logitAt(z, p3)), 1, 1e-12);
  return neg(div(marginLoss(z, labels), spread));
}

/**
 * Targeted DLR = −(z_y − z_t) / (z_π1 − ½(z_π3 + z_π4) + 1e-12)
 * [C:fra31/auto-attack autopgd_base.py dlr_loss_targeted].
 */
export function dlrTargetedLoss(z: Tensor, labels: Tensor, targets: Tensor): Tensor {
  checkLogits(z, labels, 'dlrTargetedLoss', 4);
  const [p1, , p3, p4] = topClasses(z, 4);
  const spread = affine(sub(logitAt(z, p1), mul(add(logitAt(z, p3), logitAt(z, p4)), 0.5)), 1, 1e-12);
  return neg(div(sub(logitAt(z, labels), logitAt(z, targets)), spread));
}
