// A short autotune: times the kernel candidates on the adapter at hand and caches the winners
// (kernels/tuning.ts): the register GEMM's workgroup shape, register vs subgroup GEMM, col2im's
// kernel, and per conv shape and pass the direct vs im2col+GEMM strategy. Run it with `eed tune`; every later process on the same adapter loads the
// result at init().

import { convGeometry, forceCol2imKernel, forceConvStrategy, forcedConvStrategy, forceIm2colKernel } from '../../kernels/conv2d.js';
import { subgroupGemmSupported } from '../../kernels/matmul.js';
import {
  activeTuning,
  convKey,
  defaultTuning,
  saveTuning,
  setTuning,
  timeIt,
  type Col2imKernelName,
  type ConvPass,
  type ConvStrategyName,
  type GemmKernelName,
  type Tuning,
  TUNING_VERSION,
} from '../../kernels/tuning.js';
import { conv2d, convGradInput, convGradWeight, Generator, matmul } from '../ops/index.js';
import { runtime } from './engine.js';
import { scope } from './scope.js';
import type { Tensor } from './tensor.js';

export interface ConvShape {
  batch: number;
  cin: number;
  cout: number;
  hw: number;
  kernel: number;
  stride: number;
  padding: number;
}

/** The ResNet-18 CIFAR convs at batch 32 and the SmallCNN Fashion-MNIST convs at batch 128. */
export const DEFAULT_TUNE_SHAPES: ConvShape[] = [
  ...[
    [3, 64, 32],
    [64, 64, 32],
    [64, 128, 32],
    [128, 128, 16],
    [128, 256, 16],
    [256, 256, 8],
    [256, 512, 8],
    [512, 512, 4],
  ].map(([cin, cout, hw]) => ({ batch: 32, cin, cout, hw, kernel: 3, stride: cin === cout || cin === 3 ? 1 : 2, padding: 1 })),
  { batch: 128, cin: 1, cout: 32, hw: 28, kernel: 3, stride: 1, padding: 1 },
  { batch: 128, cin: 32, cout: 64, hw: 28, kernel: 3, stride: 2, padding: 1 },
  { batch: 128, cin: 64, cout: 128, hw: 14, kernel: 3, stride: 2, padding: 1 },
];

/** A 512³ product and SmallCNN conv2's forward GEMM (64 × 288 × 196 positions, 16 items). */
const DEFAULT_TUNE_GEMMS: [number, number, number, number][] = [
  [1, 512, 512, 512],
  [16, 64, 288, 196],
];

const GEMM_WORKGROUPS: [number, number][] = [
  [8, 1],
  [16, 1],
  [32, 1],
  [4, 4],
  [8, 8],
  [16, 4],
];

export interface AutotuneOptions {
  shapes?: ConvShape[];
  log?: (line: string) => void;
  /** Write the result to the on-disk cache (default true). */
  save?: boolean;
  /** The GEMMs that pick the workgroup (the first) and the kernel (all, summed), as [batch, m, k, n]. */
  gemms?: [number, number, number, number][];
}

export async function autotune(opts: AutotuneOptions = {}): Promise<Tuning & { cachePath: string | null }> {
  const rt = runtime();
  const log = opts.log ?? (() => {});
  const gen = new Generator(7);
  const tuning: Tuning = { ...defaultTuning(rt.adapterInfo), source: 'autotune', version: TUNING_VERSION, conv: {} };
  const previous = activeTuning();

  // The register GEMM's workgroup shape (it only shapes that kernel), then the register, subgroup
  // and shared-memory kernels against each other, on DEFAULT_TUNE_GEMMS.
  const operands = (opts.gemms ?? DEFAULT_TUNE_GEMMS).map(([batch, m, k, n]) => ({
    label: `${batch > 1 ? `${batch}x` : ''}${m}x${k}x${n}`,
    a: gen.uniform([m, k]).keep(),
    b: gen.uniform(batch > 1 ? [batch, k, n] : [k, n]).keep(),
  }));
  let best = Infinity;
  for (const wg of GEMM_WORKGROUPS) {
    setTuning({ ...tuning, gemmKernel: 'register', gemmWorkgroup: wg });
    const ms = await timeIt(rt, () => scope(() => void matmul(operands[0].a, operands[0].b)));
    log(`gemm workgroup ${wg.join('x')}: ${ms.toFixed(1)} ms`);
    if (ms < best) {
      best = ms;
      tuning.gemmWorkgroup = wg;
    }
  }
  const kernels: GemmKernelName[] = subgroupGemmSupported() ? ['register', 'subgroup', 'shared'] : ['register', 'shared'];
  const kernelMs: Partial<Record<GemmKernelName, number>> = {};
  for (const kernel of kernels) {
    setTuning({ ...tuning, gemmKernel: kernel });
    let total = 0;
    for (const o of operands) {
      const ms = await timeIt(rt, () => scope(() => void matmul(o.a, o.b)));
      total += ms;
      log(`gemm kernel ${kernel}, ${o.label}: ${ms.toFixed(1)} ms`);
    }
    kernelMs[kernel] = total;
  }
  tuning.gemmKernel = kernels.reduce((w, k) => (kernelMs[k]! < kernelMs[w]! ? k : w), kernels[0]);
  log(`gemm kernel -> ${tuning.gemmKernel}`);
  for (const o of operands) {
    o.a.dispose();
    o.b.dispose();
  }
  setTuning(tuning);

  // Conv strategy per shape and pass; the forward's GEMM path is timed with each im2col kernel and
  // the input gradient's with each col2im kernel, and the kernels with the smaller totals over the
  // shapes are kept.
  const foldKernels: Col2imKernelName[] = ['positions', 'lanes'];
  const col2imMs: Record<Col2imKernelName, number> = { positions: 0, lanes: 0 };
  const im2colMs: Record<Col2imKernelName, number> = { positions: 0, lanes: 0 };
  for (const s of opts.shapes ?? DEFAULT_TUNE_SHAPES) {
    const x = gen.uniform([s.batch, s.cin, s.hw, s.hw]).keep();
    const w = gen.uniform([s.cout, s.cin, s.kernel, s.kernel], -0.1, 0.1).keep();
    const g = convGeometry(x.shape, w.shape, [s.stride, s.stride], [s.padding, s.padding]);
    const gy = gen.uniform([s.batch, s.cout, g.oh, g.ow]).keep();
    const passes: [ConvPass, () => Tensor][] = [
      ['forward', () => conv2d(x, w, null, { stride: s.stride, padding: s.padding })],
      ['input', () => convGradInput(gy, w, g)],
      ['weight', () => convGradWeight(x, gy, g)],
    ];
    for (const [pass, fn] of passes) {
      const times: Partial<Record<ConvStrategyName, number>> = {};
      const strategies: ConvStrategyName[] = pass === 'weight' ? ['direct', 'gemm', 'gemm-split'] : ['direct', 'gemm'];
      for (const strategy of strategies) {
        const fold = strategy === 'gemm' && pass !== 'weight' ? (pass === 'input' ? 'col2im' : 'im2col') : null;
        for (const kernel of fold ? foldKernels : [null]) {
          const ms = await timeForced(rt, strategy, () => scope(() => void fn()), 2, () => {
            if (fold === 'col2im') forceCol2imKernel(kernel);
            if (fold === 'im2col') forceIm2colKernel(kernel);
          });
          if (ms === null) continue;
          if (fold && kernel) {
            (fold === 'col2im' ? col2imMs : im2colMs)[kernel] += ms;
            log(`${convKey(pass, g)}: gemm with ${fold} '${kernel}' ${ms.toFixed(1)} ms`);
          }
          times[strategy] = Math.min(times[strategy] ?? Infinity, ms);
        }
      }
      const pick = fastestStrategy(times);
      tuning.conv[convKey(pass, g)] = pick;
      log(`${convKey(pass, g)}: ${strategies.map((k) => `${k} ${times[k]?.toFixed(1) ?? 'n/a'} ms`).join(', ')} -> ${pick}`);
    }
    for (const t of [x, w, gy]) t.dispose();
  }
  if (col2imMs.positions + col2imMs.lanes > 0) {
    tuning.col2imKernel = col2imMs.lanes <= col2imMs.positions ? 'lanes' : 'positions';
    log(`col2im: positions ${col2imMs.positions.toFixed(1)} ms, lanes ${col2imMs.lanes.toFixed(1)} ms in total -> ${tuning.col2imKernel}`);
  }
  if (im2colMs.positions + im2colMs.lanes > 0) {
    tuning.im2colKernel = im2colMs.lanes <= im2colMs.positions ? 'lanes' : 'positions';
    log(`im2col: positions ${im2colMs.positions.toFixed(1)} ms, lanes ${im2colMs.lanes.toFixed(1)} ms in total -> ${tuning.im2colKernel}`);
  }
  setTuning(tuning);
  const cachePath = opts.save === false ? null : saveTuning(tuning);
  if (opts.save === false && previous) setTuning(previous);
  return { ...tuning, cachePath };
}

/**
 * Times `fn` with the conv strategy forced (and whatever `force` sets besides), then lifts every
 * forcing; null where the strategy cannot run the shape (the GEMM cannot align it).
 */
async function timeForced(rt: ReturnType<typeof runtime>, strategy: ConvStrategyName, fn: () => void, reps: number, force?: () => void): Promise<number | null> {
  forceConvStrategy(strategy);
  force?.();
  try {
    return await timeIt(rt, fn, reps);
  } catch {
    return null;
  } finally {
    forceConvStrategy(null);
    forceCol2imKernel(null);
    forceIm2colKernel(null);
  }
}

/** The fastest strategy timed; ties go to the GEMM, then to the summed GEMM (no partial products in memory). */
function fastestStrategy(times: Partial<Record<ConvStrategyName, number>>): ConvStrategyName {
  const order: ConvStrategyName[] = ['gemm', 'gemm-split', 'direct'];
  const best = Math.min(...order.map((k) => times[k] ?? Infinity));
  return order.find((k) => times[k] === best) ?? 'direct';
}

/** One convolution as a model runs it: input [N, C, H, W], weight [O, C, K, K], stride, padding. */
export interface ConvCall {
  input: readonly number[];
  weight: readonly number[];
  stride: number;
  padding: number;
}

/**
 * Races the direct and GEMM strategies of the forward pass for each conv the active tuning has
 * no entry for, and adds the winners to it (in memory, not to the cache). The evaluation times its
 * models at a batch size `eed tune` never saw; without this the dense baseline would run the
 * default strategy at every layer while each pruned layer races its sparse kernel against the
 * dense path at its real shape (compressForInference). Returns how many shapes were raced.
 */
export async function tuneConvForward(calls: readonly ConvCall[]): Promise<number> {
  // A strategy forced by the caller (a test, a benchmark) decides everything anyway.
  if (forcedConvStrategy() !== null) return 0;
  const rt = runtime();
  const tuning = activeTuning() ?? defaultTuning(rt.adapterInfo);
  const conv = { ...tuning.conv };
  const gen = new Generator(11);
  let raced = 0;
  for (const c of calls) {
    const g = convGeometry(c.input, c.weight, [c.stride, c.stride], [c.padding, c.padding]);
    const key = convKey('forward', g);
    if (conv[key] !== undefined) continue;
    const x = gen.uniform([...c.input]).keep();
    const w = gen.uniform([...c.weight], -0.1, 0.1).keep();
    const times: Partial<Record<ConvStrategyName, number>> = {};
    for (const strategy of ['gemm', 'direct'] as const) {
      const ms = await timeForced(rt, strategy, () => scope(() => void conv2d(x, w, null, { stride: c.stride, padding: c.padding })), 3);
      if (ms !== null) times[strategy] = ms;
    }
    x.dispose();
    w.dispose();
    conv[key] = fastestStrategy(times);
    raced++;
  }
  if (raced) setTuning({ ...tuning, conv });
  return raced;
}
