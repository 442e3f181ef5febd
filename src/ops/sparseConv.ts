// Convolution with pruned weights stored sparse, for inference: the kernel skips the zeros, so its
// cost falls with the sparsity. Not differentiable; train with maskedConv2d and compress the result
// once with SparseConv2d.fromDense / fromTensors. `sparseConv2dFused` also applies what follows the
// conv in a network (a folded eval-mode batch norm, a shortcut, ReLU) as the kernel stores its
// outputs, where the kernel chosen can (kernels/sparseConv.ts sparseConvFusesEpilogue), and as
// separate ops otherwise: the value is the same either way.

import { convGeometry, type ConvGeometry } from '../../kernels/conv2d.js';
import { sparseConv2dKernel, sparseConvFusesEpilogue } from '../../kernels/sparseConv.js';
import { SparseConv2d } from '../../kernels/sparseWeights.js';
import { pair, shapeStr } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import type { Conv2dOptions } from './conv.js';
import { add, mul, relu } from './elementwise.js';
import { reshape } from './shape.js';

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

/** conv2d(x, dense weights of `sparse`, bias, opts), forward only. */
export function sparseConv2d(x: Tensor, sparse: SparseConv2d, bias?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  return sparseConv2dFused(x, sparse, { shift: bias }, opts);
}

/** relu?(conv2d(x, dense weights of `sparse`)·scale + shift + residual), forward only. */
export function sparseConv2dFused(x: Tensor, sparse: SparseConv2d, epilogue: SparseConvEpilogueOptions, opts: Conv2dOptions = {}): Tensor {
  const g = checkedGeometry(x, sparse, opts);
  const scale = checkChannels('scale', epilogue.scale, g.cout);
  const shift = checkChannels('shift', epilogue.shift, g.cout);
  const residual = epilogue.residual ?? null;
  const out = [g.batch, g.cout, g.oh, g.ow];
  if (residual && (residual.ndim !== 4 || residual.shape.some((d, i) => d !== out[i])))
    throw new Error(`sparseConv2d: residual ${shapeStr(residual.shape)} does not match the output ${shapeStr(out)}`);
  const withRelu = epilogue.relu ?? false;
  if (sparseConvFusesEpilogue(g)) return sparseConv2dKernel(x, sparse, { scale, shift, residual, relu: withRelu }, g);
  // A bias-only kernel: the per-channel affine, shortcut and ReLU as ops of their own.
  let y = sparseConv2dKernel(x, sparse, { scale: null, shift: scale ? null : shift, residual: null, relu: false }, g);
  if (scale) y = mul(y, reshape(scale, [1, g.cout, 1, 1]));
  if (scale && shift) y = add(y, reshape(shift, [1, g.cout, 1, 1]));
  if (residual) y = add(y, residual);
  return withRelu ? relu(y) : y;
}

function checkedGeometry(x: Tensor, sparse: SparseConv2d, opts: Conv2dOptions): ConvGeometry {
  const [cout, cin, kh, kw] = sparse.shape;
  if (x.ndim !== 4 || x.shape[1] !== cin)
    throw new Error(`sparseConv2d: expected input [N, ${cin}, H, W], got ${shapeStr(x.shape)}`);
  if (x.requiresGrad) throw new Error('sparseConv2d: inference only (no gradients); use maskedConv2d to train');
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
