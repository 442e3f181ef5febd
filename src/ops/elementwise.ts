// Elementwise ops with broadcasting; each forward is paired with its backward.
// Scalar operands use the affine/pow specializations of the unary kernel (no scalar tensors).

import { binaryKernel, unaryKernel, whereKernel, type BinaryOp } from '../../kernels/elementwise.js';
import { attach } from '../engine/autograd.js';
import type { Tensor } from '../engine/tensor.js';
import { zeros, zerosLike } from './creation.js';
import { sumTo } from './reduce.js';

type Operand = Tensor | number;

function binaryRaw(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  return binaryKernel(op, a, b);
}

export function add(a: Operand, b: Operand): Tensor {
  if (typeof a === 'number') return add(b as Tensor, a);
  if (typeof b === 'number') return affine(a, 1, b);
  const A = a;
  const B = b;
  return attach(binaryRaw('add', A, B), 'add', [A, B], (gy, needs) => [
    needs[0] ? sumTo(gy, A.shape) : null,
    needs[1] ? sumTo(gy, B.shape) : null,
  ]);
}

export function sub(a: Operand, b: Operand): Tensor {
  if (typeof a === 'number') return affine(b as Tensor, -1, a);
  if (typeof b === 'number') return affine(a, 1, -b);
  const A = a;
  const B = b;
  return attach(binaryRaw('sub', A, B), 'sub', [A, B], (gy, needs) => [
    needs[0] ? sumTo(gy, A.shape) : null,
    needs[1] ? sumTo(neg(gy), B.shape) : null,
  ]);
}

export function mul(a: Operand, b: Operand): Tensor {
  if (typeof a === 'number') return mul(b as Tensor, a);
  if (typeof b === 'number') return affine(a, b, 0);
  const A = a;
  const B = b;
  return attach(binaryRaw('mul', A, B), 'mul', [A, B], (gy, needs) => [
    needs[0] ? sumTo(mul(gy, B), A.shape) : null,
    needs[1] ? sumTo(mul(gy, A), B.shape) : null,
  ]);
}

export function div(a: Operand, b: Operand): Tensor {
  if (typeof b === 'number') return affine(a as Tensor, 1 / b, 0);
  if (typeof a === 'number') return mul(reciprocal(b), a);
  const A = a;
  const B = b;
  return attach(binaryRaw('div', A, B), 'div', [A, B], (gy, needs) => [
    needs[0] ? sumTo(div(gy, B), A.shape) : null,
    needs[1] ? sumTo(neg(div(mul(gy, A), square(B))), B.shape) : null,
  ]);
}

/** a·x + b with scalar a, b. */
export function affine(x: Tensor, a: number, b: number): Tensor {
  return attach(unaryKernel('affine', x, a, b), 'affine', [x], (gy) => [a === 1 ? gy : affine(gy, a, 0)]);
}

export function neg(x: Tensor): Tensor {
  return attach(unaryKernel('neg', x), 'neg', [x], (gy) => [neg(gy)]);
}

export function exp(x: Tensor): Tensor {
  const y = unaryKernel('exp', x);
  return attach(y, 'exp', [x], (gy) => [mul(gy, exp(x))]);
}

export function log(x: Tensor): Tensor {
  return attach(unaryKernel('log', x), 'log', [x], (gy) => [div(gy, x)]);
}

export function sqrt(x: Tensor): Tensor {
  return attach(unaryKernel('sqrt', x), 'sqrt', [x], (gy) => [div(mul(gy, 0.5), sqrt(x))]);
}

export function square(x: Tensor): Tensor {
  return attach(unaryKernel('square', x), 'square', [x], (gy) => [mul(gy, mul(x, 2))]);
}

export function reciprocal(x: Tensor): Tensor {
  return attach(unaryKernel('reciprocal', x), 'reciprocal', [x], (gy) => [neg(div(gy, square(x)))]);
}

export function abs(x: Tensor): Tensor {
  return attach(unaryKernel('abs', x), 'abs', [x], (gy) => [mul(gy, sign(x))]);
}

/** sign(x) ∈ {−1, 0, 1}; its gradient is zero. */
export function sign(x: Tensor): Tensor {
  return attach(unaryKernel('sign', x), 'sign', [x], () => [zerosLike(x)]);
}

export function relu(x: Tensor): Tensor {
  return attach(unaryKernel('relu', x), 'relu', [x], (gy) => [mul(gy, step(x))]);
}

/** 1 where x > 0, else 0; gradient zero. */
export function step(x: Tensor): Tensor {
  return attach(unaryKernel('step', x), 'step', [x], () => [zerosLike(x)]);
}

export function pow(x: Tensor, e: Operand): Tensor {
  if (typeof e === 'number') {
    if (e === 2) return square(x);
    return attach(unaryKernel('pow', x, e), 'pow', [x], (gy) => [mul(gy, mul(pow(x, e - 1), e))]);
  }
  const E = e;
  const y = binaryRaw('pow', x, E);
  return attach(y, 'pow', [x, E], (gy, needs) => [
    needs[0] ? sumTo(mul(gy, mul(E, pow(x, sub(E, 1)))), x.shape) : null,
    // d/de x^e = x^e·ln x, taken as 0 where x ≤ 0 (where the real power is not smooth in e)
    needs[1] ? sumTo(mul(gy, where(gt(x, 0), mul(pow(x, E), log(abs(x))), 0)), E.shape) : null,
  ]);
}

/** Clamps to [lo, hi]; the gradient passes where lo ≤ x ≤ hi. */
export function clamp(x: Tensor, lo: number, hi: number): Tensor {
  if (lo > hi) throw new Error(`clamp: lo (${lo}) > hi (${hi})`);
  return attach(unaryKernel('clamp', x, lo, hi), 'clamp', [x], (gy) => [mul(gy, unaryKernel('clampMask', x, lo, hi))]);
}

function minMax(op: 'minimum' | 'maximum', a: Tensor, b: Operand): Tensor {
  const B = typeof b === 'number' ? scalarLike(b) : b;
  const y = binaryRaw(op, a, B);
  attach(y, op, [a, B], (gy, needs) => {
    // Ties send the whole gradient to `a` (a valid subgradient; PyTorch splits it evenly).
    const pickA = op === 'maximum' ? binaryRaw('ge', a, B) : binaryRaw('le', a, B);
    return [
      needs[0] ? sumTo(mul(gy, pickA), a.shape) : null,
      needs[1] ? sumTo(mul(gy, affine(pickA, -1, 1)), B.shape) : null,
    ];
  });
  if (!y.gradFn && B !== b) B.dispose();
  return y;
}

export function minimum(a: Tensor, b: Operand): Tensor {
  return minMax('minimum', a, b);
}

export function maximum(a: Tensor, b: Operand): Tensor {
  return minMax('maximum', a, b);
}

function scalarLike(v: number): Tensor {
  const z = zeros([]);
  const s = unaryKernel('affine', z, 0, v);
  z.dispose();
  return s;
}

function compare(op: 'gt' | 'ge' | 'lt' | 'le' | 'eq' | 'ne', a: Tensor, b: Operand): Tensor {
  if (typeof b === 'number') {
    const s = scalarLike(b);
    const y = binaryRaw(op, a, s);
    s.dispose();
    return y;
  }
  return binaryRaw(op, a, b);
}

/** Comparisons give 0/1 f32 masks and carry no gradient. */
export const gt = (a: Tensor, b: Operand) => compare('gt', a, b);
export const ge = (a: Tensor, b: Operand) => compare('ge', a, b);
export const lt = (a: Tensor, b: Operand) => compare('lt', a, b);
export const le = (a: Tensor, b: Operand) => compare('le', a, b);
export const eq = (a: Tensor, b: Operand) => compare('eq', a, b);
export const ne = (a: Tensor, b: Operand) => compare('ne', a, b);

export function isNan(x: Tensor): Tensor {
  return unaryKernel('isNan', x);
}

/** cond ≠ 0 ? a : b, broadcasting all three. cond carries no gradient. */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  const A = typeof a === 'number' ? scalarLike(a) : a;
  const B = typeof b === 'number' ? scalarLike(b) : b;
  const y = whereKernel(cond, A, B);
  attach(y, 'where', [A, B], (gy, needs) => {
    const zero = zeros([]);
    return [
      needs[0] ? sumTo(where(cond, gy, zero), A.shape) : null,
      needs[1] ? sumTo(where(cond, zero, gy), B.shape) : null,
    ];
  });
  if (!y.gradFn) {
    if (A !== a) A.dispose();
    if (B !== b) B.dispose();
  }
  return y;
}
