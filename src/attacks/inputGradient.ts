// One gradient evaluation of an attack: the per-sample loss at x and d(Σ loss)/dx. Only the input
// gradient is requested, so the backward pass skips every weight gradient (autograd's `needs`).

import { grad } from '../engine/autograd.js';
import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { detach, variable } from '../ops/creation.js';
import { sum } from '../ops/reduce.js';
import type { Classifier } from './classifier.js';

export interface InputGradient {
  /** d(Σ_n loss_n)/dx: sample n's row is the gradient of its own loss (samples are independent). */
  grad: Tensor;
  /** Per-sample loss [N] (detached). */
  loss: Tensor;
  /** Logits [N, C] at x (detached). */
  logits: Tensor;
}

export function inputGradient(classifier: Classifier, x: Tensor, loss: (logits: Tensor) => Tensor): InputGradient {
  return scope(() => {
    const v = variable(x);
    const z = classifier.logits(v);
    const l = loss(z);
    const [g] = grad(sum(l), [v]);
    return { grad: g, loss: detach(l), logits: detach(z) };
  });
}
