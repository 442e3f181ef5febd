// "w/o dynamic" (§8, Tab. 3): every member runs on every sample and the prediction is the combined
// distribution of all T members. It is softmax of the §0 combiner logits, so it is the same
// function the attacks differentiate (average: (1/T)·Σ softmax(z^i); max: the renormalised
// elementwise max). Inference only.

import { averageEnsemble, maxEnsemble, type Classifier } from '../attacks/classifier.js';
import { noGrad } from '../engine/autograd.js';
import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { softmax } from '../ops/loss.js';
import type { DieCombiner } from './haltingRule.js';

/** The static team as one differentiable classifier (the §0 combiner logits): what attacks see. */
export function staticTeam(members: readonly Classifier[], combiner: DieCombiner = 'average'): Classifier {
  return combiner === 'max' ? maxEnsemble(members) : averageEnsemble(members);
}

/** Probabilities [N, C] of the static team on images x. */
export function staticEnsemble(members: readonly Classifier[], x: Tensor, combiner: DieCombiner = 'average'): Tensor {
  const team = staticTeam(members, combiner);
  return scope(() => noGrad(() => softmax(team.logits(x), 1)));
}
