// Convolution with pruned weights stored sparse (CSR over output channels), for inference: the
// kernel skips the zeros, so its cost falls with the sparsity. Not differentiable; train with
// maskedConv2d and compress the result once with SparseConv2d.fromDense / fromTensors.

import { convGeometry } from '../../kernels/conv2d.js';
import { sparseConv2dKernel } from '../../kernels/sparseConv.js';
import { SparseConv2d } from '../../kernels/sparseWeights.js';
import { pair, shapeStr } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import type { Conv2dOptions } from './conv.js';

export { SparseConv2d };

/** conv2d(x, dense weights of `sparse`, bias, opts), forward only. */
export function sparseConv2d(x: Tensor, sparse: SparseConv2d, bias?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  const [cout, cin, kh, kw] = sparse.shape;
  if (x.ndim !== 4 || x.shape[1] !== cin)
    throw new Error(`sparseConv2d: expected input [N, ${cin}, H, W], got ${shapeStr(x.shape)}`);
  if (x.requiresGrad) throw new Error('sparseConv2d: inference only (no gradients); use maskedConv2d to train');
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== cout))
    throw new Error(`sparseConv2d: bias ${shapeStr(bias.shape)} does not match ${cout} output channels`);
  const stride = pair(opts.stride, 1);
  const padding = pair(opts.padding, 0);
  if (stride[0] < 1 || stride[1] < 1 || padding[0] < 0 || padding[1] < 0)
    throw new Error(`sparseConv2d: invalid stride ${stride} or padding ${padding}`);
  const g = convGeometry(x.shape, [cout, cin, kh, kw], stride, padding);
  if (g.oh < 1 || g.ow < 1)
    throw new Error(`sparseConv2d: kernel ${kh}x${kw} does not fit input ${shapeStr(x.shape)} with padding ${padding}`);
  return sparseConv2dKernel(x, sparse, bias ?? null, g);
}
