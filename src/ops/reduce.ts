// Reductions along axes. Reduced axes are grouped into runs of adjacent axes and each run is one
// [outer, K, inner] kernel launch, so reducing NCHW over (0, 2, 3) needs no transpose.

import { argmaxKernel, reduceKernel, type ReduceOp } from '../../kernels/reduce.js';
import { attach } from '../engine/autograd.js';
import { normAxes, normAxis, numel, sameShape, type Shape, shapeStr } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { affine, div, eq, mul, square, sub } from './elementwise.js';
import { expand, reshape } from './shape.js';

export interface ReduceOptions {
  keepDims?: boolean;
}

function keptShape(shape: Shape, axes: number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

function reduceRaw(op: ReduceOp, x: Tensor, axes: number[]): Tensor {
  // Runs of adjacent axes, reduced from the last run to the first.
  const runs: [number, number][] = [];
  for (const a of axes) {
    const last = runs[runs.length - 1];
    if (last && last[1] === a - 1) last[1] = a;
    else runs.push([a, a]);
  }
  let cur = x;
  let shape = [...x.shape];
  for (let r = runs.length - 1; r >= 0; r--) {
    const [s, e] = runs[r];
    const outer = numel(shape.slice(0, s));
    const k = numel(shape.slice(s, e + 1));
    const inner = numel(shape.slice(e + 1));
    const next = reduceKernel(op, cur, outer, k, inner);
    if (cur !== x) cur.dispose();
    cur = next;
    shape = [...shape.slice(0, s), ...new Array<number>(e - s + 1).fill(1), ...shape.slice(e + 1)];
  }
  if (cur === x) return x.view(x.shape);
  return cur.reshapedInto(shape);
}

function finish(y: Tensor, x: Tensor, axes: number[], keepDims: boolean): Tensor {
  if (keepDims) return y;
  return y.reshapedInto(x.shape.filter((_, i) => !axes.includes(i)));
}

/** Sum over `axes` (all axes when omitted). */
export function sum(x: Tensor, axes?: number | readonly number[], opts: ReduceOptions = {}): Tensor {
  const ax = normAxes(axes, x.ndim, 'sum');
  const y = finish(reduceRaw('sum', x, ax), x, ax, opts.keepDims ?? false);
  return attach(y, 'sum', [x], (gy) => [expand(reshape(gy, keptShape(x.shape, ax)), x.shape)]);
}

export function mean(x: Tensor, axes?: number | readonly number[], opts: ReduceOptions = {}): Tensor {
  const ax = normAxes(axes, x.ndim, 'mean');
  const count = ax.reduce((n, a) => n * x.shape[a], 1);
  if (count === 0) throw new Error(`mean: reducing an empty axis of ${shapeStr(x.shape)}`);
  return affine(sum(x, ax, opts), 1 / count, 0);
}

function extremum(op: 'max' | 'min', x: Tensor, axes: number | readonly number[] | undefined, opts: ReduceOptions): Tensor {
  const ax = normAxes(axes, x.ndim, op);
  const kept = reduceRaw(op, x, ax);
  const y = finish(kept.view(kept.shape), x, ax, opts.keepDims ?? false);
  attach(y, op, [x], (gy) => {
    // The gradient is shared equally by all elements equal to the extremum (like torch.amax).
    const hit = eq(x, kept);
    const count = sum(hit, ax, { keepDims: true });
    return [mul(expand(reshape(gy, keptShape(x.shape, ax)), x.shape), div(hit, count))];
  });
  if (!y.gradFn) kept.dispose();
  return y;
}

export function max(x: Tensor, axes?: number | readonly number[], opts: ReduceOptions = {}): Tensor {
  return extremum('max', x, axes, opts);
}

export function min(x: Tensor, axes?: number | readonly number[], opts: ReduceOptions = {}): Tensor {
  return extremum('min', x, axes, opts);
}

/** Index of the largest element along `axis` (i32; first one on ties). */
export function argmax(x: Tensor, axis = -1, opts: ReduceOptions = {}): Tensor {
  const a = normAxis(axis, x.ndim, 'argmax');
  const outer = numel(x.shape.slice(0, a));
  const inner = numel(x.shape.slice(a + 1));
  const flat = argmaxKernel(x, outer, x.shape[a], inner);
  const shape = opts.keepDims ? keptShape(x.shape, [a]) : x.shape.filter((_, i) => i !== a);
  return flat.reshapedInto(shape);
}

export interface VarianceOptions extends ReduceOptions {
  /** Divide by n − 1 (PyTorch's default for torch.var). */
  unbiased?: boolean;
}

export function variance(x: Tensor, axes?: number | readonly number[], opts: VarianceOptions = {}): Tensor {
  const ax = normAxes(axes, x.ndim, 'variance');
  const n = ax.reduce((k, a) => k * x.shape[a], 1);
  const unbiased = opts.unbiased ?? true;
  if (unbiased && n < 2) throw new Error(`variance: unbiased variance needs at least 2 elements, got ${n}`);
  const centered = sub(x, mean(x, ax, { keepDims: true }));
  const s = sum(square(centered), ax, { keepDims: opts.keepDims });
  return affine(s, 1 / (unbiased ? n - 1 : n), 0);
}

/** Sums a broadcast gradient back to `shape` (the adjoint of broadcasting). */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.ndim - shape.length;
  if (lead < 0) throw new Error(`sumTo: cannot reduce ${shapeStr(g.shape)} to ${shapeStr(shape)}`);
  const axes: number[] = [];
  for (let i = 0; i < g.ndim; i++) {
    if (i < lead) axes.push(i);
    else if (shape[i - lead] === 1 && g.shape[i] !== 1) axes.push(i);
  }
  const s = axes.length ? sum(g, axes, { keepDims: true }) : g;
  return reshape(s, shape);
}
