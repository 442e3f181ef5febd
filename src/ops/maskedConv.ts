// Convolution with a pruning mask handed to the conv kernels: y = conv(x, w ⊙ M) with no
// differentiable masked copy of w in the graph. The direct kernels apply M as they read w; the
// im2col + GEMM path multiplies it into its scratch weight matrix (or, with
// setMaskedGemmWeights('in-kernel'), into the GEMM's loads; see kernels/conv2d.ts for why that is
// not the default).
//   y  = maskedConv(x, w; M)          dx = maskedGradInput(gy, w; M) = convGradInput(gy, w ⊙ M)
//   dw = convGradWeight(x, gy) ⊙ M    (the gradient w.r.t. w; pruned weights get 0)
//   dM = convGradWeight(x, gy) ⊙ w    (when M is itself differentiable: HARP's straight-through
//                                      mask of its scores, src/pruning/harp.ts)
// With `gradWrtMaskedWeight` the weight gradient is convGradWeight(x, gy) unmasked, i.e.
// ∂L/∂(w ⊙ M): the straight-through estimator HARP uses to score pruned weights too.
// As in conv.ts the backward passes are differentiable ops, so double backward works:
//   maskedGradInput(g, w; M): d/dg = maskedConv(u, w; M),  d/dw = convGradWeight(u, g) ⊙ M,
//                             d/dM = convGradWeight(u, g) ⊙ w

import { conv2dForwardKernel, conv2dGradInputKernel, convGeometry, type ConvGeometry } from '../../kernels/conv2d.js';
import { attach } from '../engine/autograd.js';
import { pair, shapeStr } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { convGradWeight, type Conv2dOptions } from './conv.js';
import { add, mul } from './elementwise.js';
import { reshape } from './shape.js';

export interface MaskedConv2dOptions extends Conv2dOptions {
  /**
   * Return ∂L/∂(w ⊙ M) as w's gradient (the straight-through estimator: pruned weights receive
   * the gradient they would have if they were present) instead of ∂L/∂w = ∂L/∂(w ⊙ M) ⊙ M.
   */
  gradWrtMaskedWeight?: boolean;
}

/** What every pass of one masked conv shares: geometry, mask and the weight-gradient rule. */
interface MaskedConvContext {
  g: ConvGeometry;
  mask: Tensor;
  straightThrough: boolean;
}

/** conv2d(x, w ⊙ mask, bias), the mask (f32 0/1, w's shape) applied by the conv kernels. */
export function maskedConv2d(x: Tensor, w: Tensor, mask: Tensor, bias?: Tensor | null, opts: MaskedConv2dOptions = {}): Tensor {
  if (x.ndim !== 4) throw new Error(`maskedConv2d: expected input [N, C, H, W], got ${shapeStr(x.shape)}`);
  if (w.ndim !== 4) throw new Error(`maskedConv2d: expected weight [Cout, Cin, KH, KW], got ${shapeStr(w.shape)}`);
  if (x.shape[1] !== w.shape[1])
    throw new Error(`maskedConv2d: input ${shapeStr(x.shape)} has ${x.shape[1]} channels, weight ${shapeStr(w.shape)} expects ${w.shape[1]}`);
  if (mask.dtype !== 'f32' || shapeStr(mask.shape) !== shapeStr(w.shape))
    throw new Error(`maskedConv2d: mask ${mask.dtype} ${shapeStr(mask.shape)} must be f32 of the weight's shape ${shapeStr(w.shape)}`);
  const stride = pair(opts.stride, 1);
  const padding = pair(opts.padding, 0);
  if (stride[0] < 1 || stride[1] < 1 || padding[0] < 0 || padding[1] < 0)
    throw new Error(`maskedConv2d: invalid stride ${stride} or padding ${padding}`);
  const g = convGeometry(x.shape, w.shape, stride, padding);
  if (g.oh < 1 || g.ow < 1)
    throw new Error(`maskedConv2d: kernel ${w.shape[2]}x${w.shape[3]} does not fit input ${shapeStr(x.shape)} with padding ${padding}`);
  const y = maskedForward(x, w, { g, mask, straightThrough: opts.gradWrtMaskedWeight ?? false });
  if (!bias) return y;
  if (bias.ndim !== 1 || bias.shape[0] !== w.shape[0])
    throw new Error(`maskedConv2d: bias ${shapeStr(bias.shape)} does not match ${w.shape[0]} output channels`);
  return add(y, reshape(bias, [1, w.shape[0], 1, 1]));
}

/** The weight gradient as the options define it, from the ordinary (unmasked) one. */
function weightGrad(gw: Tensor, m: MaskedConvContext): Tensor {
  return m.straightThrough ? gw : mul(gw, m.mask);
}

/** The gradients w.r.t. w and M from the one w.r.t. the masked weight, computed once for both. */
function weightAndMaskGrads(gEffective: () => Tensor, w: Tensor, m: MaskedConvContext, needW: boolean, needM: boolean): (Tensor | null)[] {
  const ge = needW || needM ? gEffective() : null;
  return [needW ? weightGrad(ge!, m) : null, needM ? mul(ge!, w) : null];
}

function maskedForward(x: Tensor, w: Tensor, m: MaskedConvContext): Tensor {
  return attach(conv2dForwardKernel(x, w, m.g, m.mask), 'masked_conv2d', [x, w, m.mask], (gy, needs) => [
    needs[0] ? maskedGradInput(gy, w, m) : null,
    ...weightAndMaskGrads(() => convGradWeight(x, gy, m.g), w, m, needs[1], needs[2]),
  ]);
}

function maskedGradInput(gy: Tensor, w: Tensor, m: MaskedConvContext): Tensor {
  return attach(conv2dGradInputKernel(gy, w, m.g, m.mask), 'masked_conv2d_grad_input', [gy, w, m.mask], (u, needs) => [
    needs[0] ? maskedForward(u, w, m) : null,
    ...weightAndMaskGrads(() => convGradWeight(u, gy, m.g), w, m, needs[1], needs[2]),
  ]);
}
