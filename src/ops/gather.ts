// Index-based selection: indexSelect (batch gather), gather (torch.gather) and oneHot. The
// gathers and their add/scatter adjoints differentiate into each other.

import { gatherKernel, oneHotKernel } from '../../kernels/gather.js';
import { attach } from '../engine/autograd.js';
import { normAxis, numel, type Shape, shapeStr } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';

function view3(shape: Shape, axis: number): [number, number, number] {
  return [numel(shape.slice(0, axis)), shape[axis], numel(shape.slice(axis + 1))];
}

/** Rows of x along `axis` picked by a 1-D i32 index (x.index_select(axis, idx)). */
export function indexSelect(x: Tensor, axis: number, idx: Tensor): Tensor {
  const a = normAxis(axis, x.ndim, 'indexSelect');
  if (idx.ndim !== 1 || idx.dtype !== 'i32')
    throw new Error(`indexSelect: index must be a 1-D i32 tensor, got ${idx.dtype} ${shapeStr(idx.shape)}`);
  const [outer, d, inner] = view3(x.shape, a);
  const shape = x.shape.map((s, i) => (i === a ? idx.size : s));
  const y = gatherKernel('indexSelect', x, idx, outer, d, idx.size, inner, x.dtype).reshapedInto(shape);
  if (x.dtype !== 'f32') return y;
  return attach(y, 'index_select', [x], (gy) => [indexAdd(gy, a, idx, x.shape)]);
}

/** Adjoint of indexSelect: a tensor of `shape` where row idx[j] accumulates g's row j. */
export function indexAdd(g: Tensor, axis: number, idx: Tensor, shape: Shape): Tensor {
  const [outer, d, inner] = view3(shape, axis);
  const y = gatherKernel('indexAdd', g, idx, outer, d, idx.size, inner, 'f32').reshapedInto(shape);
  return attach(y, 'index_add', [g], (u) => [indexSelect(u, axis, idx)]);
}

/** torch.gather: y[..., j, ...] = x[..., idx[..., j, ...], ...] along `axis`. */
export function gather(x: Tensor, axis: number, idx: Tensor): Tensor {
  const a = normAxis(axis, x.ndim, 'gather');
  if (idx.dtype !== 'i32' || idx.ndim !== x.ndim || idx.shape.some((s, i) => i !== a && s !== x.shape[i]))
    throw new Error(
      `gather: index ${idx.dtype} ${shapeStr(idx.shape)} must be i32 with the shape of ${shapeStr(x.shape)} outside axis ${a}`,
    );
  const [outer, d, inner] = view3(x.shape, a);
  const y = gatherKernel('gather', x, idx, outer, d, idx.shape[a], inner, x.dtype).reshapedInto(idx.shape);
  if (x.dtype !== 'f32') return y;
  return attach(y, 'gather', [x], (gy) => [scatterAdd(gy, a, idx, x.shape)]);
}

/** Adjoint of gather. */
export function scatterAdd(g: Tensor, axis: number, idx: Tensor, shape: Shape): Tensor {
  const [outer, d, inner] = view3(shape, axis);
  const y = gatherKernel('scatterAdd', g, idx, outer, d, idx.shape[axis], inner, 'f32').reshapedInto(shape);
  return attach(y, 'scatter_add', [g], (u) => [gather(u, axis, idx)]);
}

/** [..., classes] f32 with `on` at each label and `off` elsewhere. */
export function oneHot(labels: Tensor, classes: number, on = 1, off = 0): Tensor {
  if (!Number.isInteger(classes) || classes < 1) throw new Error(`oneHot: invalid class count ${classes}`);
  return oneHotKernel(labels, classes, on, off);
}
