// Matrix products. One differentiable primitive, matmulT (operands optionally transposed through
// strides), covers forward and both gradients without materialising a transpose.

import { matmulKernel } from '../../kernels/matmul.js';
import { attach } from '../engine/autograd.js';
import { shapeStr } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { add } from './elementwise.js';
import { sum } from './reduce.js';
import { reshape } from './shape.js';

interface Mat {
  batch: number;
  rows: number;
  cols: number;
}

function asMat(t: Tensor, op: string): Mat {
  if (t.ndim === 2) return { batch: 1, rows: t.shape[0], cols: t.shape[1] };
  if (t.ndim === 3) return { batch: t.shape[0], rows: t.shape[1], cols: t.shape[2] };
  throw new Error(`${op}: expected a 2-D or 3-D tensor, got ${shapeStr(t.shape)}`);
}

/**
 * op(a)·op(b) where op transposes the last two axes when the flag is set. Operands are 2-D or
 * 3-D; a 2-D operand (or a batch of 1) is shared by every batch entry.
 */
export function matmulT(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
  const A = asMat(a, 'matmul');
  const B = asMat(b, 'matmul');
  const m = transA ? A.cols : A.rows;
  const k = transA ? A.rows : A.cols;
  const kb = transB ? B.cols : B.rows;
  const n = transB ? B.rows : B.cols;
  if (k !== kb)
    throw new Error(
      `matmul: inner dimensions differ: ${shapeStr(a.shape)}${transA ? 'ᵀ' : ''} · ${shapeStr(b.shape)}${transB ? 'ᵀ' : ''}`,
    );
  if (A.batch !== B.batch && A.batch !== 1 && B.batch !== 1)
    throw new Error(`matmul: batch sizes ${A.batch} and ${B.batch} differ`);
  const batch = Math.max(A.batch, B.batch);
  const out3 = matmulKernel(a, b, { batch, m, n, k, transA, transB, batchA: A.batch, batchB: B.batch });
  const is2d = a.ndim === 2 && b.ndim === 2;
  const y = is2d ? out3.reshapedInto([m, n]) : out3;
  return attach(y, 'matmul', [a, b], (gy, needs) => {
    // Ĉ = Â·B̂ with Â = op(A), B̂ = op(B): dÂ = G·B̂ᵀ, dB̂ = Âᵀ·G, transposed back where op transposed.
    let ga: Tensor | null = null;
    let gb: Tensor | null = null;
    if (needs[0]) {
      ga = transA ? matmulT(b, gy, transB, true) : matmulT(gy, b, false, !transB);
      ga = reduceBatch(ga, a);
    }
    if (needs[1]) {
      gb = transB ? matmulT(gy, a, true, transA) : matmulT(a, gy, !transA, false);
      gb = reduceBatch(gb, b);
    }
    return [ga, gb];
  });
}

/** A shared operand's gradient is the sum over the batch. */
function reduceBatch(g: Tensor, operand: Tensor): Tensor {
  if (g.ndim === 3 && (operand.ndim === 2 || operand.shape[0] === 1) && g.shape[0] !== 1) {
    const s = sum(g, 0);
    return operand.ndim === 2 ? s : reshape(s, operand.shape);
  }
  if (g.ndim !== operand.ndim) return reshape(g, operand.shape);
  return g;
}

/** a·b for 2-D or batched 3-D operands. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  return matmulT(a, b, false, false);
}

/** x·wᵀ + b, with w stored as [out, in] (PyTorch's nn.Linear layout). */
export function linear(x: Tensor, w: Tensor, bias?: Tensor): Tensor {
  if (x.ndim !== 2 || w.ndim !== 2 || x.shape[1] !== w.shape[1])
    throw new Error(`linear: input ${shapeStr(x.shape)} does not match weight ${shapeStr(w.shape)} (expected [N, ${w.shape[1]}])`);
  const y = matmulT(x, w, false, true);
  return bias ? add(y, bias) : y;
}
