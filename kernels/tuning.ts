// Per-adapter kernel choices: the vec4 GEMM's workgroup shape and, per convolution shape and
// pass, the conv strategy. Defaults come from a table keyed by the kind of adapter; `autotune`
// measures the candidates on the adapter at hand and caches the winners on disk, keyed by the
// adapter description, so later processes on the same machine start tuned.

import type { AdapterDescription } from '../src/engine/device.js';
import { adapterString } from '../src/engine/device.js';
import type { Runtime } from './runtime.js';

/**
 * A conv pass's strategy: 'direct' kernels, or im2col + GEMM ('gemm'); for the weight gradient also
 * 'gemm-split', one GEMM product per batch item summed afterwards (kernels/conv2d.ts
 * splitWeightGemm), which a GPU wants where [Cout, Cin·KH·KW] is small.
 */
export type ConvStrategyName = 'direct' | 'gemm' | 'gemm-split';
export const CONV_STRATEGIES: readonly ConvStrategyName[] = ['direct', 'gemm', 'gemm-split'];
/**
 * The vec4 GEMM's kernel: 'register' (matmul_vec4.wgsl, register tiles, no workgroup memory),
 * 'subgroup' (matmul_subgroup.wgsl, A shared by subgroup broadcasts; 2–4x faster on lavapipe,
 * where every load is split per SIMD lane) or 'shared' (matmul_shared.wgsl, 64×64 tiles staged
 * through workgroup memory, the classic GPU GEMM; barriers make it slow on lavapipe). 'subgroup'
 * runs only where the device has the subgroups feature and subgroups of at least 8 invocations;
 * elsewhere the register kernel runs.
 */
export type GemmKernelName = 'register' | 'subgroup' | 'shared';
export const GEMM_KERNELS: readonly GemmKernelName[] = ['register', 'subgroup', 'shared'];
export type ConvPass = 'forward' | 'input' | 'weight';
/** im2col's and col2im's kernels: 'positions' (lanes over pixels) or 'lanes' (lanes over planes; faster on lavapipe). */
export type Col2imKernelName = 'positions' | 'lanes';
/**
 * The sparse conv's kernel, kernels/sparseConv.ts: CSR rows per output channel, 'direct'
 * (gathers) or 'spmm' (im2col + CSR × patches); 64-channel groups with row masks, 'grouped'
 * (im2col) or 'grouped-direct' (gathers); or 'auto' (by layer shape).
 */
export type SparseConvKernelName = 'direct' | 'spmm' | 'grouped' | 'grouped-direct' | 'auto';

/**
 * The autotune's version: 2 races 'gemm-split' for the weight gradient. A cache of version 1 (or
 * none) chose between 'direct' and 'gemm' only, so its weight-pass entries are dropped on load and
 * those shapes get the default rule until the next `eed tune`.
 */
export const TUNING_VERSION = 2;

export interface Tuning {
  adapter: string;
  source: 'table' | 'autotune';
  /** TUNING_VERSION of the autotune that wrote it; absent in older caches. */
  version?: number;
  /** Workgroup shape of the vec4 GEMM (each invocation computes a 4×8 tile). */
  gemmWorkgroup: [number, number];
  gemmKernel: GemmKernelName;
  /** Absent in caches written before it existed: then the table's choice. */
  sparseConvKernel?: SparseConvKernelName;
  /** col2im's kernel (kernels/conv2d.ts Col2imKernel); absent in older caches: the table's choice. */
  col2imKernel?: Col2imKernelName;
  /** im2col's kernel, the same two layouts (kernels/conv2d.ts); absent in older caches: the table's choice. */
  im2colKernel?: Col2imKernelName;
  /** Measured winners per conv shape and pass (see convKey); other shapes use the default rule. */
  conv: Record<string, ConvStrategyName>;
}

/** The table: CPU adapters run each workgroup as SIMD lanes of one thread, GPUs want wide groups. */
export function defaultTuning(info: AdapterDescription): Tuning {
  return {
    adapter: adapterString(info),
    source: 'table',
    gemmWorkgroup: info.isSoftware ? [8, 1] : [8, 8],
    // For GPUs the textbook choice; on an H100 it was the fastest of the three (12.4 TFLOP/s at
    // 1024³ against 8.8 and 4.9, bench/results-nvidia-h100). `eed tune` times all three.
    gemmKernel: info.isSoftware ? 'subgroup' : 'shared',
    sparseConvKernel: info.isSoftware ? 'auto' : 'direct',
    col2imKernel: info.isSoftware ? 'lanes' : 'positions',
    im2colKernel: info.isSoftware ? 'lanes' : 'positions',
    conv: {},
  };
}

export function convKey(
  pass: ConvPass,
  g: { batch: number; cin: number; h: number; w: number; cout: number; kh: number; kw: number; strideH: number; strideW: number; padH: number; padW: number },
): string {
  return `${pass} b${g.batch} ${g.cin}x${g.h}x${g.w}->${g.cout} k${g.kh}x${g.kw} s${g.strideH}x${g.strideW} p${g.padH}x${g.padW}`;
}

let current: Tuning | null = null;

export function activeTuning(): Tuning | null {
  return current;
}

export function setTuning(t: Tuning): void {
  current = t;
}

interface NodeFs {
  existsSync(p: string): boolean;
  readFileSync(p: string, enc: 'utf8'): string;
  writeFileSync(p: string, data: string): void;
  renameSync(a: string, b: string): void;
  mkdirSync(p: string, o: { recursive: boolean }): void;
}

function nodeFs(): NodeFs | undefined {
  const p = (globalThis as { process?: { getBuiltinModule?: (n: string) => unknown } }).process;
  return p?.getBuiltinModule?.('node:fs') as NodeFs | undefined;
}

/** $EED_CACHE_DIR, else $XDG_CACHE_HOME/eed-webgpu, else ~/.cache/eed-webgpu. */
export function tuningCachePath(adapter: string): string | null {
  const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env;
  if (!env) return null;
  const base = env.EED_CACHE_DIR ?? `${env.XDG_CACHE_HOME ?? `${env.HOME ?? '/tmp'}/.cache`}/eed-webgpu`;
  const name = adapter.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 120);
  return `${base}/tuning-${name}.json`;
}

/** The cached autotune result for this adapter, or the table's defaults. */
export function loadTuning(info: AdapterDescription): Tuning {
  const fallback = defaultTuning(info);
  const fs = nodeFs();
  const path = tuningCachePath(fallback.adapter);
  if (!fs || !path || !fs.existsSync(path)) return fallback;
  try {
    const t = JSON.parse(fs.readFileSync(path, 'utf8')) as Tuning;
    const wg = t.gemmWorkgroup;
    const valid =
      t.adapter === fallback.adapter &&
      Array.isArray(wg) &&
      wg.length === 2 &&
      wg.every((v) => Number.isInteger(v) && v > 0) &&
      wg[0] * wg[1] <= 256 &&
      typeof t.conv === 'object';
    const gemmKernel = GEMM_KERNELS.includes(t.gemmKernel) ? t.gemmKernel : fallback.gemmKernel;
    const sparseConvKernel = ['direct', 'spmm', 'grouped', 'grouped-direct', 'auto'].includes(t.sparseConvKernel ?? '') ? t.sparseConvKernel : fallback.sparseConvKernel;
    const col2imKernel = t.col2imKernel === 'positions' || t.col2imKernel === 'lanes' ? t.col2imKernel : fallback.col2imKernel;
    const im2colKernel = t.im2colKernel === 'positions' || t.im2colKernel === 'lanes' ? t.im2colKernel : fallback.im2colKernel;
    // An entry this version does not know falls back to the default rule for its shape.
    const current = t.version === TUNING_VERSION;
    const conv = valid ? Object.fromEntries(Object.entries(t.conv).filter(([k, v]) => CONV_STRATEGIES.includes(v) && (current || !k.startsWith('weight ')))) : {};
    return valid ? { ...t, conv, gemmKernel, sparseConvKernel, col2imKernel, im2colKernel, source: 'autotune' } : fallback;
  } catch {
    return fallback; // a damaged cache only costs the tuning, never correctness
  }
}

export function saveTuning(t: Tuning): string | null {
  const fs = nodeFs();
  const path = tuningCachePath(t.adapter);
  if (!fs || !path) return null;
  fs.mkdirSync(path.slice(0, path.lastIndexOf('/')), { recursive: true });
  const tmp = `${path}.${Date.now()}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(t, null, 2) + '\n');
  fs.renameSync(tmp, path);
  return path;
}

/** Median wall time of `run` (which records GPU work) over `reps` synced repetitions. */
export async function timeIt(rt: Runtime, run: () => void, reps = 3): Promise<number> {
  run();
  await rt.sync();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    run();
    await rt.sync();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}
