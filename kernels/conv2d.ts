// Launchers for the three convolution kernels (NCHW activations, [Cout, Cin, KH, KW] weights):
// shaders/conv2d_forward.wgsl, conv2d_grad_input.wgsl, conv2d_grad_weight.wgsl.

import { runtime } from '../src/engine/engine.js';
import { Tensor } from '../src/engine/tensor.js';
import { Params } from './runtime.js';

export interface ConvGeometry {
  batch: number;
  cin: number;
  h: number;
  w: number;
  cout: number;
  kh: number;
  kw: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  oh: number;
  ow: number;
}

export function convGeometry(
  x: readonly number[],
  w: readonly number[],
  stride: [number, number],
  padding: [number, number],
): ConvGeometry {
  const [batch, cin, h, wd] = x;
  const [cout, , kh, kw] = w;
  const oh = Math.floor((h + 2 * padding[0] - kh) / stride[0]) + 1;
  const ow = Math.floor((wd + 2 * padding[1] - kw) / stride[1]) + 1;
  return {
    batch,
    cin,
    h,
    w: wd,
    cout,
    kh,
    kw,
    strideH: stride[0],
    strideW: stride[1],
    padH: padding[0],
    padW: padding[1],
    oh,
    ow,
  };
}

function params(g: ConvGeometry): Uint32Array {
  return new Params()
    .u(g.batch, g.cin, g.h, g.w)
    .u(g.cout, g.oh, g.ow, g.kh)
    .u(g.kw, g.strideH, g.strideW, g.padH)
    .u(g.padW, 0, 0, 0)
    .build();
}

const TILE = 32; // 8×8 invocations × 4 values per invocation along each axis

export function conv2dForwardKernel(x: Tensor, w: Tensor, g: ConvGeometry): Tensor {
  const y = Tensor.empty([g.batch, g.cout, g.oh, g.ow]);
  if (y.size === 0) return y;
  runtime().dispatch(
    'conv2d',
    { shader: 'conv2d_forward', bindings: ['read', 'read', 'write'] },
    [x.binding(), w.binding(), y.binding()],
    params(g),
    [Math.ceil((g.batch * g.oh * g.ow) / TILE), Math.ceil(g.cout / TILE)],
  );
  return y;
}

export function conv2dGradInputKernel(gy: Tensor, w: Tensor, g: ConvGeometry): Tensor {
  const gx = Tensor.empty([g.batch, g.cin, g.h, g.w]);
  if (gx.size === 0) return gx;
  runtime().dispatch(
    'conv2d_grad_input',
    { shader: 'conv2d_grad_input', bindings: ['read', 'read', 'write'] },
    [gy.binding(), w.binding(), gx.binding()],
    params(g),
    [Math.ceil((g.batch * g.h * g.w) / TILE), Math.ceil(g.cin / TILE)],
  );
  return gx;
}

export function conv2dGradWeightKernel(x: Tensor, gy: Tensor, g: ConvGeometry): Tensor {
  const gw = Tensor.empty([g.cout, g.cin, g.kh, g.kw]);
  if (gw.size === 0) return gw;
  runtime().dispatch(
    'conv2d_grad_weight',
    { shader: 'conv2d_grad_weight', bindings: ['read', 'read', 'write'] },
    [x.binding(), gy.binding(), gw.binding()],
    params(g),
    [Math.ceil((g.cin * g.kh * g.kw) / TILE), Math.ceil(g.cout / TILE)],
  );
  return gw;
}
