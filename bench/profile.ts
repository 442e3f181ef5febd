// `node dist/bench/profile.js [train|pgd|at|sparse|sparse-pgd|sparse-train|sparse-resnet|ensemble|all] [--reps N] [--rounds N] [--width W] [--steps-only]`: where the time of a
// SmallCNN step goes, per kernel. One step is recorded with Runtime.dispatch wrapped, so every
// dispatch (with its op label, pipeline, bindings, parameters and grid) is captured; each captured
// dispatch is then replayed `reps` times in one submission and timed (wall and process CPU time,
// which includes lavapipe's worker threads). Buffers freed by the step stay in the buffer pool, so
// the replays bind live buffers; their contents are stale, which does not change the cost of these
// data-independent kernels. Times are aggregated by kernel label (the op names of runtime.ts
// without the layer path) and printed, largest first, next to the whole step's own time.
//   train: one SGD step of clean training (batch 128)
//   pgd:   one PGD step (input gradient in eval mode + the ℓ∞ step)
//   at:    one Madry PGD-7 adversarial-training step (7 PGD steps, then the train step)
//   sparse: the eval-mode forward pass with every conv magnitude-pruned to 80% on the sparse
//          kernels, then the dense one
//   sparse-pgd: the PGD step on that pruned model (its backward on the sparse kernels too)
//   sparse-resnet: the eval-mode forward pass of full-width ResNet-18 (batch 32), every conv
//          magnitude-pruned to 80% on the sparse kernels, then the dense one
//   sparse-train: a training pass (train mode, every parameter's gradient) of SmallCNN with its
//          convs magnitude-pruned to --sparsity (0.8) and the masks fixed, on the sparse kernels
//   ensemble: one ensemble-training step (§7) of four SmallCNN members, convs magnitude-pruned to
//          --sparsity (default 0.95, the pool's), at the fmnist preset's settings (batch 128,
//          PGD-7 per member and against the team, 10 distillation steps), attacks on the sparse
//          kernels as trainEnsemble runs them, and its training pass too (--masked-training: on
//          the masked dense path)

import { parseArgs } from 'node:util';
import { moduleClassifier } from '../src/attacks/classifier.js';
import { inputGradient } from '../src/attacks/inputGradient.js';
import { crossEntropyLoss } from '../src/attacks/losses.js';
import { linfStep } from '../src/attacks/project.js';
import { grad, noGrad } from '../src/engine/autograd.js';
import { adapterString } from '../src/engine/device.js';
import { init } from '../src/engine/engine.js';
import { scope } from '../src/engine/scope.js';
import type { Tensor } from '../src/engine/tensor.js';
import { ResNet18 } from '../src/nn/models/resnet.js';
import { SmallCNN } from '../src/nn/models/smallCnn.js';
import { markTrainable } from '../src/pruning/sparseInference.js';
import { crossEntropy, Generator } from '../src/ops/index.js';
import { pruneAndCompress } from './magnitudePruning.js';
import { SGD } from '../src/optim/sgd.js';
import { ensembleLoss } from '../src/ensemble/training/ensembleLoss.js';
import { ENSEMBLE_TRAIN_DEFAULTS } from '../src/ensemble/training/settings.js';
import { adversarialLoss } from '../src/training/adversarialLoss.js';
import type { Binding, KernelSpec, Runtime } from '../kernels/runtime.js';

interface Captured {
  name: string;
  spec: KernelSpec;
  bindings: Binding[];
  params: Uint32Array;
  groups: [number, number?, number?];
}

interface Sample {
  wallMs: number;
  cpuMs: number;
}

async function timed(rt: Runtime, fn: () => void): Promise<Sample> {
  await rt.sync();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  fn();
  await rt.sync();
  const c = process.cpuUsage(c0);
  return { wallMs: performance.now() - t0, cpuMs: (c.user + c.system) / 1000 };
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

function capture(rt: Runtime, fn: () => void): { dispatches: Captured[]; copies: number } {
  const dispatches: Captured[] = [];
  let copies = 0;
  const orig = rt.dispatch;
  const origCopy = rt.copy;
  const origClear = rt.clear;
  rt.dispatch = function (name, spec, bindings, params, groups) {
    dispatches.push({ name, spec, bindings: bindings.map((b) => ({ ...b })), params: params.slice(), groups: [...groups] as [number, number?, number?] });
    orig.call(this, name, spec, bindings, params, groups);
  };
  rt.copy = function (...a) {
    copies++;
    origCopy.apply(this, a);
  };
  rt.clear = function (...a) {
    copies++;
    origClear.apply(this, a);
  };
  try {
    fn();
  } finally {
    rt.dispatch = orig;
    rt.copy = origCopy;
    rt.clear = origClear;
  }
  return { dispatches, copies };
}

/** Kernel label: the op name without the layer path, plus the pipeline's distinguishing constants. */
function labelOf(d: Captured): string {
  const consts = d.spec.constants ?? {};
  const keys = Object.keys(consts).filter((k) => !/^WG_/.test(k));
  const c = keys.length ? `{${keys.map((k) => `${k}=${consts[k]}`).join(',')}}` : '';
  return `${d.name}${c}`;
}

async function profile(rt: Runtime, what: string, step: () => void, reps: number, rounds: number, stepsOnly: boolean): Promise<void> {
  // Warm-up (pipelines compiled, pool filled), then the step's own time.
  for (let i = 0; i < 2; i++) await timed(rt, step);
  const whole: Sample[] = [];
  for (let i = 0; i < rounds; i++) whole.push(await timed(rt, step));
  if (stepsOnly) {
    const w = whole.map((s) => s.wallMs);
    const c = whole.map((s) => s.cpuMs);
    console.log(
      `${what}: median of ${rounds}: wall ${median(w).toFixed(0)} ms, cpu ${median(c).toFixed(0)} ms ` +
        `(min wall ${Math.min(...w).toFixed(0)}, min cpu ${Math.min(...c).toFixed(0)})`,
    );
    return;
  }
  const { dispatches, copies } = capture(rt, step);
  await rt.sync();
  const perLabel = new Map<string, { n: number; wall: number; cpu: number; sample: string }>();
  const layerOf = (d: Captured) => d.name.split(' > ').slice(-1)[0];
  const timesOf: { d: Captured; wall: number; cpu: number }[] = [];
  let sumWall = 0;
  let sumCpu = 0;
  for (const d of dispatches) {
    const samples: Sample[] = [];
    for (let r = 0; r < rounds; r++)
      samples.push(
        await timed(rt, () => {
          for (let k = 0; k < reps; k++) rt.dispatch(d.name, d.spec, d.bindings, d.params, d.groups);
        }),
      );
    const wall = median(samples.map((s) => s.wallMs)) / reps;
    const cpu = median(samples.map((s) => s.cpuMs)) / reps;
    timesOf.push({ d, wall, cpu });
    sumWall += wall;
    sumCpu += cpu;
    const key = `${layerOf(d)}${labelOf(d).slice(d.name.length)}`.replace(/ACCUMULATE_BATCH/, "ACC").replace(/,MASK_A=0/, "");
    const e = perLabel.get(key) ?? { n: 0, wall: 0, cpu: 0, sample: d.name };
    e.n++;
    e.wall += wall;
    e.cpu += cpu;
    perLabel.set(key, e);
  }
  const stepWall = median(whole.map((s) => s.wallMs));
  const stepCpu = median(whole.map((s) => s.cpuMs));
  console.log(`\n== ${what}: ${dispatches.length} dispatches, ${copies} copies/clears`);
  console.log(`step (median of ${rounds}): wall ${stepWall.toFixed(0)} ms, cpu ${stepCpu.toFixed(0)} ms`);
  console.log(`sum of replayed kernels: wall ${sumWall.toFixed(0)} ms, cpu ${sumCpu.toFixed(0)} ms`);
  console.log(`${'kernel'.padEnd(44)} ${'n'.padStart(4)} ${'wall ms'.padStart(9)} ${'cpu ms'.padStart(9)} ${'cpu %'.padStart(6)}`);
  for (const [k, e] of [...perLabel].sort((a, b) => b[1].cpu - a[1].cpu))
    console.log(
      `${k.slice(0, 44).padEnd(44)} ${String(e.n).padStart(4)} ${e.wall.toFixed(1).padStart(9)} ${e.cpu.toFixed(1).padStart(9)} ${((100 * e.cpu) / sumCpu).toFixed(1).padStart(6)}`,
    );
  console.log('largest single dispatches:');
  for (const t of [...timesOf].sort((a, b) => b.cpu - a.cpu).slice(0, 12))
    console.log(`  ${t.cpu.toFixed(1).padStart(7)} ms cpu ${t.wall.toFixed(1).padStart(7)} ms wall  ${t.d.name} [${t.d.groups.join('x')}]`);
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: {
      reps: { type: 'string', default: '3' },
      rounds: { type: 'string', default: '3' },
      width: { type: 'string', default: '1' },
      // Sparsity of the pruned convs (sparse-pgd, sparse-train: 0.8 unless given; ensemble: 0.95).
      sparsity: { type: 'string', default: '' },
      // Whole-step times only (no per-kernel replay).
      'steps-only': { type: 'boolean', default: false },
      'masked-training': { type: 'boolean', default: false },
    },
  });
  const rt = await init();
  console.log(`adapter: ${adapterString(rt.adapterInfo)}`);
  const reps = Number(values.reps);
  const rounds = Number(values.rounds);
  const stepsOnly = values['steps-only'] ?? false;
  const gen = new Generator(7);
  const model = new SmallCNN({ generator: gen, width: Number(values.width) });
  const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  const x = gen.uniform([128, 1, 28, 28]).keep();
  const y = gen.randint([128], 0, 10).keep();
  const which = positionals.length ? positionals : ['train', 'pgd'];
  const all = which.includes('all');
  if (all || which.includes('train'))
    await profile(rt, 'train step (SmallCNN b128, SGD)', () =>
      scope(() => {
        model.train();
        const loss = crossEntropy(model.forward(x), y);
        opt.step(grad(loss, opt.params));
      }), reps, rounds, stepsOnly);
  /** One PGD step on `m` (eval mode): the input gradient and the ℓ∞ step. */
  const pgdStep = (m: SmallCNN) => {
    const classifier = moduleClassifier(m);
    return () =>
      scope(() => {
        const g = inputGradient(classifier, x, (z: Tensor) => crossEntropyLoss(z, y)).grad;
        void linfStep(x, g, x, 8 / 255, 2 / 255);
      });
  };
  if (all || which.includes('pgd')) await profile(rt, 'PGD step (SmallCNN b128, eval mode)', pgdStep(model), reps, rounds, stepsOnly);
  if (all || which.includes('at'))
    await profile(rt, 'Madry PGD-7 AT step (SmallCNN b128)', () =>
      scope(() => {
        const loss = adversarialLoss(model, x, y, { method: 'madry', eps: 0.1, stepSize: 0.025, steps: 7, generator: gen });
        opt.step(grad(loss, opt.params));
      }), 1, rounds, stepsOnly);
  if (all || which.includes('sparse')) {
    // Eval-mode forward with every conv magnitude-pruned to 80% on the sparse kernels.
    const pruned = new SmallCNN({ generator: gen, width: Number(values.width) }).eval();
    await pruneAndCompress(pruned, 0.8);
    await profile(rt, 'eval forward, convs 80% sparse (SmallCNN b128)', () => scope(() => void noGrad(() => pruned.forward(x))), reps, rounds, stepsOnly);
    model.eval();
    await profile(rt, 'eval forward, dense (SmallCNN b128)', () => scope(() => void noGrad(() => model.forward(x))), reps, rounds, stepsOnly);
  }
  if (all || which.includes('sparse-resnet')) {
    const xr = gen.uniform([32, 3, 32, 32]).keep();
    const dense = new ResNet18({ generator: gen }).eval();
    const pruned = new ResNet18({ generator: gen }).eval();
    pruned.loadStateDict(dense.stateDict());
    await pruneAndCompress(pruned, 0.8);
    await profile(rt, 'eval forward, convs 80% sparse (ResNet-18 b32)', () => scope(() => void noGrad(() => pruned.forward(xr))), reps, rounds, stepsOnly);
    await profile(rt, 'eval forward, dense (ResNet-18 b32)', () => scope(() => void noGrad(() => dense.forward(xr))), reps, rounds, stepsOnly);
  }
  if (all || which.includes('sparse-pgd')) {
    const sparsity = Number(values.sparsity || 0.8);
    const pruned = new SmallCNN({ generator: gen, width: Number(values.width) }).eval();
    await pruneAndCompress(pruned, sparsity);
    await profile(rt, `PGD step, convs ${sparsity * 100}% sparse (SmallCNN b128, eval mode)`, pgdStep(pruned), reps, rounds, stepsOnly);
  }
  if (all || which.includes('sparse-train')) {
    const sparsity = Number(values.sparsity || 0.8);
    const pruned = new SmallCNN({ generator: gen, width: Number(values.width) }).train();
    await pruneAndCompress(pruned, sparsity);
    markTrainable(pruned);
    await profile(rt, `training pass, convs ${sparsity * 100}% sparse, masks fixed (SmallCNN b128)`, () =>
      scope(() => void grad(crossEntropy(pruned.forward(x), y), pruned.parameters())), reps, rounds, stepsOnly);
  }
  if (all || which.includes('ensemble')) {
    const sparsity = Number(values.sparsity || 0.95);
    const members = [0, 1, 2, 3].map(() => new SmallCNN({ generator: gen, width: Number(values.width) }));
    for (const m of members) await pruneAndCompress(m, sparsity);
    // As withSparseKernels leaves them inside a step: the training pass on the sparse kernels too
    // (--masked-training: on the masked dense path, as before it had a weight gradient).
    if (!values['masked-training']) members.forEach(markTrainable);
    const settings = { ...ENSEMBLE_TRAIN_DEFAULTS, batchSize: 128, eps: 0.1, stepSize: 0.025, attackSteps: 7 };
    const opts = members.map((m) => new SGD(m.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 }));
    const xt = gen.uniform([128, 1, 28, 28]).keep();
    const training = values['masked-training'] ? 'masked dense training pass' : 'sparse training pass';
    await profile(rt, `ensemble step, 4 SmallCNN members, convs ${sparsity * 100}% sparse, ${training} (b128, PGD-7, distill 10)`, () =>
      scope(() => {
        const t = ensembleLoss(members, x, y, xt, { settings, layer: 2, diversity: 'dverge', generator: gen });
        const grads = grad(t.total, opts.flatMap((o) => o.params), { allowUnused: true });
        let k = 0;
        for (const o of opts) {
          o.step(grads.slice(k, k + o.params.length));
          k += o.params.length;
        }
      }), reps, rounds, stepsOnly);
  }
  process.exit(0);
}

void main();
