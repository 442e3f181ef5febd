// PGD-K in ℓ∞ (algorithms.md §2, [C:harp utils/adv.py pgd_loss; DVERGE Linf_PGD]):
//   x_0 = clamp(x + U(−ε, ε), 0, 1)
//   x_{k+1} = clamp(min(max(x_k + a·sign(∇_x L(z(x_k), y)), x − ε), x + ε), 0, 1)
// with L the cross-entropy (training, PGD-20 evaluation §11.1) or the C&W margin loss
// −max(z_y − max_{i≠y} z_i + κ, 0) (C&W-ℓ∞ evaluation §11.3). Synchronous: nothing is read back,
// so a training step can call it inside its own scope.

import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { add } from '../ops/elementwise.js';
import { clone } from '../ops/creation.js';
import { defaultGenerator, type Generator } from '../ops/random.js';
import { DEFAULT_ATTACK_BATCH, inBatches } from './batching.js';
import type { Classifier } from './classifier.js';
import { inputGradient } from './inputGradient.js';
import { crossEntropyLoss, cwLoss } from './losses.js';
import { linfProject, linfStep } from './project.js';

export type PgdLoss = 'ce' | 'cw';

export interface PgdOptions {
  /** ℓ∞ radius (default 8/255). */
  eps?: number;
  /** Step a (default 2/255). */
  stepSize?: number;
  /** K (default 20). */
  steps?: number;
  /** Start from a uniform point of the ε-box (default true). */
  randomStart?: boolean;
  /** 'ce' (default) or the C&W margin loss 'cw'. */
  loss?: PgdLoss;
  /** Confidence κ of the C&W loss (default 50, HARP's setting). */
  kappa?: number;
  /** Source of the random start (default: the global generator). */
  generator?: Generator;
  batchSize?: number;
}

export const PGD_DEFAULTS = { eps: 8 / 255, stepSize: 2 / 255, steps: 20, randomStart: true, loss: 'ce', kappa: 50 } as const;

/** PGD adversarial examples (same shape as x, within the ε-box and [0, 1]). */
export function pgd(classifier: Classifier, x: Tensor, labels: Tensor, opts: PgdOptions = {}): Tensor {
  const eps = opts.eps ?? PGD_DEFAULTS.eps;
  const stepSize = opts.stepSize ?? PGD_DEFAULTS.stepSize;
  const steps = opts.steps ?? PGD_DEFAULTS.steps;
  const kappa = opts.kappa ?? PGD_DEFAULTS.kappa;
  const gen = opts.generator ?? defaultGenerator;
  if (!(eps >= 0) || !(stepSize >= 0) || !(Number.isInteger(steps) && steps >= 0))
    throw new Error(`pgd: invalid eps ${eps}, stepSize ${stepSize} or steps ${steps}`);
  const lossName = opts.loss ?? PGD_DEFAULTS.loss;
  if (lossName !== 'ce' && lossName !== 'cw') throw new Error(`pgd: unknown loss '${String(lossName)}' (expected 'ce' or 'cw')`);
  const lossOf =
    lossName === 'cw'
      ? (y: Tensor) => (z: Tensor) => cwLoss(z, y, kappa)
      : (y: Tensor) => (z: Tensor) => crossEntropyLoss(z, y);

  return inBatches(x, labels, opts.batchSize ?? DEFAULT_ATTACK_BATCH, 'pgd', (xb, yb) => {
    const loss = lossOf(yb);
    let xk = (opts.randomStart ?? PGD_DEFAULTS.randomStart) ? linfProject(add(xb, gen.uniform(xb.shape, -eps, eps)), xb, eps) : clone(xb);
    for (let k = 0; k < steps; k++) {
      const current = xk;
      xk = scope(() => linfStep(current, inputGradient(classifier, current, loss).grad, xb, eps, stepSize));
      current.dispose();
    }
    return xk;
  });
}

/** C&W-ℓ∞ as evaluated here (§11.3): PGD on the C&W margin loss, κ = 50, 20 steps of 2/255. */
export function cwLinf(classifier: Classifier, x: Tensor, labels: Tensor, opts: Omit<PgdOptions, 'loss'> = {}): Tensor {
  return pgd(classifier, x, labels, { ...opts, loss: 'cw' });
}
