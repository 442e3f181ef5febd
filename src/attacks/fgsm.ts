// FGSM (Goodfellow et al.): one signed-gradient step of size ε on the cross-entropy, from x,
// clamped to [0, 1]: PGD with K = 1, a = ε and no random start.

import type { Tensor } from '../engine/tensor.js';
import { DEFAULT_ATTACK_BATCH, inBatches } from './batching.js';
import type { Classifier } from './classifier.js';
import { inputGradient } from './inputGradient.js';
import { crossEntropyLoss } from './losses.js';
import { linfStep } from './project.js';

export interface FgsmOptions {
  /** ℓ∞ radius and step (default 8/255). */
  eps?: number;
  batchSize?: number;
}

export function fgsm(classifier: Classifier, x: Tensor, labels: Tensor, opts: FgsmOptions = {}): Tensor {
  const eps = opts.eps ?? 8 / 255;
  if (!(eps >= 0)) throw new Error(`fgsm: invalid eps ${eps}`);
  return inBatches(x, labels, opts.batchSize ?? DEFAULT_ATTACK_BATCH, 'fgsm', (xb, yb) => {
    const { grad } = inputGradient(classifier, xb, (z) => crossEntropyLoss(z, yb));
    return linfStep(xb, grad, xb, eps, eps);
  });
}
