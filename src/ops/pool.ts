// Pooling. Max pooling = (indices of the window maxima, fixed) + a gather of those inputs; the
// gather and its scatter adjoint differentiate into each other, so double backward works.

import {
  avgPoolAdjointKernel,
  avgPoolKernel,
  maxPoolIndicesKernel,
  poolGatherKernel,
  poolGeometry,
  poolScatterKernel,
  type PoolGeometry,
} from '../../kernels/pool.js';
import { attach } from '../engine/autograd.js';
import { pair, shapeStr } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { mean } from './reduce.js';

export interface Pool2dOptions {
  /** Defaults to the kernel size, as in PyTorch. */
  stride?: number | [number, number];
  padding?: number | [number, number];
}

function geometry(op: string, x: Tensor, kernel: number | [number, number], opts: Pool2dOptions): PoolGeometry {
  if (x.ndim !== 4) throw new Error(`${op}: expected input [N, C, H, W], got ${shapeStr(x.shape)}`);
  const k = pair(kernel, 1);
  const s = pair(opts.stride ?? k, 1);
  const p = pair(opts.padding, 0);
  if (p[0] * 2 > k[0] || p[1] * 2 > k[1]) throw new Error(`${op}: padding ${p} must be at most half the kernel ${k}`);
  const g = poolGeometry(x.shape, k, s, p);
  if (g.oh < 1 || g.ow < 1) throw new Error(`${op}: kernel ${k} does not fit input ${shapeStr(x.shape)}`);
  return g;
}

export function maxPool2d(x: Tensor, kernel: number | [number, number], opts: Pool2dOptions = {}): Tensor {
  const g = geometry('maxPool2d', x, kernel, opts);
  const idx = maxPoolIndicesKernel(x, g);
  const y = poolGather(x, idx, g);
  if (!y.gradFn) idx.dispose();
  return y;
}

function poolGather(x: Tensor, idx: Tensor, g: PoolGeometry): Tensor {
  return attach(poolGatherKernel(x, idx, g), 'max_pool2d', [x], (gy) => [poolScatter(gy, idx, g)]);
}

function poolScatter(gy: Tensor, idx: Tensor, g: PoolGeometry): Tensor {
  return attach(poolScatterKernel(gy, idx, g), 'max_pool2d_adjoint', [gy], (u) => [poolGather(u, idx, g)]);
}

/** Average pool with zero padding counted in the divisor (PyTorch's default). */
export function avgPool2d(x: Tensor, kernel: number | [number, number], opts: Pool2dOptions = {}): Tensor {
  return avgPool(x, geometry('avgPool2d', x, kernel, opts));
}

function avgPool(x: Tensor, g: PoolGeometry): Tensor {
  return attach(avgPoolKernel(x, g), 'avg_pool2d', [x], (gy) => [avgPoolAdjoint(gy, g)]);
}

function avgPoolAdjoint(gy: Tensor, g: PoolGeometry): Tensor {
  return attach(avgPoolAdjointKernel(gy, g), 'avg_pool2d_adjoint', [gy], (u) => [avgPool(u, g)]);
}

/** Mean over H and W: [N, C, H, W] → [N, C]. */
export function globalAvgPool2d(x: Tensor): Tensor {
  if (x.ndim !== 4) throw new Error(`globalAvgPool2d: expected input [N, C, H, W], got ${shapeStr(x.shape)}`);
  return mean(x, [2, 3]);
}
