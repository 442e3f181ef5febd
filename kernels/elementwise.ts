// Launchers for the elementwise kernels: shaders/unary.wgsl, binary.wgsl, where.wgsl, fill.wgsl,
// cast.wgsl. Each op is a specialization (`override OP`) of one shader, so one pipeline per op.

import { runtime } from '../src/engine/engine.js';
import { broadcastShapes, broadcastStrides, MAX_DIMS, sameShape, stridesOf, type Shape } from '../src/engine/shape.js';
import { Tensor, type DType } from '../src/engine/tensor.js';
import { collapseAxes, grid3, type Grid3 } from './layout.js';
import { grid1d, Params } from './runtime.js';

const WG = 256;

export const UNARY_OPS = {
  identity: 0,
  neg: 1,
  exp: 2,
  log: 3,
  sqrt: 4,
  abs: 5,
  sign: 6,
  relu: 7,
  step: 8,
  affine: 9,
  pow: 10,
  clamp: 11,
  clampMask: 12,
  reciprocal: 14,
  square: 15,
  rsqrtEps: 16,
  isNan: 17,
} as const;
export type UnaryOp = keyof typeof UNARY_OPS;

export const BINARY_OPS = {
  add: 0,
  sub: 1,
  mul: 2,
  div: 3,
  minimum: 4,
  maximum: 5,
  pow: 6,
  gt: 7,
  ge: 8,
  lt: 9,
  le: 10,
  eq: 11,
  ne: 12,
} as const;
export type BinaryOp = keyof typeof BINARY_OPS;

function requireF32(t: Tensor, op: string): void {
  if (t.dtype !== 'f32') throw new Error(`${op}: expected an f32 tensor, got ${t.dtype}`);
}

/** vec4s per invocation of unary_vec4.wgsl / binary_vec4.wgsl. */
const VEC4_PER = 4;
let vec4Paths = true;
/**
 * Turns the vec4 kernels for contiguous operands whose size is a multiple of 4 on or off (tests
 * cover both paths; on by default).
 */
export function setElementwiseVec4(enabled: boolean): void {
  vec4Paths = enabled;
}

function gridParams(n: number): { groups: [number, number]; nx: number } {
  const rt = runtime();
  const groups = grid1d(n, WG, rt.limits.maxComputeWorkgroupsPerDimension);
  return { groups, nx: groups[0] * WG };
}

export function unaryKernel(op: UnaryOp, x: Tensor, alpha = 0, beta = 0): Tensor {
  requireF32(x, op);
  const y = Tensor.empty(x.shape);
  if (x.size === 0) return y;
  if (vec4Paths && x.size % 4 === 0) {
    const n4 = x.size / 4;
    const { groups, nx } = gridParams(Math.ceil(n4 / VEC4_PER));
    runtime().dispatch(
      op,
      { shader: 'unary_vec4', constants: { OP: UNARY_OPS[op], PER: VEC4_PER }, bindings: ['read', 'write'] },
      [x.binding(), y.binding()],
      new Params().u(n4, nx).f(alpha, beta).build(),
      groups,
    );
    return y;
  }
  const { groups, nx } = gridParams(x.size);
  runtime().dispatch(
    op,
    { shader: 'unary', constants: { OP: UNARY_OPS[op] }, bindings: ['read', 'write'] },
    [x.binding(), y.binding()],
    new Params().u(x.size, nx).f(alpha, beta).build(),
    groups,
  );
  return y;
}

export function binaryKernel(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  requireF32(a, op);
  requireF32(b, op);
  const shape = broadcastShapes(a.shape, b.shape, op);
  const y = Tensor.empty(shape);
  if (y.size === 0) return y;
  const fast = sameShape(a.shape, shape) && sameShape(b.shape, shape);
  const grid = fast ? null : broadcastGrid(shape, [broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape)]);
  const spec = { shader: 'binary', bindings: ['read', 'read', 'write'] as const };
  if (fast && vec4Paths && y.size % 4 === 0) {
    const n4 = y.size / 4;
    const { groups, nx } = gridParams(Math.ceil(n4 / VEC4_PER));
    runtime().dispatch(
      op,
      { shader: 'binary_vec4', constants: { OP: BINARY_OPS[op], PER: VEC4_PER }, bindings: ['read', 'read', 'write'] },
      [a.binding(), b.binding(), y.binding()],
      new Params().u(n4, nx, 0, 0).build(),
      groups,
    );
    return y;
  }
  if (grid) {
    runtime().dispatch(
      op,
      { ...spec, constants: { OP: BINARY_OPS[op], GRID: 1, WG_X: grid.workgroup[0], WG_Y: grid.workgroup[1], PER: grid.per } },
      [a.binding(), b.binding(), y.binding()],
      new Params().u(y.size, 0, 3, 0).uvec(grid.extents, MAX_DIMS).uvec(grid.strides[1], MAX_DIMS).uvec(grid.strides[2], MAX_DIMS).build(),
      grid.groups,
    );
    return y;
  }
  const { groups, nx } = gridParams(y.size);
  runtime().dispatch(
    op,
    { ...spec, constants: { OP: BINARY_OPS[op] } },
    [a.binding(), b.binding(), y.binding()],
    new Params()
      .u(y.size, nx, shape.length, fast ? 1 : 0)
      .uvec(shape, MAX_DIMS)
      .uvec(broadcastStrides(a.shape, shape), MAX_DIMS)
      .uvec(broadcastStrides(b.shape, shape), MAX_DIMS)
      .build(),
    groups,
  );
  return y;
}

/** Division-free launch for a broadcast over a contiguous output, when the axes collapse to ≤ 3. */
function broadcastGrid(shape: Shape, operandStrides: number[][]): Grid3 | null {
  const layout = collapseAxes(shape, [stridesOf(shape), ...operandStrides]);
  return grid3(layout, runtime().limits.maxComputeWorkgroupsPerDimension);
}

export function whereKernel(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  requireF32(cond, 'where');
  requireF32(a, 'where');
  requireF32(b, 'where');
  const shape = broadcastShapes(broadcastShapes(cond.shape, a.shape, 'where'), b.shape, 'where');
  const y = Tensor.empty(shape);
  if (y.size === 0) return y;
  const strides = [cond, a, b].map((t) => broadcastStrides(t.shape, shape));
  const grid = broadcastGrid(shape, strides);
  if (grid) {
    runtime().dispatch(
      'where',
      { shader: 'where', bindings: ['read', 'read', 'read', 'write'], constants: { GRID: 1, WG_X: grid.workgroup[0], WG_Y: grid.workgroup[1], PER: grid.per } },
      [cond.binding(), a.binding(), b.binding(), y.binding()],
      new Params()
        .u(y.size, 0, 3, 0)
        .uvec(grid.extents, MAX_DIMS)
        .uvec(grid.strides[1], MAX_DIMS)
        .uvec(grid.strides[2], MAX_DIMS)
        .uvec(grid.strides[3], MAX_DIMS)
        .build(),
      grid.groups,
    );
    return y;
  }
  const { groups, nx } = gridParams(y.size);
  runtime().dispatch(
    'where',
    { shader: 'where', bindings: ['read', 'read', 'read', 'write'] },
    [cond.binding(), a.binding(), b.binding(), y.binding()],
    new Params()
      .u(y.size, nx, shape.length, 0)
      .uvec(shape, MAX_DIMS)
      .uvec(strides[0], MAX_DIMS)
      .uvec(strides[1], MAX_DIMS)
      .uvec(strides[2], MAX_DIMS)
      .build(),
    groups,
  );
  return y;
}

const wordView = new DataView(new ArrayBuffer(4));

/** A tensor of `shape` with every element equal to `value` (converted to `dtype`). */
export function fillKernel(shape: Shape, value: number, dtype: DType = 'f32'): Tensor {
  const y = Tensor.empty(shape, dtype);
  if (y.size === 0) return y;
  if (value === 0) {
    runtime().clear('zeros', y.buffer, 0, y.size * 4);
    return y;
  }
  if (dtype === 'f32') wordView.setFloat32(0, value, true);
  else if (dtype === 'i32') wordView.setInt32(0, value, true);
  else wordView.setUint32(0, value >>> 0, true);
  const { groups, nx } = gridParams(y.size);
  runtime().dispatch(
    'fill',
    { shader: 'fill', constants: { MODE: 0 }, bindings: ['write'] },
    [y.binding()],
    new Params().u(y.size, nx, wordView.getUint32(0, true), 0).build(),
    groups,
  );
  return y;
}

/** [start, start + 1, ...] as i32 or u32. */
export function iotaKernel(n: number, start: number, dtype: 'i32' | 'u32'): Tensor {
  const y = Tensor.empty([n], dtype);
  if (n === 0) return y;
  const { groups, nx } = gridParams(n);
  runtime().dispatch(
    'arange',
    { shader: 'fill', constants: { MODE: 1 }, bindings: ['write'] },
    [y.binding()],
    new Params().u(n, nx, start >>> 0, 0).build(),
    groups,
  );
  return y;
}

const CAST_MODES: Record<string, number> = {
  'i32>f32': 0,
  'u32>f32': 1,
  'f32>i32': 2,
  'f32>u32': 3,
  'i32>u32': 4,
  'u32>i32': 5,
};

export function castKernel(x: Tensor, dtype: DType): Tensor {
  const mode = CAST_MODES[`${x.dtype}>${dtype}`];
  if (mode === undefined) throw new Error(`cast: ${x.dtype} to ${dtype} is not supported`);
  const y = Tensor.empty(x.shape, dtype);
  if (y.size === 0) return y;
  const { groups, nx } = gridParams(y.size);
  runtime().dispatch(
    `cast ${x.dtype}->${dtype}`,
    { shader: 'cast', constants: { MODE: mode }, bindings: ['read', 'write'] },
    [x.binding(), y.binding()],
    new Params().u(y.size, nx, 0, 0).build(),
    groups,
  );
  return y;
}

/** a·x + b for i32 tensors. */
export function intAffineKernel(x: Tensor, a: number, b: number): Tensor {
  if (x.dtype !== 'i32') throw new Error(`intAffine: expected i32, got ${x.dtype}`);
  const y = Tensor.empty(x.shape, 'i32');
  if (y.size === 0) return y;
  const { groups, nx } = gridParams(y.size);
  runtime().dispatch(
    'int_affine',
    { shader: 'int_affine', bindings: ['read', 'write'] },
    [x.binding(), y.binding()],
    new Params().u(y.size, nx).i(a, b).build(),
    groups,
  );
  return y;
}
