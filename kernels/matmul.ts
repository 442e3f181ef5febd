// Launcher for shaders/matmul.wgsl: batched C = op(A)·op(B) where op transposes through strides.

import { runtime } from '../src/engine/engine.js';
import { Tensor } from '../src/engine/tensor.js';
import { Params } from './runtime.js';
import { activeTuning, type GemmKernelName } from './tuning.js';

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

/** Which matmul kernel a shape can use. */
export type MatmulVariant = 'scalar' | 'vec4';

export function vec4Eligible(g: MatmulGeometry): boolean {
  return g.k % 4 === 0 && g.m >= 4 && g.n >= 4 && (!g.transA || g.m % 4 === 0) && (g.transB || g.n % 4 === 0);
}

let forced: MatmulVariant | null = null;
/** Forces one variant (tests use this to cover every kernel); null restores automatic choice. */
export function forceMatmulVariant(v: MatmulVariant | null): void {
  forced = v;
}

export function matmulKernel(a: Tensor, b: Tensor, g: MatmulGeometry): Tensor {
  const variant = forced ?? (vec4Eligible(g) ? 'vec4' : 'scalar');
  if (variant === 'vec4') {
    if (!vec4Eligible(g)) throw new Error(`matmul: the vec4 kernel cannot run ${g.m}x${g.k}x${g.n} (transA ${g.transA}, transB ${g.transB})`);
    return gemmVec4(a, b, g);
  }
  return matmulScalar(a, b, g);
}

/** Workgroup shape of the vec4 kernel (each invocation computes a 4×8 tile); set per adapter. */
export interface Vec4Tiling {
  wgX: number;
  wgY: number;
}

let forcedGemmKernel: GemmKernelName | null = null;
/** Forces the vec4 GEMM's kernel (tests cover both); null restores the tuned choice. */
export function forceGemmKernel(k: GemmKernelName | null): void {
  forcedGemmKernel = k;
}

/** Whether this device can run matmul_subgroup.wgsl (subgroups holding a workgroup of 8). */
export function subgroupGemmSupported(): boolean {
  const rt = runtime();
  const info = (rt.device as GPUDevice & { adapterInfo?: { subgroupMinSize?: number } }).adapterInfo;
  return rt.features.includes('subgroups') && (info?.subgroupMinSize ?? 0) >= 8;
}

/**
 * GEMMs with at least this much work (m·n·k) get the subgroup kernel's 32-row tiles: on lavapipe
 * they load a third fewer values per multiply-add than 16-row tiles, but llvmpipe takes ~14 s to
 * compile each such pipeline (Mesa's disk cache keeps it), so small GEMMs stay at 16 rows.
 */
const TALL_TILE_WORK = 1 << 24;

let forcedRows: 8 | 16 | 32 | null = null;
/** Forces the subgroup kernel's tile height where M allows it (tests cover each); null: by size. */
export function forceSubgroupRows(rows: 8 | 16 | 32 | null): void {
  forcedRows = rows;
}

function gemmKernelChoice(): GemmKernelName {
  return forcedGemmKernel ?? activeTuning()?.gemmKernel ?? 'register';
}

/** Rows per workgroup of the subgroup kernel for an m×k by k×n product, or 0 when it cannot run it. */
function subgroupRows(m: number, n: number, k: number): number {
  if (gemmKernelChoice() !== 'subgroup' || !subgroupGemmSupported()) return 0;
  const wanted = forcedRows ?? (m * n * k >= TALL_TILE_WORK ? 32 : 16);
  for (const rows of [32, 16, 8]) if (rows <= wanted && m >= rows) return rows;
  return 0;
}

function vec4Tiling(): Vec4Tiling {
  const wg = activeTuning()?.gemmWorkgroup ?? [8, 1];
  return { wgX: wg[0], wgY: wg[1] };
}

export interface GemmCall extends MatmulGeometry {
  /** Element offsets into A, B and C (multiples of 4). */
  aOffset?: number;
  bOffset?: number;
  cOffset?: number;
  /** Sum the products of all batch entries into one [m, n] result. */
  sumBatches?: boolean;
  /** Add to the values already in `out` instead of overwriting them. */
  accumulate?: boolean;
  out?: Tensor;
  /** Multiplies A element-wise by this tensor (A's layout) as it is read: op(A ⊙ maskA)·op(B). */
  maskA?: Tensor;
}

/** The vec4 kernel with offsets and accumulation (used directly by the conv lowering). */
export function gemmVec4(a: Tensor, b: Tensor, g: GemmCall): Tensor {
  const { batch, m, n, k } = g;
  if (!vec4Eligible(g)) throw new Error(`gemm: ${m}x${k}x${n} does not meet the vec4 kernel's alignment`);
  for (const off of [g.aOffset ?? 0, g.bOffset ?? 0]) if (off % 4) throw new Error(`gemm: offset ${off} is not a multiple of 4`);
  if (g.maskA && g.maskA.size !== a.size) throw new Error(`gemm: mask of ${g.maskA.size} elements for an A of ${a.size}`);
  const c = g.out ?? Tensor.empty(g.sumBatches ? [m, n] : [batch, m, n]);
  if (m * n === 0) return c;
  const params = new Params()
    .u(m, n, k, batch)
    .u(g.batchA === 1 ? 0 : m * k, g.batchB === 1 ? 0 : k * n, g.aOffset ?? 0, g.bOffset ?? 0)
    .u(g.cOffset ?? 0, g.accumulate ? 1 : 0, 0, 0)
    .build();
  const constants = {
    TRANS_A: g.transA ? 1 : 0,
    TRANS_B: g.transB ? 1 : 0,
    ACCUMULATE_BATCH: g.sumBatches ? 1 : 0,
    MASK_A: g.maskA ? 1 : 0,
  };
  // Without a mask the kernels never read binding 3; A fills the slot.
  const bindings = [a.binding(), b.binding(), c.binding(), (g.maskA ?? a).binding()];
  const spec = (shader: string, extra: Record<string, number>) => ({
    shader,
    constants: { ...constants, ...extra },
    bindings: ['read', 'read', 'write', 'read'] as const,
  });
  if (gemmKernelChoice() === 'shared') {
    // 16×16 invocations, the most every target allows; matmul_shared.wgsl sizes its panels for it.
    runtime().dispatch('matmul', spec('matmul_shared', { WG_X: 16, WG_Y: 16 }), bindings, params, [
      Math.ceil(n / 64),
      Math.ceil(m / 64),
      g.sumBatches ? 1 : batch,
    ]);
    return c;
  }
  const tm = subgroupRows(m, n, k);
  if (tm > 0) {
    runtime().dispatch('matmul', spec('matmul_subgroup', { TM: tm }), bindings, params, [
      Math.ceil(n / 32),
      Math.ceil(m / tm),
      g.sumBatches ? 1 : batch,
    ]);
    return c;
  }
  const t = vec4Tiling();
  runtime().dispatch('matmul', spec('matmul_vec4', { WG_X: t.wgX, WG_Y: t.wgY }), bindings, params, [
    Math.ceil(n / (8 * t.wgX)),
    Math.ceil(m / (4 * t.wgY)),
    g.sumBatches ? 1 : batch,
  ]);
  return c;
}

function matmulScalar(a: Tensor, b: Tensor, g: MatmulGeometry): Tensor {
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
