// Batch normalisation over (N, H, W) per channel. Training uses batch statistics and updates the
// running statistics in place (PyTorch semantics: running_var takes the unbiased batch variance);
// evaluation uses the running statistics.
//
// First-order passes run fused kernels (kernels/batchNorm.ts): one pass for the statistics, one
// for the output, two for the gradients. When the gradient itself is being recorded (double
// backward, e.g. for Hessian-vector products), the backward instead differentiates the same
// function written with differentiable primitives (`batchNormReference`), so second derivatives
// stay exact. Tests check both paths against float64 finite differences.
//
// `batchNormRelu` is relu(batchNorm2d(...)) in one pass forward and one backward (the ReLU's mask
// is recomputed from x in the gradient kernel, so neither the pre-ReLU tensor nor a step mask is
// stored); models use it on their plain forward path, where the pre-ReLU value is not tapped.
// `batchNormAddRelu` is a residual block's relu(batchNorm2d(...) + shortcut) the same way: one
// pass instead of three forward, and the shortcut's gradient is the masked output gradient the
// batch norm's backward needs anyway.

import { bnApplyKernel, bnBackwardSumsKernel, bnGradInputKernel, bnMomentsKernel, bnReluGradKernel } from '../../kernels/batchNorm.js';
import { attach, grad, isRecording, noGrad } from '../engine/autograd.js';
import { shapeStr } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { ones, zeros } from './creation.js';
import { add, affine, mul, pow, relu, sub } from './elementwise.js';
import { mean, sum } from './reduce.js';
import { concat, reshape, slice } from './shape.js';

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
  return batchNormAny(x, runningMean, runningVar, weight, bias, opts, false, null);
}

/** relu(batchNorm2d(x, ...)) fused: the same value and gradients, fewer passes. */
export function batchNormRelu(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null,
  bias: Tensor | null,
  opts: BatchNormOptions,
): Tensor {
  return batchNormAny(x, runningMean, runningVar, weight, bias, opts, true, null);
}

/** relu(batchNorm2d(x, ...) + residual) fused; `residual` has x's shape (a residual block's shortcut). */
export function batchNormAddRelu(
  x: Tensor,
  residual: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null,
  bias: Tensor | null,
  opts: BatchNormOptions,
): Tensor {
  if (residual.shape.length !== x.shape.length || residual.shape.some((d, i) => d !== x.shape[i]))
    throw new Error(`batchNormAddRelu: residual ${shapeStr(residual.shape)} does not match input ${shapeStr(x.shape)}`);
  return batchNormAny(x, runningMean, runningVar, weight, bias, opts, true, residual);
}

/**
 * An eval-mode batch norm of a conv's output as one per-channel affine of the conv's raw sums:
 * bn(conv(x) + b) = conv(x)·scale + shift with scale = γ/√(σ² + ε), shift = β + (b − μ)·scale.
 * Inference only: the sparse conv kernels apply it as they store their outputs (Conv2d in
 * src/nn/layers.ts, forwardBatchNorm), so no second pass reads the conv's output.
 */
export function batchNormFold(
  runningMean: Tensor,
  runningVar: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  eps: number,
  convBias: Tensor | null,
): { scale: Tensor; shift: Tensor } {
  const c = runningMean.shape[0];
  for (const [name, t] of [
    ['running_mean', runningMean],
    ['running_var', runningVar],
    ['weight', weight],
    ['bias', bias],
    ['conv bias', convBias],
  ] as const) {
    if (t && (t.ndim !== 1 || t.shape[0] !== c)) throw new Error(`batchNormFold: ${name} ${shapeStr(t.shape)} does not match ${c} channels`);
  }
  const inv = pow(affine(runningVar, 1, eps), -0.5);
  const scale = weight ? mul(weight, inv) : inv;
  const centered = convBias ? sub(convBias, runningMean) : affine(runningMean, -1, 0);
  const shifted = mul(centered, scale);
  return { scale, shift: bias ? add(shifted, bias) : shifted };
}

function batchNormAny(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null,
  bias: Tensor | null,
  opts: BatchNormOptions,
  withRelu: boolean,
  residual: Tensor | null,
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
  const useBatchStats = opts.training || !runningMean || !runningVar;
  if (useBatchStats) {
    const n = x.shape[0] * x.shape[2] * x.shape[3];
    if (opts.training && n < 2)
      throw new Error(`batchNorm2d: training needs more than 1 value per channel, got input ${shapeStr(x.shape)}`);
    return batchStatsNorm(x, runningMean, runningVar, weight, bias, eps, opts.training ? (opts.momentum ?? 0.1) : 0, withRelu, residual);
  }
  return runningStatsNorm(x, runningMean!, runningVar!, weight, bias, eps, withRelu, residual);
}

/** What follows the normalisation, written with differentiable primitives (the double-backward form). */
const epilogue = (y: Tensor, withRelu: boolean, residual: Tensor | null): Tensor =>
  residual ? relu(add(y, residual)) : withRelu ? relu(y) : y;

const opName = (base: string, withRelu: boolean, residual: Tensor | null): string =>
  residual ? `${base}_add_relu` : withRelu ? `${base}_relu` : base;

const dims = (x: Tensor) => ({ n: x.shape[0], c: x.shape[1], hw: x.shape[2] * x.shape[3] });
const chan = (t: Tensor, c: number) => reshape(t, [1, c, 1, 1]);

/** The same function from differentiable primitives (double backward, and tests). */
export function batchNormReference(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): Tensor {
  const c = x.shape[1];
  const mu = mean(x, [0, 2, 3], { keepDims: true });
  const centered = sub(x, mu);
  const v = mean(mul(centered, centered), [0, 2, 3], { keepDims: true });
  let y = mul(centered, pow(affine(v, 1, eps), -0.5));
  if (weight) y = mul(y, chan(weight, c));
  if (bias) y = add(y, chan(bias, c));
  return y;
}

function batchStatsNorm(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null,
  bias: Tensor | null,
  eps: number,
  momentum: number,
  withRelu: boolean,
  residual: Tensor | null,
): Tensor {
  const { n, c, hw } = dims(x);
  const count = n * hw;
  const stats = noGrad(() => {
    const moments = reshape(bnMomentsKernel(x, n, c, hw), [2, c]);
    const mu = reshape(slice(moments, 0, 0, 1), [c]);
    const biasedVar = reshape(slice(moments, 0, 1, 2), [c]);
    const invstd = pow(affine(biasedVar, 1, eps), -0.5);
    if (momentum && runningMean && runningVar) {
      runningMean.assign(add(affine(runningMean, 1 - momentum, 0), affine(mu, momentum, 0)));
      runningVar.assign(add(affine(runningVar, 1 - momentum, 0), affine(biasedVar, (momentum * count) / (count - 1), 0)));
    }
    const scale = weight ? mul(invstd, weight) : invstd;
    const shift = bias ?? zeros([c]);
    return { mu, invstd, scale, shift, k: concat([scale, shift], 0) };
  });
  const y = reshape(bnApplyKernel(x, stats.mu, stats.k, n, c, hw, withRelu, residual), x.shape);
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : []), ...(residual ? [residual] : [])];
  return attach(y, opName('batch_norm', withRelu, residual), inputs, (gyOut, needs) => {
    if (isRecording()) {
      // Building a differentiable gradient: differentiate the primitive form instead.
      const ref = epilogue(batchNormReference(x, weight, bias, eps), withRelu, residual);
      return grad(ref, inputs, { gradOutput: gyOut, createGraph: true, allowUnused: true });
    }
    // Through the ReLU: the output gradient where the normalised value (plus residual) is positive.
    // It is also the residual's gradient.
    const gy = withRelu
      ? reshape(bnReluGradKernel(gyOut, x, stats.mu, concat([stats.scale, stats.shift, ones([c])], 0), n, c, hw, residual), x.shape)
      : gyOut;
    // Σg and Σg·(x − μ) per channel give every gradient:
    //   dβ = Σg,  dγ = invstd·Σg(x − μ),
    //   dx = γ·invstd·(g − Σg/M − (x − μ)·invstd²·Σg(x − μ)/M)
    const sums = bnBackwardSumsKernel(gy, x, stats.mu, n, c, hw);
    const sg = reshape(slice(reshape(sums, [c, 2]), 1, 0, 1), [c]);
    const sgx = reshape(slice(reshape(sums, [c, 2]), 1, 1, 2), [c]);
    const gammaInvstd = weight ? mul(stats.invstd, weight) : stats.invstd;
    const out: (Tensor | null)[] = [];
    if (needs[0]) {
      const k1 = gammaInvstd;
      const k2 = mul(mul(gammaInvstd, mul(stats.invstd, stats.invstd)), mul(sgx, -1 / count));
      const k3 = mul(gammaInvstd, mul(sg, -1 / count));
      out.push(reshape(bnGradInputKernel(gy, x, stats.mu, concat([k1, k2, k3], 0), n, c, hw), x.shape));
    } else out.push(null);
    if (weight) out.push(needs[out.length] ? mul(sgx, stats.invstd) : null);
    if (bias) out.push(needs[out.length] ? sg : null);
    if (residual) out.push(needs[out.length] ? gy : null);
    return out;
  });
}

function runningStatsNorm(
  x: Tensor,
  runningMean: Tensor,
  runningVar: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  eps: number,
  withRelu: boolean,
  residual: Tensor | null,
): Tensor {
  const { n, c, hw } = dims(x);
  // scale = γ/√(var + ε), differentiable in γ; the running statistics are constants.
  const invstd = noGrad(() => pow(affine(runningVar, 1, eps), -0.5));
  const scale = weight ? mul(invstd, weight) : invstd;
  const shift = bias ?? zeros([c]);
  const k = noGrad(() => concat([scale, shift], 0));
  const y = reshape(bnApplyKernel(x, runningMean, k, n, c, hw, withRelu, residual), x.shape);
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : []), ...(residual ? [residual] : [])];
  if (withRelu)
    return attach(y, `${opName('batch_norm', withRelu, residual)}_eval`, inputs, (gy, needs) => {
      if (isRecording()) {
        // The unfused form's backward is made of differentiable ops: differentiate through it.
        const ref = epilogue(runningStatsNorm(x, runningMean, runningVar, weight, bias, eps, false, null), withRelu, residual);
        return grad(ref, inputs, { gradOutput: gy, createGraph: true, allowUnused: true });
      }
      // dx = g·scale where the normalised value (plus residual) is positive: one pass, no mask tensor.
      const masked = (k3: Tensor) => reshape(bnReluGradKernel(gy, x, runningMean, concat([k, k3], 0), n, c, hw, residual), x.shape);
      const out: (Tensor | null)[] = [needs[0] ? masked(scale) : null];
      // Which of the optional inputs (in `inputs` order after x) want a gradient.
      let next = 1;
      const needW = weight ? needs[next++] : false;
      const needB = bias ? needs[next++] : false;
      const needR = residual ? needs[next++] : false;
      // The output gradient through the ReLU: the residual's gradient and the base of γ's and β's.
      const gm = needW || needB || needR ? masked(ones([c])) : null;
      if (weight) out.push(needW && gm ? mul(sum(mul(gm, sub(x, chan(runningMean, c))), [0, 2, 3]), invstd) : null);
      if (bias) out.push(needB && gm ? sum(gm, [0, 2, 3]) : null);
      if (residual) out.push(needR ? gm : null);
      return out;
    });
  return attach(y, 'batch_norm_eval', inputs, (gy, needs) => {
    const out: (Tensor | null)[] = [needs[0] ? mul(gy, chan(scale, c)) : null];
    if (weight)
      out.push(needs[out.length] ? mul(sum(mul(gy, sub(x, chan(runningMean, c))), [0, 2, 3]), invstd) : null);
    if (bias) out.push(needs[out.length] ? sum(gy, [0, 2, 3]) : null);
    return out;
  });
}
