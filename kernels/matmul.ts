// Launcher for shaders/matmul.wgsl: batched C = op(A)·op(B) where op transposes through strides.

import { runtime } from '../src/engine/engine.js';
import { Tensor } from '../src/engine/tensor.js';
import { Params } from './runtime.js';

export interface MatmulGeometry {
  batch: number;
  m: number;
  n: number;
  k: number;
  /** A is stored as [batchA, K, M] (transposed) instead of [batchA, M, K]. */
  transA: boolean;
  transB: boolean;
  /** 1 when the operand is shared by every batch entry. */
  batchA: number;
  batchB: number;
}

export function matmulKernel(a: Tensor, b: Tensor, g: MatmulGeometry): Tensor {
  const { batch, m, n, k } = g;
  const c = Tensor.empty([batch, m, n]);
  if (c.size === 0) return c;
  if (k === 0) {
    runtime().clear('matmul', c.buffer, 0, c.size * 4);
    return c;
  }
  const aRow = g.transA ? 1 : k;
  const aCol = g.transA ? m : 1;
  const bRow = g.transB ? 1 : n;
  const bCol = g.transB ? k : 1;
  const gx = Math.ceil(Math.ceil(n / 4) / 8);
  const gy = Math.ceil(Math.ceil(m / 4) / 8);
  runtime().dispatch(
    'matmul',
    { shader: 'matmul', bindings: ['read', 'read', 'write'] },
    [a.binding(), b.binding(), c.binding()],
    new Params()
      .u(m, n, k, batch)
      .u(g.batchA === 1 ? 0 : m * k, aRow, aCol, g.batchB === 1 ? 0 : k * n)
      .u(bRow, bCol, 0, 0)
      .build(),
    [gx, gy, batch],
  );
  return c;
}
