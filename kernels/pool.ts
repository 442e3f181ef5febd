// Launchers for the pooling kernels: shaders/maxpool_indices.wgsl, pool_gather.wgsl,
// pool_scatter.wgsl and avgpool.wgsl. Max pooling is split into "which input won" (indices) and
// a gather of those inputs, so forward, backward and double backward are all plain linear maps.

import { runtime } from '../src/engine/engine.js';
import { Tensor } from '../src/engine/tensor.js';
import { grid1d, Params } from './runtime.js';

const WG = 256;

export interface PoolGeometry {
  batch: number;
  channels: number;
  h: number;
  w: number;
  kh: number;
  kw: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  oh: number;
  ow: number;
}

export function poolGeometry(
  x: readonly number[],
  kernel: [number, number],
  stride: [number, number],
  padding: [number, number],
): PoolGeometry {
  const [batch, channels, h, w] = x;
  return {
    batch,
    channels,
    h,
    w,
    kh: kernel[0],
    kw: kernel[1],
    strideH: stride[0],
    strideW: stride[1],
    padH: padding[0],
    padW: padding[1],
    oh: Math.floor((h + 2 * padding[0] - kernel[0]) / stride[0]) + 1,
    ow: Math.floor((w + 2 * padding[1] - kernel[1]) / stride[1]) + 1,
  };
}

function launch(
  name: string,
  shader: string,
  g: PoolGeometry,
  n: number,
  bindings: Tensor[],
  access: ('read' | 'write')[],
  constants?: Record<string, number>,
): void {
  const groups = grid1d(n, WG, runtime().limits.maxComputeWorkgroupsPerDimension);
  runtime().dispatch(
    name,
    { shader, bindings: access, constants },
    bindings.map((t) => t.binding()),
    new Params()
      .u(g.batch * g.channels, g.h, g.w, g.oh)
      .u(g.ow, g.kh, g.kw, g.strideH)
      .u(g.strideW, g.padH, g.padW, groups[0] * WG)
      .build(),
    groups,
  );
}

const outShape = (g: PoolGeometry) => [g.batch, g.channels, g.oh, g.ow];
const inShape = (g: PoolGeometry) => [g.batch, g.channels, g.h, g.w];

export function maxPoolIndicesKernel(x: Tensor, g: PoolGeometry): Tensor {
  const idx = Tensor.empty(outShape(g), 'i32');
  if (idx.size) launch('max_pool2d', 'maxpool_indices', g, idx.size, [x, idx], ['read', 'write']);
  return idx;
}

export function poolGatherKernel(x: Tensor, idx: Tensor, g: PoolGeometry): Tensor {
  const y = Tensor.empty(outShape(g));
  if (y.size) launch('max_pool2d_gather', 'pool_gather', g, y.size, [x, idx, y], ['read', 'read', 'write']);
  return y;
}

export function poolScatterKernel(gy: Tensor, idx: Tensor, g: PoolGeometry): Tensor {
  const gx = Tensor.empty(inShape(g));
  if (gx.size) launch('max_pool2d_scatter', 'pool_scatter', g, gx.size, [gy, idx, gx], ['read', 'read', 'write']);
  return gx;
}

export function avgPoolKernel(x: Tensor, g: PoolGeometry): Tensor {
  const y = Tensor.empty(outShape(g));
  if (y.size) launch('avg_pool2d', 'avgpool', g, y.size, [x, y], ['read', 'write'], { MODE: 0 });
  return y;
}

export function avgPoolAdjointKernel(gy: Tensor, g: PoolGeometry): Tensor {
  const gx = Tensor.empty(inShape(g));
  if (gx.size) launch('avg_pool2d_adjoint', 'avgpool', g, gx.size, [gy, gx], ['read', 'write'], { MODE: 1 });
  return gx;
}
