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

/** Workgroup shape for the direct conv kernels; each invocation computes a 4×4 tile. */
export let convWorkgroup: [number, number] = [8, 8];
export function setConvWorkgroup(wg: [number, number]): void {
  convWorkgroup = wg;
}
const spec = (shader: string) => ({
  shader,
  bindings: ['read', 'read', 'write'] as const,
  constants: { WG_X: convWorkgroup[0], WG_Y: convWorkgroup[1] },
});
const groups = (cols: number, rows: number): [number, number] => [
  Math.ceil(cols / (4 * convWorkgroup[0])),
  Math.ceil(rows / (4 * convWorkgroup[1])),
];

export function conv2dForwardKernel(x: Tensor, w: Tensor, g: ConvGeometry): Tensor {
  const y = Tensor.empty([g.batch, g.cout, g.oh, g.ow]);
  if (y.size === 0) return y;
  runtime().dispatch(
    'conv2d',
    spec('conv2d_forward'),
    [x.binding(), w.binding(), y.binding()],
    params(g),
    groups(g.batch * g.oh * g.ow, g.cout),
  );
  return y;
}

export function conv2dGradInputKernel(gy: Tensor, w: Tensor, g: ConvGeometry): Tensor {
  const gx = Tensor.empty([g.batch, g.cin, g.h, g.w]);
  if (gx.size === 0) return gx;
  runtime().dispatch(
    'conv2d_grad_input',
    spec('conv2d_grad_input'),
    [gy.binding(), w.binding(), gx.binding()],
    params(g),
    groups(g.batch * g.h * g.w, g.cin),
  );
  return gx;
}

export function conv2dGradWeightKernel(x: Tensor, gy: Tensor, g: ConvGeometry): Tensor {
  const gw = Tensor.empty([g.cout, g.cin, g.kh, g.kw]);
  if (gw.size === 0) return gw;
  runtime().dispatch(
    'conv2d_grad_weight',
    spec('conv2d_grad_weight'),
    [x.binding(), gy.binding(), gw.binding()],
    params(g),
    groups(g.cin * g.kh * g.kw, g.cout),
  );
  return gw;
}
