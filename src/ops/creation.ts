// Tensor constructors.

import { copyWholeKernel } from '../../kernels/copy.js';
import { castKernel, fillKernel, intAffineKernel, iotaKernel } from '../../kernels/elementwise.js';
import { attach } from '../engine/autograd.js';
import type { Shape } from '../engine/shape.js';
import { Tensor, type DType } from '../engine/tensor.js';

/** Uploads host values; `shape` defaults to 1-D. */
export function tensor(values: ArrayLike<number>, shape?: Shape, dtype: DType = 'f32'): Tensor {
  return Tensor.fromArray(values, shape ?? [values.length], dtype);
}

export function scalar(value: number, dtype: DType = 'f32'): Tensor {
  return fillKernel([], value, dtype);
}

export function full(shape: Shape, value: number, dtype: DType = 'f32'): Tensor {
  return fillKernel(shape, value, dtype);
}

export function zeros(shape: Shape, dtype: DType = 'f32'): Tensor {
  return fillKernel(shape, 0, dtype);
}

export function ones(shape: Shape, dtype: DType = 'f32'): Tensor {
  return fillKernel(shape, 1, dtype);
}

export function zerosLike(t: Tensor): Tensor {
  return fillKernel(t.shape, 0, t.dtype);
}

export function onesLike(t: Tensor): Tensor {
  return fillKernel(t.shape, 1, t.dtype);
}

/** [0, 1, ..., n-1]. */
export function arange(n: number, dtype: DType = 'i32'): Tensor {
  if (dtype === 'f32') {
    const i = iotaKernel(n, 0, 'i32');
    const f = castKernel(i, 'f32');
    i.dispose();
    return f;
  }
  return iotaKernel(n, 0, dtype);
}

/** Numeric conversion. Not differentiable (integer tensors carry no gradient). */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x.view(x.shape);
  return castKernel(x, dtype);
}

/** The same data without the autograd link. */
export function detach(x: Tensor): Tensor {
  return x.view(x.shape);
}

/** A leaf that records gradients (parameters, attack inputs). Shares storage with `x`. */
export function variable(x: Tensor): Tensor {
  const v = x.view(x.shape);
  v.requiresGrad = true;
  return v;
}

/** Copy with its own storage (differentiable). */
export function clone(x: Tensor): Tensor {
  const y = Tensor.empty(x.shape, x.dtype);
  copyWholeKernel(x, y);
  return attach(y, 'clone', [x], (gy) => [gy]);
}

/** a·x + b on an i32 tensor (no gradient). */
export function intAffine(x: Tensor, a: number, b: number): Tensor {
  return intAffineKernel(x, a, b);
}
