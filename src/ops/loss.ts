// Softmax family and losses, composed from differentiable primitives (so they have exact second
// derivatives for free). Shapes follow PyTorch: logits [N, C], integer labels [N].

import { noGrad } from '../engine/autograd.js';
import { shapeStr } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { exp, gt, log, mul, neg, sub, where } from './elementwise.js';
import { oneHot } from './gather.js';
import { max, mean, sum } from './reduce.js';
import { normAxis } from '../engine/shape.js';

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  const a = normAxis(axis, x.ndim, 'logSoftmax');
  // Shifting by the (constant) max keeps exp() finite and does not change the result or gradient.
  const m = noGrad(() => max(x, a, { keepDims: true }));
  const shifted = sub(x, m);
  return sub(shifted, log(sum(exp(shifted), a, { keepDims: true })));
}

export function softmax(x: Tensor, axis = -1): Tensor {
  return exp(logSoftmax(x, axis));
}

export type Reduction = 'mean' | 'sum' | 'none';

function reduce(loss: Tensor, reduction: Reduction): Tensor {
  if (reduction === 'none') return loss;
  return reduction === 'sum' ? sum(loss) : mean(loss);
}

export interface CrossEntropyOptions {
  reduction?: Reduction;
  /** PyTorch's label_smoothing: targets become (1 − ε)·onehot + ε/C. */
  labelSmoothing?: number;
}

/** F.cross_entropy(logits, labels): logits [N, C], labels i32 [N]. */
export function crossEntropy(logits: Tensor, labels: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  if (logits.ndim !== 2) throw new Error(`crossEntropy: expected logits [N, C], got ${shapeStr(logits.shape)}`);
  if (labels.dtype !== 'i32' || labels.ndim !== 1 || labels.shape[0] !== logits.shape[0])
    throw new Error(
      `crossEntropy: expected i32 labels [${logits.shape[0]}], got ${labels.dtype} ${shapeStr(labels.shape)}`,
    );
  const c = logits.shape[1];
  const eps = opts.labelSmoothing ?? 0;
  if (eps < 0 || eps > 1) throw new Error(`crossEntropy: labelSmoothing must be in [0, 1], got ${eps}`);
  const target = oneHot(labels, c, 1 - eps + eps / c, eps / c);
  const perExample = neg(sum(mul(logSoftmax(logits, 1), target), 1));
  return reduce(perExample, opts.reduction ?? 'mean');
}

export type KlReduction = Reduction | 'batchmean';

/**
 * F.kl_div(input = log q, target = p): Σ p·(log p − log q). Terms with p = 0 contribute 0.
 * 'batchmean' divides the sum by the batch size (the mathematically correct KL per example).
 */
export function klDiv(logQ: Tensor, p: Tensor, reduction: KlReduction = 'mean'): Tensor {
  if (logQ.size !== p.size) throw new Error(`klDiv: input ${shapeStr(logQ.shape)} and target ${shapeStr(p.shape)} differ`);
  // The mask covers the whole term: p·logQ alone is 0·(−∞) = NaN where p = 0 and logQ = −∞.
  const terms = where(gt(p, 0), mul(p, sub(log(p), logQ)), 0);
  if (reduction === 'batchmean') return mul(sum(terms), 1 / logQ.shape[0]);
  return reduce(terms, reduction);
}
