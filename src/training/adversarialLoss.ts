// The training losses of adversarial pre-training (algorithms.md §2): Madry PGD-AT, TRADES and
// MART, plus plain (clean) training. Adversarial examples are crafted with the model in eval mode
// and the loss is then computed in train mode [C:intellisec/harp utils/adv.py].

import { inEvalMode, moduleClassifier, type Classifier } from '../attacks/classifier.js';
import { inputGradient } from '../attacks/inputGradient.js';
import { pgd } from '../attacks/pgd.js';
import { linfProject, linfStep } from '../attacks/project.js';
import { noGrad } from '../engine/autograd.js';
import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import type { Module } from '../nn/module.js';
import { detach } from '../ops/creation.js';
import { add, affine, log, mul, neg, sub } from '../ops/elementwise.js';
import { gather, oneHot } from '../ops/gather.js';
import { crossEntropy, logSoftmax, softmax } from '../ops/loss.js';
import { argmax, mean, sum } from '../ops/reduce.js';
import type { Generator } from '../ops/random.js';
import { reshape } from '../ops/shape.js';

export type TrainingMethod = 'clean' | 'madry' | 'trades' | 'mart';

export interface AdversarialTrainingOptions {
  method: TrainingMethod;
  eps: number;
  stepSize: number;
  steps: number;
  /** TRADES β (6, [C:harp]). */
  tradesBeta?: number;
  /** MART λ (5 for ResNet-18, [C:harp]). */
  martLambda?: number;
  generator: Generator;
}

/** K signed-gradient ascent steps on `loss` from `start`, projected onto the ε-box around x. */
function ascend(classifier: Classifier, x: Tensor, start: Tensor, loss: (z: Tensor) => Tensor, o: AdversarialTrainingOptions): Tensor {
  let xk = start;
  for (let k = 0; k < o.steps; k++) {
    const current = xk;
    xk = scope(() => linfStep(current, inputGradient(classifier, current, loss).grad, x, o.eps, o.stepSize));
    if (current !== start) current.dispose();
  }
  return xk;
}

/** x + 0.001·N(0, 1), kept in the ε-box and [0, 1]: the TRADES and MART starting point. */
function jitteredStart(x: Tensor, o: AdversarialTrainingOptions): Tensor {
  return scope(() => linfProject(add(x, affine(o.generator.normal(x.shape), 0.001, 0)), x, o.eps));
}

/** Per-sample KL(p ‖ q) with p given as probabilities and q as logits. */
function klRows(p: Tensor, logP: Tensor, zq: Tensor): Tensor {
  return sum(mul(p, sub(logP, logSoftmax(zq, 1))), 1);
}

/**
 * The loss of one batch; the model ends in train mode. Everything but the returned (scalar)
 * loss is created inside the caller's scope.
 */
export function adversarialLoss(model: Module, x: Tensor, y: Tensor, o: AdversarialTrainingOptions): Tensor {
  const classifier = moduleClassifier(model);
  switch (o.method) {
    case 'clean':
      model.train();
      return crossEntropy(model.forward(x), y);
    case 'madry': {
      const xAdv = pgd(classifier, x, y, { eps: o.eps, stepSize: o.stepSize, steps: o.steps, randomStart: true, generator: o.generator });
      model.train();
      return crossEntropy(model.forward(xAdv), y);
    }
    case 'trades': {
      // Ascent on KL(p(x) ‖ p(x_adv)) with p(x) fixed (eval mode), from x + 0.001·N(0, 1).
      const pNat = noGrad(() => inEvalMode(model, () => softmax(model.forward(x), 1)));
      const logPNat = noGrad(() => log(affine(pNat, 1, 1e-12)));
      const xAdv = ascend(classifier, x, jitteredStart(x, o), (z) => klRows(pNat, logPNat, z), o);
      model.train();
      const zNat = model.forward(x);
      const zAdv = model.forward(xAdv);
      // KL(p(x) ‖ p(x_adv)) summed over classes, averaged over the batch (KLDivLoss 'batchmean').
      const pTrain = softmax(zNat, 1);
      const robust = mean(klRows(pTrain, logSoftmax(zNat, 1), zAdv));
      return add(crossEntropy(zNat, y), mul(robust, o.tradesBeta ?? 6));
    }
    case 'mart': {
      const xAdv = ascend(classifier, x, jitteredStart(x, o), (z) => neg(sum(mul(oneHot(y, z.shape[1]), logSoftmax(z, 1)), 1)), o);
      model.train();
      const zNat = model.forward(x);
      const zAdv = model.forward(xAdv);
      const pAdv = softmax(zAdv, 1);
      const c = zAdv.shape[1];
      // y' = the most likely wrong class under attack (no gradient through the choice).
      const yWrong = noGrad(() => argmax(sub(detach(pAdv), mul(oneHot(y, c), 2)), 1));
      const pWrong = reshape(gather(pAdv, 1, reshape(yWrong, [-1, 1])), [-1]);
      const bce = add(crossEntropy(zAdv, y), mean(neg(log(affine(neg(pWrong), 1, 1.0001 + 1e-12)))));
      const pNat = softmax(zNat, 1);
      const pTrue = reshape(gather(pNat, 1, reshape(y, [-1, 1])), [-1]);
      const kl = klRows(pNat, log(affine(pNat, 1, 1e-12)), zAdv);
      const robust = mean(mul(kl, affine(pTrue, -1, 1.0000001)));
      return add(bce, mul(robust, o.martLambda ?? 5));
    }
  }
}
