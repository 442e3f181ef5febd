// `node dist/bench/sparseAb.js layers|forward|attack|train|harp [--kernels grouped,spmm] [--sparsity 0.8,0.9] [--reps N] [--model smallcnn|resnet18] [--clock cpu|wall] [--out FILE]`
// (layers: both models' conv shapes unless --model names one):
// sparse against dense, interleaved. `npm run bench` times each case alone (wall clock, tinybench);
// on a machine shared with a training run its medians drift by ±30% between cases measured minutes
// apart. Here the candidates run in turn within each repetition and are timed in process CPU
// time (lavapipe's worker threads included), and the speed-up is the median over repetitions of
// dense's time over the candidate's in the same repetition. On a hardware adapter the work runs on
// the GPU, not in this process, so there each call is timed in wall-clock time instead (--clock).
//   layers:  one pruned conv per layer shape (SmallCNN's at batch 128, ResNet-18's at batch 32),
//            the tuned dense conv against each forced sparse kernel
//   forward: the eval-mode forward pass of a whole model, every conv magnitude-pruned per layer
//            and on the sparse kernel ('auto' unless --kernels names others), against the dense model
//   attack:  one attack step's work on the same models: the cross-entropy's input gradient in eval
//            mode (forward and backward), against the dense model, and the pruned model on the
//            masked dense path ('masked', what attacks ran before the sparse kernels had a backward)
//   train:   one training pass on the same models (train mode: forward, then the cross-entropy's
//            gradient in every parameter), the pruned model with its masks fixed on the sparse
//            kernels (Conv2d.sparseWeightTrainable, as withSparseKernels sets it: fine-tuning and
//            ensemble training) and on the masked dense path ('masked'), against the dense model
//   harp:    one training pass of HARP's pruning stage (SmallCNN, a MaskedModel in 'prune' mode keeping
//            1 − sparsity of every layer: the gradients of its scores, rates and BN, the mask's through
//            the straight-through op), on the sparse kernels ('auto') and the masked dense path
//            ('masked'), against the dense model's plain training pass
// Results are printed and, with --out, written as JSON with the command line and the adapter.

import { writeFileSync } from 'node:fs';
import { cpuUsage } from 'node:process';
import { parseArgs } from 'node:util';
import { forceSparseConvKernel } from '../kernels/sparseConv.js';
import type { SparseConvKernelName } from '../kernels/tuning.js';
import { inputGradient } from '../src/attacks/inputGradient.js';
import { moduleClassifier } from '../src/attacks/classifier.js';
import { grad, noGrad } from '../src/engine/autograd.js';
import { adapterString } from '../src/engine/device.js';
import { init, runtime } from '../src/engine/engine.js';
import { scope } from '../src/engine/scope.js';
import type { Module } from '../src/nn/module.js';
import { ResNet18 } from '../src/nn/models/resnet.js';
import { SmallCNN } from '../src/nn/models/smallCnn.js';
import { Conv2d } from '../src/nn/layers.js';
import { abs, conv2d, crossEntropy, Generator, SparseConv2d, sparseConv2d, tensor } from '../src/ops/index.js';
import { magnitudeMask, pruneAndCompress, releasePruning } from './magnitudePruning.js';
import { MaskedModel } from '../src/pruning/maskedModel.js';
import { prunableLayers } from '../src/pruning/prunable.js';
import { decompress, markTrainable } from '../src/pruning/sparseInference.js';

/** [batch, Cin, Cout, H = W, stride] of every 3×3 conv shape timed by `layers`. */
/** [batch, Cin, Cout, H = W, stride] of each model's 3×3 convs. */
const LAYERS: Record<'smallcnn' | 'resnet18', [number, number, number, number, number][]> = {
  smallcnn: [
    [128, 1, 32, 28, 1],
    [128, 32, 64, 28, 2],
    [128, 64, 128, 14, 2],
  ],
  resnet18: [
    [32, 3, 64, 32, 1],
    [32, 64, 64, 32, 1],
    [32, 128, 128, 16, 1],
    [32, 256, 256, 8, 1],
    [32, 512, 512, 4, 1],
  ],
};

const gen = new Generator(1);

type Clock = 'cpu' | 'wall';
let clock: Clock = 'cpu';

async function timedMs(run: () => void): Promise<number> {
  const rt = runtime();
  run();
  await rt.sync(); // the first call may compile pipelines
  const c0 = cpuUsage();
  const t0 = performance.now();
  run();
  await rt.sync();
  if (clock === 'wall') return performance.now() - t0;
  const c = cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

const median = (a: number[]): number => a.slice().sort((p, q) => p - q)[Math.floor(a.length / 2)];

interface Row {
  case: string;
  sparsity: number;
  candidate: string;
  ms: number;
  denseMs: number;
  speedUp: number;
}

async function interleave(label: string, sparsity: number, runs: Record<string, () => void>, reps: number): Promise<Row[]> {
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(runs).map((k) => [k, []]));
  // Each repetition starts at the next candidate, so none is always first (src/attacks/throughput.ts).
  const entries = Object.entries(runs);
  for (let i = 0; i < reps; i++)
    for (let j = 0; j < entries.length; j++) {
      const [k, run] = entries[(i + j) % entries.length];
      times[k].push(await timedMs(run));
    }
  const rows = Object.keys(runs)
    .filter((k) => k !== 'dense')
    .map((k) => ({
      case: label,
      sparsity,
      candidate: k,
      ms: median(times[k]),
      denseMs: median(times.dense),
      speedUp: median(times[k].map((t, i) => times.dense[i] / t)),
    }));
  for (const r of rows) console.log(`${label} @${Math.round(sparsity * 100)}%  ${r.candidate.padEnd(16)} ${r.ms.toFixed(0).padStart(6)} ms  dense ${r.denseMs.toFixed(0).padStart(6)} ms  ×${r.speedUp.toFixed(2)}`);
  return rows;
}

async function layers(models: (keyof typeof LAYERS)[], kernels: SparseConvKernelName[], sparsities: number[], reps: number): Promise<Row[]> {
  const rows: Row[] = [];
  for (const [batch, cin, cout, hw, stride] of models.flatMap((m) => LAYERS[m])) {
    const x = gen.uniform([batch, cin, hw, hw]).keep();
    const shape = [cout, cin, 3, 3];
    const source = gen.uniform(shape, -1, 1).keep();
    const dense = (await source.data()) as Float32Array;
    source.dispose();
    for (const s of sparsities) {
      const mask = magnitudeMask(dense, s);
      const w = dense.map((v, i) => (mask[i] ? v : 0));
      const wt = tensor(w, shape).keep();
      const sparse = SparseConv2d.fromDense(w, shape);
      const runs: Record<string, () => void> = { dense: () => scope(() => void conv2d(x, wt, null, { padding: 1, stride })) };
      for (const k of kernels)
        runs[k] = () => {
          forceSparseConvKernel(k);
          try {
            scope(() => void sparseConv2d(x, sparse, null, { padding: 1, stride }));
          } finally {
            forceSparseConvKernel(null);
          }
        };
      rows.push(...(await interleave(`b${batch} ${cin}->${cout} @${hw}x${hw} s${stride}`, s, runs, reps)));
      wt.dispose();
      sparse.dispose();
    }
    x.dispose();
  }
  return rows;
}

/** Runs fn with every conv of `m` on its masked dense path (its compressed copy set aside). */
function masked(m: Module, fn: () => void): void {
  const convs = m.namedModules().flatMap(([, c]) => (c instanceof Conv2d && c.sparseWeight ? [[c, c.sparseWeight] as const] : []));
  for (const [c] of convs) c.sparseWeight = null;
  try {
    fn();
  } finally {
    for (const [c, w] of convs) c.sparseWeight = w;
  }
}

type Pass = 'forward' | 'attack' | 'train';

async function forward(model: 'smallcnn' | 'resnet18', kernels: SparseConvKernelName[], sparsities: number[], reps: number, pass: Pass): Promise<Row[]> {
  const withGradient = pass !== 'forward';
  const make = (): Module => (model === 'smallcnn' ? new SmallCNN({ generator: gen }) : new ResNet18({ generator: gen }));
  const input = model === 'smallcnn' ? [128, 1, 28, 28] : [32, 3, 32, 32];
  const x = gen.uniform(input).keep();
  const labels = tensor(Int32Array.from({ length: input[0] }, (_, i) => i % 10), [input[0]], 'i32').keep();
  const dense = make().eval();
  const run = (m: Module) =>
    pass === 'train'
      ? () => scope(() => void grad(crossEntropy(m.train().forward(x), labels), m.parameters()))
      : pass === 'attack'
        ? () => scope(() => void inputGradient(moduleClassifier(m, 10), x, (z) => crossEntropy(z, labels, { reduction: 'none' })))
        : () => scope(() => void noGrad(() => m.forward(x)));
  const rows: Row[] = [];
  for (const s of sparsities) {
    const pruned = make().eval();
    pruned.loadStateDict(dense.stateDict());
    await pruneAndCompress(pruned, s);
    if (pass === 'train') markTrainable(pruned);
    const runs: Record<string, () => void> = { dense: run(dense) };
    if (withGradient) runs.masked = () => masked(pruned, run(pruned));
    for (const k of kernels)
      runs[k] = () => {
        forceSparseConvKernel(k);
        try {
          run(pruned)();
        } finally {
          forceSparseConvKernel(null);
        }
      };
    rows.push(...(await interleave(`${model} ${pass === 'forward' ? 'forward' : pass === 'attack' ? 'attack step' : 'training pass'} b${input[0]}`, s, runs, reps)));
    releasePruning(pruned);
    pruned.dispose();
  }
  dense.dispose();
  x.dispose();
  labels.dispose();
  return rows;
}

async function harpPass(sparsities: number[], reps: number): Promise<Row[]> {
  const x = gen.uniform([128, 1, 28, 28]).keep();
  const labels = tensor(Int32Array.from({ length: 128 }, (_, i) => i % 10), [128], 'i32').keep();
  const dense = new SmallCNN({ generator: gen }).train();
  const rows: Row[] = [];
  for (const s of sparsities) {
    const base = new SmallCNN({ generator: gen }).train();
    base.loadStateDict(dense.stateDict());
    const scores = new Map(prunableLayers(base).map((l) => [l.name, abs(l.weight)]));
    const harp = await MaskedModel.create(base, scores, { target: 1 - s });
    // As withSparseKernels leaves the model inside a pruning step.
    await harp.compressForStep();
    markTrainable(base);
    const params = harp.trainableParameters();
    const pass = () => scope(() => void grad(crossEntropy(harp.forward(x), labels), params, { allowUnused: true }));
    const runs: Record<string, () => void> = {
      dense: () => scope(() => void grad(crossEntropy(dense.forward(x), labels), dense.parameters())),
      masked: () => masked(base, pass),
      auto: pass,
    };
    rows.push(...(await interleave('smallcnn HARP training pass b128', s, runs, reps)));
    decompress(base);
    for (const t of scores.values()) t.dispose();
    harp.dispose();
    base.dispose();
  }
  dense.dispose();
  x.dispose();
  labels.dispose();
  return rows;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      kernels: { type: 'string' },
      sparsity: { type: 'string', default: '0.8,0.9' },
      reps: { type: 'string', default: '7' },
      model: { type: 'string' },
      out: { type: 'string' },
      clock: { type: 'string' },
    },
  });
  const mode = positionals[0] ?? 'layers';
  if (mode !== 'layers' && mode !== 'forward' && mode !== 'attack' && mode !== 'train' && mode !== 'harp')
    throw new Error(`sparseAb: mode must be 'layers', 'forward', 'attack', 'train' or 'harp', got '${mode}'`);
  // forward, attack, train: one model (SmallCNN unless named); layers: both models' shapes unless one is named.
  const model = values.model ?? (mode === 'layers' ? undefined : 'smallcnn');
  if (model !== undefined && model !== 'smallcnn' && model !== 'resnet18') throw new Error(`sparseAb: --model must be smallcnn or resnet18, got '${model}'`);
  const kernels = (values.kernels ?? (mode === 'layers' ? 'spmm,direct,grouped,grouped-direct' : 'auto')).split(',') as SparseConvKernelName[];
  const sparsities = values.sparsity.split(',').map(Number);
  const reps = Number(values.reps);
  if (!sparsities.every((s) => s >= 0 && s < 1) || !(reps >= 1)) throw new Error('sparseAb: --sparsity takes fractions in [0, 1), --reps a positive count');
  if (values.clock !== undefined && values.clock !== 'cpu' && values.clock !== 'wall') throw new Error(`sparseAb: --clock must be cpu or wall, got '${values.clock}'`);
  await init();
  const adapter = adapterString(runtime().adapterInfo);
  clock = (values.clock as Clock | undefined) ?? (runtime().adapterInfo.isSoftware ? 'cpu' : 'wall');
  console.log(`adapter: ${adapter} (${clock === 'cpu' ? 'process CPU' : 'wall-clock'} time)`);
  const rows =
    mode === 'layers'
      ? await layers(model ? [model] : ['smallcnn', 'resnet18'], kernels, sparsities, reps)
      : mode === 'harp'
        ? await harpPass(sparsities, reps)
        : await forward(model ?? 'smallcnn', kernels, sparsities, reps, mode);
  if (values.out) {
    const command = `node dist/bench/sparseAb.js ${process.argv.slice(2).join(' ')}`;
    writeFileSync(values.out, JSON.stringify({ adapter, date: new Date().toISOString(), command, timing: `${clock === 'cpu' ? 'process CPU' : 'wall-clock'} ms, interleaved medians`, rows }, null, 2) + '\n');
  }
}

await main();
process.exit(0);
