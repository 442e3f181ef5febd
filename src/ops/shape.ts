// Layout ops. reshape shares storage; permute, slice, concat and expand are strided copies
// (kernels/copy.ts), each paired with its adjoint.

import { stridedCopyKernel } from '../../kernels/copy.js';
import { attach } from '../engine/autograd.js';
import { broadcastStrides, normAxis, numel, sameShape, type Shape, shapeStr, stridesOf } from '../engine/shape.js';
import { Tensor } from '../engine/tensor.js';
import { zeros } from './creation.js';
import { sumTo } from './reduce.js';

export function reshape(x: Tensor, shape: Shape): Tensor {
  const free = shape.filter((d) => d === -1).length;
  if (free > 1) throw new Error(`reshape: more than one -1 in ${shapeStr(shape)}`);
  let target = [...shape];
  if (free === 1) {
    const known = numel(shape.filter((d) => d !== -1));
    if (known === 0 || x.size % known !== 0)
      throw new Error(`reshape: cannot reshape ${shapeStr(x.shape)} into ${shapeStr(shape)}`);
    target = shape.map((d) => (d === -1 ? x.size / known : d));
  }
  if (numel(target) !== x.size)
    throw new Error(`reshape: cannot reshape ${shapeStr(x.shape)} (${x.size} elements) into ${shapeStr(target)}`);
  const y = x.view(target);
  return attach(y, 'reshape', [x], (gy) => [reshape(gy, x.shape)]);
}

export function flatten(x: Tensor, startAxis = 1): Tensor {
  const s = normAxis(startAxis, x.ndim, 'flatten');
  return reshape(x, [...x.shape.slice(0, s), numel(x.shape.slice(s))]);
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normAxis(axis, x.ndim + 1, 'unsqueeze');
  return reshape(x, [...x.shape.slice(0, a), 1, ...x.shape.slice(a)]);
}

export function squeeze(x: Tensor, axis: number): Tensor {
  const a = normAxis(axis, x.ndim, 'squeeze');
  if (x.shape[a] !== 1) throw new Error(`squeeze: axis ${axis} of ${shapeStr(x.shape)} has size ${x.shape[a]}, not 1`);
  return reshape(x, x.shape.filter((_, i) => i !== a));
}

export function permute(x: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== x.ndim || new Set(perm.map((p) => normAxis(p, x.ndim, 'permute'))).size !== x.ndim)
    throw new Error(`permute: ${JSON.stringify(perm)} is not a permutation of ${x.ndim} axes`);
  const p = perm.map((a) => normAxis(a, x.ndim, 'permute'));
  const shape = p.map((a) => x.shape[a]);
  const st = stridesOf(x.shape);
  const y = Tensor.empty(shape, x.dtype);
  stridedCopyKernel('permute', x, { offset: 0, strides: p.map((a) => st[a]) }, y, { offset: 0, strides: stridesOf(shape) }, shape);
  const inverse = new Array<number>(p.length);
  p.forEach((a, i) => (inverse[a] = i));
  return attach(y, 'permute', [x], (gy) => [permute(gy, inverse)]);
}

export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  const p = [...Array(x.ndim).keys()];
  const i = normAxis(a, x.ndim, 'transpose');
  const j = normAxis(b, x.ndim, 'transpose');
  [p[i], p[j]] = [p[j], p[i]];
  return permute(x, p);
}

/** x[..., start:end, ...] along `axis`. */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  const a = normAxis(axis, x.ndim, 'slice');
  const len = x.shape[a];
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= len))
    throw new Error(`slice: range [${start}, ${end}) is outside axis ${a} of ${shapeStr(x.shape)}`);
  const shape = x.shape.map((d, i) => (i === a ? end - start : d));
  const st = stridesOf(x.shape);
  const y = Tensor.empty(shape, x.dtype);
  stridedCopyKernel('slice', x, { offset: start * st[a], strides: st }, y, { offset: 0, strides: stridesOf(shape) }, shape);
  return attach(y, 'slice', [x], (gy) => [sliceAdjoint(gy, x.shape, a, start)]);
}

/** Places g at [start, start + g.shape[axis]) along `axis` of a zero tensor of `shape`. */
export function sliceAdjoint(g: Tensor, shape: Shape, axis: number, start: number): Tensor {
  const y = zeros(shape, g.dtype);
  const st = stridesOf(shape);
  stridedCopyKernel('slice_adjoint', g, { offset: 0, strides: stridesOf(g.shape) }, y, { offset: start * st[axis], strides: st }, g.shape);
  return attach(y, 'slice_adjoint', [g], (gy) => [slice(gy, axis, start, start + g.shape[axis])]);
}

export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (!xs.length) throw new Error('concat: no tensors');
  const a = normAxis(axis, xs[0].ndim, 'concat');
  for (const t of xs) {
    if (t.ndim !== xs[0].ndim || t.dtype !== xs[0].dtype || t.shape.some((d, i) => i !== a && d !== xs[0].shape[i]))
      throw new Error(`concat: ${shapeStr(t.shape)} does not match ${shapeStr(xs[0].shape)} outside axis ${a}`);
  }
  const total = xs.reduce((n, t) => n + t.shape[a], 0);
  const shape = xs[0].shape.map((d, i) => (i === a ? total : d));
  const y = Tensor.empty(shape, xs[0].dtype);
  const st = stridesOf(shape);
  const starts: number[] = [];
  let at = 0;
  for (const t of xs) {
    starts.push(at);
    stridedCopyKernel('concat', t, { offset: 0, strides: stridesOf(t.shape) }, y, { offset: at * st[a], strides: st }, t.shape);
    at += t.shape[a];
  }
  return attach(y, 'concat', xs, (gy, needs) =>
    xs.map((t, i) => (needs[i] ? slice(gy, a, starts[i], starts[i] + t.shape[a]) : null)),
  );
}

export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  return concat(
    xs.map((t) => unsqueeze(t, axis)),
    axis,
  );
}

/** Broadcasts x to `shape` (materialised). */
export function expand(x: Tensor, shape: Shape): Tensor {
  if (sameShape(x.shape, shape)) return x;
  const strides = broadcastStrides(x.shape, shape);
  if (shape.length < x.ndim || x.shape.some((d, i) => d !== 1 && d !== shape[shape.length - x.ndim + i]))
    throw new Error(`expand: cannot broadcast ${shapeStr(x.shape)} to ${shapeStr(shape)}`);
  const y = Tensor.empty(shape, x.dtype);
  stridedCopyKernel('expand', x, { offset: 0, strides }, y, { offset: 0, strides: stridesOf(shape) }, shape);
  return attach(y, 'expand', [x], (gy) => [sumTo(gy, x.shape)]);
}
