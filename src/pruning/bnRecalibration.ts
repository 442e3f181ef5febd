// BatchNorm statistics re-estimated for a pruned model [X, not in the spec]. Pruning changes
// every layer's activation scale, and BN's running averages (momentum 0.1) only forget the dense
// model's statistics after a few dozen training steps. The full schedules (40 fine-tuning epochs)
// take care of that by themselves; short runs do not: in the quick preset the sub-models scored
// 10–16% in eval mode and 32–37% with batch statistics. This pass recomputes the running mean and
// variance as a cumulative average over a few batches of the training inputs (as PyTorch's
// momentum=None does), with no gradient and no change to any weight.

import { noGrad } from '../engine/autograd.js';
import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { BatchNorm2d } from '../nn/layers.js';
import type { Module } from '../nn/module.js';

/**
 * Re-estimates every BatchNorm2d's running statistics of `model` from `batches` (each a batch of
 * inputs, e.g. the adversarial examples the model trains on). The model's mode and the layers'
 * momenta are restored afterwards.
 */
export async function recalibrateBatchNorm(model: Module, batches: AsyncIterable<Tensor> | Iterable<Tensor>): Promise<number> {
  const norms = model.namedModules().map(([, m]) => m).filter((m): m is BatchNorm2d => m instanceof BatchNorm2d);
  if (!norms.length) return 0;
  const momenta = norms.map((b) => b.momentum);
  const modes = model.namedModules().map(([, m]) => [m, m.training] as const);
  let count = 0;
  try {
    for await (const x of batches) {
      // Batch k weighs 1/(k+1): after K batches each contributed 1/K, whatever was there before.
      for (const b of norms) b.momentum = 1 / (count + 1);
      model.train();
      scope(() => void noGrad(() => model.forward(x)));
      count++;
    }
  } finally {
    norms.forEach((b, i) => (b.momentum = momenta[i]));
    for (const [m, training] of modes) m.training = training;
  }
  return count;
}
