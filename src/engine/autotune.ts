// A short autotune: times the kernel candidates on the adapter at hand and caches the winners
// (kernels/tuning.ts). Run it with `eed tune`; every later process on the same adapter loads the
// result at init().

import { convGeometry, forceConvStrategy } from '../../kernels/conv2d.js';
import { activeTuning, convKey, defaultTuning, saveTuning, setTuning, timeIt, type ConvPass, type Tuning } from '../../kernels/tuning.js';
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
}

export async function autotune(opts: AutotuneOptions = {}): Promise<Tuning & { cachePath: string | null }> {
  const rt = runtime();
  const log = opts.log ?? (() => {});
  const gen = new Generator(7);
  const tuning: Tuning = { ...defaultTuning(rt.adapterInfo), source: 'autotune', conv: {} };
  const previous = activeTuning();

  // GEMM workgroup shape, on a 512³ product.
  const a = gen.uniform([512, 512]).keep();
  const b = gen.uniform([512, 512]).keep();
  let best = Infinity;
  for (const wg of GEMM_WORKGROUPS) {
    setTuning({ ...tuning, gemmWorkgroup: wg });
    const ms = await timeIt(rt, () => scope(() => void matmul(a, b)));
    log(`gemm workgroup ${wg.join('x')}: ${ms.toFixed(1)} ms`);
    if (ms < best) {
      best = ms;
      tuning.gemmWorkgroup = wg;
    }
  }
  a.dispose();
  b.dispose();
  setTuning(tuning);

  // Conv strategy per shape and pass.
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
      const times: Partial<Record<'direct' | 'gemm', number>> = {};
      for (const strategy of ['direct', 'gemm'] as const) {
        forceConvStrategy(strategy);
        try {
          times[strategy] = await timeIt(rt, () => scope(() => void fn()), 2);
        } catch {
          // the GEMM cannot align this shape
        } finally {
          forceConvStrategy(null);
        }
      }
      const winner = times.gemm !== undefined && times.gemm <= (times.direct ?? Infinity) ? 'gemm' : 'direct';
      tuning.conv[convKey(pass, g)] = winner;
      log(`${convKey(pass, g)}: direct ${times.direct?.toFixed(1)} ms, gemm ${times.gemm?.toFixed(1) ?? 'n/a'} ms -> ${winner}`);
    }
    for (const t of [x, w, gy]) t.dispose();
  }
  setTuning(tuning);
  const cachePath = opts.save === false ? null : saveTuning(tuning);
  if (opts.save === false && previous) setTuning(previous);
  return { ...tuning, cachePath };
}
