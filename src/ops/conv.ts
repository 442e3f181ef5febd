// 2-D convolution (NCHW, weights [Cout, Cin, KH, KW], zero padding). The forward and its two
// adjoints are three ops that differentiate into each other, which makes double backward (exact
// Hessian-vector products through conv nets) work without extra kernels:
//   y  = conv(x, w)           dx = convGradInput(gy, w)    dw = convGradWeight(x, gy)
//   convGradInput(g, w):  d/dg = conv(u, w),            d/dw = convGradWeight(u, g)
//   convGradWeight(x, g): d/dx = convGradInput(g, v),   d/dg = conv(x, v)

import { conv2dForwardKernel, conv2dGradInputKernel, conv2dGradWeightKernel, convGeometry, type ConvGeometry } from '../../kernels/conv2d.js';
import { attach } from '../engine/autograd.js';
import { pair, shapeStr } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { add } from './elementwise.js';
import { reshape } from './shape.js';

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
}

export function conv2d(x: Tensor, w: Tensor, bias?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  if (x.ndim !== 4) throw new Error(`conv2d: expected input [N, C, H, W], got ${shapeStr(x.shape)}`);
  if (w.ndim !== 4) throw new Error(`conv2d: expected weight [Cout, Cin, KH, KW], got ${shapeStr(w.shape)}`);
  if (x.shape[1] !== w.shape[1])
    throw new Error(`conv2d: input ${shapeStr(x.shape)} has ${x.shape[1]} channels, weight ${shapeStr(w.shape)} expects ${w.shape[1]}`);
  const stride = pair(opts.stride, 1);
  const padding = pair(opts.padding, 0);
  if (stride[0] < 1 || stride[1] < 1 || padding[0] < 0 || padding[1] < 0)
    throw new Error(`conv2d: invalid stride ${stride} or padding ${padding}`);
  const g = convGeometry(x.shape, w.shape, stride, padding);
  if (g.oh < 1 || g.ow < 1)
    throw new Error(`conv2d: kernel ${w.shape[2]}x${w.shape[3]} does not fit input ${shapeStr(x.shape)} with padding ${padding}`);
  const y = convForward(x, w, g);
  if (!bias) return y;
  if (bias.ndim !== 1 || bias.shape[0] !== w.shape[0])
    throw new Error(`conv2d: bias ${shapeStr(bias.shape)} does not match ${w.shape[0]} output channels`);
  return add(y, reshape(bias, [1, w.shape[0], 1, 1]));
}

function convForward(x: Tensor, w: Tensor, g: ConvGeometry): Tensor {
  return attach(conv2dForwardKernel(x, w, g), 'conv2d', [x, w], (gy, needs) => [
    needs[0] ? convGradInput(gy, w, g) : null,
    needs[1] ? convGradWeight(x, gy, g) : null,
  ]);
}

export function convGradInput(gy: Tensor, w: Tensor, g: ConvGeometry): Tensor {
  return attach(conv2dGradInputKernel(gy, w, g), 'conv2d_grad_input', [gy, w], (u, needs) => [
    needs[0] ? convForward(u, w, g) : null,
    needs[1] ? convGradWeight(u, gy, g) : null,
  ]);
}

export function convGradWeight(x: Tensor, gy: Tensor, g: ConvGeometry): Tensor {
  return attach(conv2dGradWeightKernel(x, gy, g), 'conv2d_grad_weight', [x, gy], (v, needs) => [
    needs[0] ? convGradInput(gy, v, g) : null,
    needs[1] ? convForward(x, v, g) : null,
  ]);
}
