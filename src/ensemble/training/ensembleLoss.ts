// The loss of one batch of ensemble training (algorithms.md §7, per-batch update [X]):
//   eval mode:  x̃_j ← distill(F_j, x_s, x_t, l) ∀j;  x_adv,i ← PGD(F_i, x_s, y_s) ∀i;
//               x_ens ← PGD(average-combiner team, x_s, y_s)
//   train mode: L = Σ_i CE(F_i(x_adv,i), y_s) + β·Div + ω·L_R(x_ens) + γ·(λ1·L_W + λ2·L_A)
// Each input gets its own forward pass (as DVERGE and iGAT do), so BN batch statistics never mix
// adversarial, distilled and ensemble-adversarial samples. The members end in train mode; every
// tensor but the returned terms is created in the caller's scope.

import { averageEnsemble, moduleClassifier } from '../../attacks/classifier.js';
import { pgd } from '../../attacks/pgd.js';
import { noGrad } from '../../engine/autograd.js';
import type { Tensor } from '../../engine/tensor.js';
import { tappedModel } from '../../nn/models/featureTap.js';
import type { Module } from '../../nn/module.js';
import { zeros } from '../../ops/creation.js';
import { add, affine, mul } from '../../ops/elementwise.js';
import { crossEntropy } from '../../ops/loss.js';
import type { Generator } from '../../ops/random.js';
import { activationDensity, activationL1, memberWeightL1 } from './complexityLoss.js';
import { distill } from './distill.js';
import { diversityTerm, needsDistillation } from './diversity.js';
import { robustnessLoss } from './robustnessLoss.js';
import type { Diversity, EnsembleTrainSettings } from './settings.js';

export interface EnsembleLossTerms {
  /** L_EED, the differentiated scalar. */
  total: Tensor;
  /** Σ_i CE(F_i(x_adv,i), y). */
  ce: Tensor;
  /** The Div term (before β). */
  diversity: Tensor;
  /** L_R (before ω). */
  robust: Tensor;
  weightL1: Tensor;
  activationL1: Tensor;
  /** L_C = λ1·L_W + λ2·L_A (before γ). */
  complexity: Tensor;
  /** Mean over members of the L0 density of their post-ReLU activations on x_adv,i (no gradient). */
  activationDensity: Tensor;
}

export interface EnsembleLossOptions {
  settings: EnsembleTrainSettings;
  /** Feature layer l of the distillation (1-based). */
  layer: number;
  /** The Div term in force (SoE runs 'dverge' in its first phase). */
  diversity: Diversity;
  /** Draws the PGD random starts. */
  generator: Generator;
}

const sumAll = (ts: Tensor[]): Tensor => ts.reduce((a, b) => add(a, b));

export function ensembleLoss(members: readonly Module[], xSource: Tensor, ySource: Tensor, xTarget: Tensor, o: EnsembleLossOptions): EnsembleLossTerms {
  if (!members.length) throw new Error('ensembleLoss: the team is empty');
  const s = o.settings;
  const tapped = members.map((m) => tappedModel(m, 'ensembleLoss'));
  const attack = { eps: s.eps, stepSize: s.stepSize, steps: s.attackSteps, randomStart: true, generator: o.generator };

  const distilled = needsDistillation(o.diversity)
    ? members.map((m) => distill(m, xSource, xTarget, { layer: o.layer, eps: s.distillEps, stepSize: s.distillStep, steps: s.distillSteps }))
    : null;
  const adversarial = members.map((m) => pgd(moduleClassifier(m), xSource, ySource, attack));
  const xEns = s.omega > 0 ? pgd(averageEnsemble(members.map((m) => moduleClassifier(m))), xSource, ySource, attack) : null;

  for (const m of members) m.train();
  const activations: Tensor[][] = members.map(() => []);
  const ce = sumAll(
    tapped.map((m, i) => crossEntropy(m.forwardTapped(adversarial[i], { activation: (a) => activations[i].push(a) }), ySource)),
  );
  const diversity = diversityTerm(o.diversity, members, { xSource, ySource, distilled, adversarial }, s);
  const robust = xEns ? robustnessLoss(members.map((m) => m.forward(xEns)), ySource, s.regType) : zeros([]);
  const weightL1 = sumAll(members.map(memberWeightL1));
  const actL1 = sumAll(activations.map(activationL1));
  const complexity = add(affine(weightL1, s.lambda1, 0), affine(actL1, s.lambda2, 0));
  const density = noGrad(() => affine(sumAll(activations.map(activationDensity)), 1 / members.length, 0));
  const total = add(add(add(ce, mul(diversity, s.beta)), mul(robust, s.omega)), mul(complexity, s.gamma));
  return { total, ce, diversity, robust, weightL1, activationL1: actL1, complexity, activationDensity: density };
}
