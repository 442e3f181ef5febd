// Convolution with pruned weights stored sparse: the kernels skip the zeros, so the cost falls with
// the sparsity. Train with maskedConv2d and compress the result once with SparseConv2d.fromDense /
// fromTensors. `sparseConv2dFused` also applies what follows the conv in a network (a folded
// eval-mode batch norm, a shortcut, ReLU) as the kernel stores its outputs, where the kernel chosen
// can (kernels/sparseConv.ts sparseConvFusesEpilogue), and as separate ops otherwise: the value is
// the same either way.
// Differentiable in the input and the shortcut only, which is what an attack on a compressed
// model needs (its backward passes then skip the zeros too):
//   y = relu?(conv(x, W)·scale + shift + r)      d = gy ⊙ [y > 0] (gy without the ReLU)
//   dr = d      dx = convᵀ(d ⊙ scale, W) (sparseConv2dGradInputKernel)
// and convᵀ's own derivative is the sparse conv again, so double backward works. The compressed
// weights, scale and shift are constants: a gradient asked of them (or of the dense weight the
// caller names in `weight`) is refused, unless the caller says the compressed copy is a current
// snapshot of weight ⊙ mask (`trainable`, masks fixed). Then the dense weight (and a bias given as
// shift alone) get their gradient through the kept weights only:
//   dW[k] = Σ d[b, co_k, o] · x[b, tap_k(o)] at every kept k, 0 elsewhere (sparseConv2dGradWeightKernel)
// which is mask ⊙ ∂L/∂W, what the masked dense path gives, at the sparse path's cost. A mask that
// needs a gradient (HARP's straight-through one) gets ∂L/∂(w ⊙ M) ⊙ w from the dense GEMM's
// gradient, as maskedConv2d gives it; the forward and input gradient still skip the zeros. convᵀ is then
// differentiable in the weights too (a loss on input gradients, GAL's); the weight gradient itself
// has no derivative (refused).

import { conv2dGradWeightKernel, convGeometry, type ConvGeometry } from '../../kernels/conv2d.js';
import { bnGradInputKernel, bnReluGradKernel } from '../../kernels/batchNorm.js';
import { sparseConv2dGradInputKernel, sparseConv2dGradWeightKernel, sparseConv2dKernel, sparseConvFusesEpilogue } from '../../kernels/sparseConv.js';
import { SparseConv2d } from '../../kernels/sparseWeights.js';
import { attach, isRecording, noGrad } from '../engine/autograd.js';
import { pair, shapeStr } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import type { Conv2dOptions } from './conv.js';
import { ones, zeros } from './creation.js';
import { add, mul, relu } from './elementwise.js';
import { sum } from './reduce.js';
import { concat, reshape } from './shape.js';

export { SparseConv2d };

/** What follows the conv: y = relu?(conv(x)·scale + shift + residual), each part optional. */
export interface SparseConvEpilogueOptions {
  /** [Cout]: per-channel multiplier (batchNormFold's scale). */
  scale?: Tensor | null;
  /** [Cout]: per-channel addend (the conv's bias, or batchNormFold's shift). */
  shift?: Tensor | null;
  /** The output's shape [N, Cout, OH, OW], added after the affine (a residual block's shortcut). */
  residual?: Tensor | null;
  relu?: boolean;
}

export interface SparseConv2dOptions extends Conv2dOptions {
  /**
   * The dense weight `sparse` was compressed from (Conv2d.weight), named only so that asking for
   * its gradient through this op fails loudly instead of leaving it silently without one.
   */
  weight?: Tensor | null;
  /** Its mask (Conv2d.weightMask: HARP's straight-through mask of the scores), refused likewise. */
  mask?: Tensor | null;
  /**
   * `sparse` holds exactly weight ⊙ mask now (compressed since the last update): `weight`, a bias
   * passed as the shift without a scale, and a mask that needs one (straight-through) then get
   * gradients (the weight's at the kept entries only, as the masked path's).
   */
  trainable?: boolean;
}

const REFUSED =
  'sparseConv2d: no gradient for the compressed weights, their mask or the folded batch norm (they are constants here); ' +
  'train on the masked dense weights (decompress the model first)';

/** Attaches `out` to inputs `live` (differentiated by `backward`) and `constants` (a gradient asked of them is refused). */
function attachWithConstants(
  out: Tensor,
  op: string,
  live: readonly Tensor[],
  constants: readonly (Tensor | null | undefined)[],
  backward: (gy: Tensor, needs: readonly boolean[]) => (Tensor | null)[],
): Tensor {
  const fixed = constants.filter((t): t is Tensor => !!t);
  return attach(out, op, [...live, ...fixed], (gy, needs) => {
    if (needs.slice(live.length).some(Boolean)) throw new Error(REFUSED);
    return [...backward(gy, needs.slice(0, live.length)), ...fixed.map(() => null)];
  });
}

/** conv2d(x, dense weights of `sparse`, bias, opts). */
export function sparseConv2d(x: Tensor, sparse: SparseConv2d, bias?: Tensor | null, opts: SparseConv2dOptions = {}): Tensor {
  return sparseConv2dFused(x, sparse, { shift: bias }, opts);
}

/** relu?(conv2d(x, dense weights of `sparse`)·scale + shift + residual); see the file comment for its gradients. */
export function sparseConv2dFused(x: Tensor, sparse: SparseConv2d, epilogue: SparseConvEpilogueOptions, opts: SparseConv2dOptions = {}): Tensor {
  const g = checkedGeometry(x, sparse, opts);
  const scale = checkChannels('scale', epilogue.scale, g.cout);
  const shift = checkChannels('shift', epilogue.shift, g.cout);
  const residual = epilogue.residual ?? null;
  const out = [g.batch, g.cout, g.oh, g.ow];
  if (residual && (residual.ndim !== 4 || residual.shape.some((d, i) => d !== out[i])))
    throw new Error(`sparseConv2d: residual ${shapeStr(residual.shape)} does not match the output ${shapeStr(out)}`);
  const withRelu = epilogue.relu ?? false;
  const y = noGrad(() => {
    if (sparseConvFusesEpilogue(g)) return sparseConv2dKernel(x, sparse, { scale, shift, residual, relu: withRelu }, g);
    // A bias-only kernel: the per-channel affine, shortcut and ReLU as ops of their own.
    let v = sparseConv2dKernel(x, sparse, { scale: null, shift: scale ? null : shift, residual: null, relu: false }, g);
    if (scale) v = mul(v, reshape(scale, [1, g.cout, 1, 1]));
    if (scale && shift) v = add(v, reshape(shift, [1, g.cout, 1, 1]));
    if (residual) v = add(v, residual);
    return withRelu ? relu(v) : v;
  });
  if (!isRecording()) return y;
  const mask = withRelu ? y : null;
  const trainedWeight = opts.trainable ? (opts.weight ?? null) : null;
  const trainedBias = opts.trainable && !scale ? shift : null;
  if (trainedWeight && trainedWeight.shape.some((d, i) => d !== sparse.shape[i]))
    throw new Error(`sparseConv2d: weight ${shapeStr(trainedWeight.shape)} is not the compressed weights' ${shapeStr(sparse.shape)}`);
  // HARP's straight-through mask (a function of the scores) takes ∂L/∂(w ⊙ M) ⊙ w at every weight.
  const trainedMask = trainedWeight && opts.mask?.requiresGrad ? opts.mask : null;
  const live = [x, residual, trainedWeight, trainedBias, trainedMask];
  const constants = [scale, trainedBias ? null : shift, trainedWeight ? null : opts.weight, trainedMask ? null : opts.mask];
  return attachWithConstants(y, 'sparse_conv2d', live.filter((t): t is Tensor => !!t), constants, (gy, liveNeeds) => {
    // liveNeeds follows the non-null entries of `live`; spread it back over all five slots.
    let k = 0;
    const needs = live.map((t) => (t ? liveNeeds[k++] : false));
    const d = needs[0] || needs[2] || needs[3] || needs[4] ? maskedScaled(gy, mask, scale) : null;
    // With the mask's gradient wanted, the effective weight's full gradient serves both (as maskedConv2d's).
    const full = needs[4] ? denseGradWeight(x, d!, g) : null;
    const grads = [
      needs[0] ? sparseConvGradInput(d!, sparse, g, opts) : null,
      needs[1] ? maskedScaled(gy, mask, null) : null,
      needs[2] ? (full ? mul(full, trainedMask!) : sparseConvGradWeight(x, d!, sparse, g)) : null,
      needs[3] ? sum(d!, [0, 2, 3]) : null,
      needs[4] ? mul(full!, trainedWeight!) : null,
    ];
    return grads.filter((_, i) => !!live[i]);
  });
}

/** ∂L/∂(w ⊙ M) at every weight (the dense path's GEMM), for a straight-through mask's gradient. */
function denseGradWeight(x: Tensor, d: Tensor, g: ConvGeometry): Tensor {
  return attach(conv2dGradWeightKernel(x, d, g), 'sparse_conv2d_grad_masked_weight', [x, d], () => {
    throw new Error('sparseConv2d: no second derivative through the straight-through mask’s gradient; differentiate the masked dense path (decompress the model first)');
  });
}

/** The kept weights' gradient as a dense tensor (zeros at pruned ones); see the file comment. */
function sparseConvGradWeight(x: Tensor, d: Tensor, sparse: SparseConv2d, g: ConvGeometry): Tensor {
  const gw = sparseConv2dGradWeightKernel(x, d, sparse, g);
  // Bilinear in x and d, but its derivatives are not implemented: refused rather than dropped.
  return attach(gw, 'sparse_conv2d_grad_weight', [x, d], () => {
    throw new Error('sparseConv2d: no second derivative through the compressed weights’ gradient; differentiate the masked dense path (decompress the model first)');
  });
}

/**
 * gy ⊙ [y > 0] ⊙ scale[c] (the ReLU's mask where `y` is given, the per-channel scale where given)
 * in one pass of the batch norm's per-channel kernel: the epilogue's backward. Linear in gy.
 */
function maskedScaled(gy: Tensor, y: Tensor | null, scale: Tensor | null): Tensor {
  if (!y && !scale) return gy;
  const [n, c, oh, ow] = gy.shape;
  const out = noGrad(() => {
    const z = zeros([c]);
    // bn_apply.wgsl: MODE 2 gives g·k3 where (x − m)·k1 + k2 > 0, i.e. where y > 0; MODE 1 g·k1 + (x − m)·k2 + k3.
    if (!y) return bnGradInputKernel(gy, gy, z, concat([scale!, z, z]), n, c, oh * ow);
    const one = ones([c]);
    return bnReluGradKernel(gy, y, z, concat([one, z, scale ?? one]), n, c, oh * ow);
  }).reshapedInto(gy.shape);
  // The scale is a constant here too (a second derivative w.r.t. it is refused, not dropped).
  return attachWithConstants(out, 'sparse_conv2d_epilogue_grad', [gy], [scale], (u, needs) => [needs[0] ? maskedScaled(u, y, scale) : null]);
}

/**
 * convᵀ(gy, W) for the sparse weights; its derivative in gy is the sparse conv (it is linear in gy),
 * and in trainable weights ⟨u, convᵀ(gy, W)⟩ = ⟨conv(u, W), gy⟩ gives the weight gradient of a conv
 * of u (what a loss on input gradients, GAL's, needs during training).
 */
function sparseConvGradInput(gy: Tensor, sparse: SparseConv2d, g: ConvGeometry, opts: SparseConv2dOptions): Tensor {
  const gx = sparseConv2dGradInputKernel(gy, sparse, g);
  const trainedWeight = opts.trainable ? (opts.weight ?? null) : null;
  // Otherwise the weights (and mask) are constants of convᵀ as well: its derivative in them is refused, not dropped.
  const live = trainedWeight ? [gy, trainedWeight] : [gy];
  return attachWithConstants(gx, 'sparse_conv2d_grad_input', live, [trainedWeight ? null : opts.weight, opts.mask], (u, needs) => [
    needs[0] ? sparseConv2dFused(u, sparse, {}, { stride: opts.stride, padding: opts.padding, weight: opts.weight, mask: opts.mask, trainable: opts.trainable }) : null,
    ...(trainedWeight ? [needs[1] ? sparseConvGradWeight(u, gy, sparse, g) : null] : []),
  ]);
}

function checkedGeometry(x: Tensor, sparse: SparseConv2d, opts: Conv2dOptions): ConvGeometry {
  const [cout, cin, kh, kw] = sparse.shape;
  if (x.ndim !== 4 || x.shape[1] !== cin)
    throw new Error(`sparseConv2d: expected input [N, ${cin}, H, W], got ${shapeStr(x.shape)}`);
  const stride = pair(opts.stride, 1);
  const padding = pair(opts.padding, 0);
  if (stride[0] < 1 || stride[1] < 1 || padding[0] < 0 || padding[1] < 0)
    throw new Error(`sparseConv2d: invalid stride ${stride} or padding ${padding}`);
  const g = convGeometry(x.shape, [cout, cin, kh, kw], stride, padding);
  if (g.oh < 1 || g.ow < 1)
    throw new Error(`sparseConv2d: kernel ${kh}x${kw} does not fit input ${shapeStr(x.shape)} with padding ${padding}`);
  return g;
}

function checkChannels(name: string, t: Tensor | null | undefined, cout: number): Tensor | null {
  if (t && (t.ndim !== 1 || t.shape[0] !== cout))
    throw new Error(`sparseConv2d: ${name === 'shift' ? 'bias/shift' : name} ${shapeStr(t.shape)} does not match ${cout} output channels`);
  return t ?? null;
}
