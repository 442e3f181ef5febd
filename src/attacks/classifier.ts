// What an attack attacks: anything that maps a batch of images in [0, 1] to class logits. Single
// models, ensembles (algorithms.md §0 combiners) and, later, dynamic-inference teams all fit.
//
// Attacks craft adversarial examples with models in eval mode (BN running statistics; §0,
// [C:intellisec/harp utils/adv.py]); a trainer then continues in train mode. moduleClassifier
// therefore switches its module to eval mode for each forward pass and restores every submodule's
// own flag afterwards, so attacking never changes a model's mode.

import { noGrad } from '../engine/autograd.js';
import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { cast } from '../ops/creation.js';
import { add, affine, eq, exp, log, maximum, sub } from '../ops/elementwise.js';
import { logSoftmax } from '../ops/loss.js';
import { argmax, max, sum } from '../ops/reduce.js';
import { reshape, slice, stack } from '../ops/shape.js';
import { Linear } from '../nn/layers.js';
import type { Module } from '../nn/module.js';

export interface Classifier {
  /** Logits [N, numClasses] of images [N, C, H, W] in [0, 1]; differentiable in the images. */
  logits(x: Tensor): Tensor;
  readonly numClasses: number;
}

/** Runs fn with every submodule of `module` in eval mode, then restores each one's own mode. */
export function inEvalMode<T>(module: Module, fn: () => T): T {
  const modes = module.namedModules().map(([, m]) => [m, m.training] as const);
  module.eval();
  try {
    return fn();
  } finally {
    for (const [m, training] of modes) m.training = training;
  }
}

/** The number of classes of a model: the output width of its last Linear layer. */
function outputWidth(module: Module): number {
  const linears = module.namedModules().filter(([, m]) => m instanceof Linear);
  if (!linears.length)
    throw new Error(`moduleClassifier: ${module.label} has no Linear layer to read the class count from; pass numClasses`);
  return (linears[linears.length - 1][1] as Linear).outFeatures;
}

/** A model as a classifier, evaluated in eval mode (see the file comment). */
export function moduleClassifier(module: Module, numClasses: number = outputWidth(module)): Classifier {
  return {
    numClasses,
    logits: (x) => inEvalMode(module, () => module.forward(x)),
  };
}

function checkMembers(members: readonly Classifier[], what: string): number {
  if (!members.length) throw new Error(`${what}: an ensemble needs at least one member`);
  const c = members[0].numClasses;
  const odd = members.find((m) => m.numClasses !== c);
  if (odd) throw new Error(`${what}: members disagree on the class count (${c} and ${odd.numClasses})`);
  return c;
}

/** Smallest probability the average combiner keeps, as in the reference (1e-40). */
const PROB_FLOOR = 1e-40;

/**
 * z_ens = log(max(1e-40, (1/N)·Σ_i softmax(z_i))) [C:zjysteven/DVERGE models/ensemble.py].
 *
 * Computed as max(log 1e-40, logsumexp_i(logSoftmax(z_i)) − log N), the same function (log is
 * monotone) without forming probabilities: in f32, 1e-40 is subnormal and may be flushed to zero
 * by the GPU, and softmax underflows to 0 for confident members, where log would give −∞.
 */
export function averageEnsemble(members: readonly Classifier[]): Classifier {
  const numClasses = checkMembers(members, 'averageEnsemble');
  return {
    numClasses,
    logits: (x) => {
      const logProbs = stack(members.map((m) => logSoftmax(m.logits(x), 1)), 0); // [M, N, C]
      // Shifting by the (constant) member-wise max keeps exp() finite; it cancels exactly.
      const shift = noGrad(() => max(logProbs, 0, { keepDims: true }));
      const logSum = log(sum(exp(sub(logProbs, shift)), 0)); // [N, C]
      const logMean = affine(add(logSum, reshape(shift, logSum.shape)), 1, -Math.log(members.length));
      return maximum(logMean, Math.log(PROB_FLOOR));
    },
  };
}

/**
 * z_ens = log(max_i softmax(z_i)) elementwise, not renormalised [C:xqsi/iGAT Ensemble_max]; taken
 * as max_i logSoftmax(z_i) (the same values, finite where softmax underflows).
 */
export function maxEnsemble(members: readonly Classifier[]): Classifier {
  const numClasses = checkMembers(members, 'maxEnsemble');
  return {
    numClasses,
    logits: (x) => max(stack(members.map((m) => logSoftmax(m.logits(x), 1)), 0), 0),
  };
}

/** Predicted classes (i32 [N]) of a batch, without recording gradients. */
export function predict(classifier: Classifier, x: Tensor): Tensor {
  return scope(() => noGrad(() => argmax(classifier.logits(x), 1)));
}

/** 1 where argmax(logits) equals the label, else 0 (f32 [N]). */
export function correctlyClassified(logits: Tensor, labels: Tensor): Tensor {
  return scope(() => noGrad(() => eq(cast(argmax(logits, 1), 'f32'), cast(labels, 'f32'))));
}

/**
 * Which samples the classifier gets right, read back to the host; `batchSize` samples per forward
 * pass at most (an AutoAttack set of 1000 CIFAR images through ResNet-18 in one pass would need
 * multi-GiB activations and im2col buffers, past the bindings a device allows).
 */
export async function correctOnHost(classifier: Classifier, x: Tensor, labels: Tensor, batchSize = Infinity): Promise<boolean[]> {
  if (!(batchSize >= 1)) throw new Error(`correctOnHost: batchSize must be at least 1, got ${batchSize}`);
  const n = x.shape[0];
  const out: boolean[] = [];
  for (let s = 0; s === 0 || s < n; s += batchSize) {
    const e = Math.min(n, s + batchSize);
    const part = (t: Tensor) => (s === 0 && e === n ? t : slice(t, 0, s, e));
    const flags = scope(() => noGrad(() => correctlyClassified(classifier.logits(part(x)), part(labels))));
    const host = await flags.data();
    flags.dispose();
    for (const v of host) out.push(v !== 0);
  }
  return out;
}
