// Batch normalisation over (N, H, W) per channel, composed from differentiable primitives.
// Training uses batch statistics and updates the running statistics in place (PyTorch semantics:
// running_var uses the unbiased batch variance); evaluation uses the running statistics.

import { noGrad } from '../engine/autograd.js';
import { shapeStr } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { add, affine, mul, pow, sub } from './elementwise.js';
import { mean } from './reduce.js';
import { reshape } from './shape.js';

export interface BatchNormOptions {
  training: boolean;
  momentum?: number;
  eps?: number;
}

export function batchNorm2d(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null,
  bias: Tensor | null,
  opts: BatchNormOptions,
): Tensor {
  if (x.ndim !== 4) throw new Error(`batchNorm2d: expected input [N, C, H, W], got ${shapeStr(x.shape)}`);
  const c = x.shape[1];
  for (const [name, t] of [
    ['running_mean', runningMean],
    ['running_var', runningVar],
    ['weight', weight],
    ['bias', bias],
  ] as const) {
    if (t && (t.ndim !== 1 || t.shape[0] !== c))
      throw new Error(`batchNorm2d: ${name} ${shapeStr(t.shape)} does not match ${c} channels of ${shapeStr(x.shape)}`);
  }
  const eps = opts.eps ?? 1e-5;
  const chan = (t: Tensor) => reshape(t, [1, c, 1, 1]);
  let y: Tensor;
  if (opts.training || !runningMean || !runningVar) {
    const n = x.shape[0] * x.shape[2] * x.shape[3];
    if (opts.training && n < 2) throw new Error(`batchNorm2d: training needs more than 1 value per channel, got input ${shapeStr(x.shape)}`);
    const mu = mean(x, [0, 2, 3], { keepDims: true });
    const centered = sub(x, mu);
    const v = mean(mul(centered, centered), [0, 2, 3], { keepDims: true });
    y = mul(centered, pow(affine(v, 1, eps), -0.5));
    if (opts.training && runningMean && runningVar) {
      const m = opts.momentum ?? 0.1;
      noGrad(() => {
        runningMean.assign(add(affine(runningMean, 1 - m, 0), affine(reshape(mu, [c]), m, 0)));
        runningVar.assign(add(affine(runningVar, 1 - m, 0), affine(reshape(v, [c]), (m * n) / (n - 1), 0)));
      });
    }
  } else {
    y = mul(sub(x, chan(runningMean)), chan(pow(affine(runningVar, 1, eps), -0.5)));
  }
  if (weight) y = mul(y, chan(weight));
  if (bias) y = add(y, chan(bias));
  return y;
}
