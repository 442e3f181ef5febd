// The Div term of eq. 14 for each `diversity` setting (algorithms.md §7 and §9), computed with the
// members in train mode on inputs prepared in eval mode (distilled x̃_j, per-member x_adv,i):
//   dverge  Σ_i Σ_{j≠i} CE(F_i(x̃_j), y_s)                       (eq. 34, EED's choice)
//   adp     Σ_i CE(F_i(x_s), y) − α·H(h(x_s)) − β·log det(…)      (eq. 32; with the per-member
//           adversarial CE of L_E this is ADP's plus-adv version, [X] per-member instead of
//           ensemble PGD)
//   gal     eq. 33 on x_s (double backprop)
//   soe     eq. 35 on the pooled distilled and adversarial samples' logits (phase 2; the trainer runs
//           dverge during phase 1)
//   none    no Div term.

import type { Tensor } from '../../engine/tensor.js';
import type { Module } from '../../nn/module.js';
import { add } from '../../ops/elementwise.js';
import { zeros } from '../../ops/creation.js';
import { crossEntropy } from '../../ops/loss.js';
import { concat } from '../../ops/shape.js';
import { adpRegularizer } from './adpLoss.js';
import { galLoss } from './galLoss.js';
import type { Diversity, EnsembleTrainSettings } from './settings.js';
import { soeLoss } from './soeLoss.js';

export interface DiversityInputs {
  xSource: Tensor;
  ySource: Tensor;
  /** x̃_j per member (dverge, soe). */
  distilled: readonly Tensor[] | null;
  /** x_adv,i per member (soe). */
  adversarial: readonly Tensor[];
}

/** Whether the term needs the DVERGE-distilled images. */
export function needsDistillation(kind: Diversity): boolean {
  return kind === 'dverge' || kind === 'soe';
}

const sumAll = (ts: Tensor[]): Tensor => ts.reduce((a, b) => add(a, b));

function distilledOf(inputs: DiversityInputs, kind: Diversity): readonly Tensor[] {
  if (!inputs.distilled) throw new Error(`diversityTerm: '${kind}' needs the distilled images`);
  return inputs.distilled;
}

type DiversityWeights = Pick<EnsembleTrainSettings, 'adpAlpha' | 'adpBeta' | 'galLambda' | 'galKappa' | 'galSmoothing'>;

/** The (unweighted) Div term; members must be in train mode. */
export function diversityTerm(kind: Diversity, members: readonly Module[], inputs: DiversityInputs, w: DiversityWeights): Tensor {
  const { xSource, ySource } = inputs;
  switch (kind) {
    case 'none':
      return zeros([]);
    case 'dverge': {
      const distilled = distilledOf(inputs, kind);
      if (members.length < 2) return zeros([]);
      const terms: Tensor[] = [];
      members.forEach((m, i) => distilled.forEach((x, j) => j !== i && terms.push(crossEntropy(m.forward(x), ySource))));
      return sumAll(terms);
    }
    case 'adp': {
      const logits = members.map((m) => m.forward(xSource));
      const ce = sumAll(logits.map((z) => crossEntropy(z, ySource)));
      return add(ce, adpRegularizer(logits, ySource, { alpha: w.adpAlpha, beta: w.adpBeta }));
    }
    case 'gal':
      return galLoss(
        members.map((m) => (x: Tensor) => m.forward(x)),
        xSource,
        ySource,
        { lambda: w.galLambda, kappa: w.galKappa, labelSmoothing: w.galSmoothing },
      );
    case 'soe': {
      // Each source batch gets its own forward pass (batch-norm statistics never mix sources, as
      // for every other input of the ensemble loss), and only the logits are pooled: a pooled
      // input batch of 2·M·B images had activations far above a 128 MiB binding.
      const sources = [...distilledOf(inputs, kind), ...inputs.adversarial];
      const labels = concat(
        sources.map(() => ySource),
        0,
      );
      return soeLoss(
        members.map((m) => concat(sources.map((x) => m.forward(x)), 0)),
        labels,
      );
    }
  }
}
