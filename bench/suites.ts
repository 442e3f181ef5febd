// Benchmark cases, grouped in suites. A case owns its tensors: setup() allocates, run() records
// the work (the harness waits for the GPU), teardown() frees.

import { grad } from '../src/engine/autograd.js';
import { scope } from '../src/engine/scope.js';
import type { Tensor } from '../src/engine/tensor.js';
import { ResNet18 } from '../src/nn/models/resnet.js';
import { SmallCNN } from '../src/nn/models/smallCnn.js';
import type { Module } from '../src/nn/module.js';
import { conv2d, convGradInput, convGradWeight, crossEntropy, Generator, maskedConv2d, matmul, SparseConv2d, sparseConv2d, tensor } from '../src/ops/index.js';
import { noGrad } from '../src/engine/autograd.js';
import { pruneAndCompress, releasePruning } from './magnitudePruning.js';
import { markTrainable } from '../src/pruning/sparseInference.js';
import { convGeometry, forceConvStrategy, setMaskedGemmWeights, type ConvStrategy, type MaskedGemmWeights } from '../kernels/conv2d.js';
import { forceGemmKernel, forceMatmulVariant, subgroupGemmSupported, type MatmulVariant } from '../kernels/matmul.js';
import { GEMM_KERNELS, type GemmKernelName } from '../kernels/tuning.js';
import { SGD } from '../src/optim/sgd.js';
import { moduleClassifier } from '../src/attacks/classifier.js';
import { pgd } from '../src/attacks/pgd.js';

export interface BenchCase {
  name: string;
  shape: string;
  flops: number | null;
  setup(): Promise<Record<string, unknown>> | Record<string, unknown>;
  run(state: Record<string, unknown>): void;
  teardown(state: Record<string, unknown>): void;
}

const gen = new Generator(2024);

function disposeAll(state: Record<string, unknown>): void {
  for (const v of Object.values(state)) {
    if (v && typeof v === 'object' && 'dispose' in v && typeof (v as { dispose: unknown }).dispose === 'function')
      (v as { dispose(): void }).dispose();
  }
}

function matmulCases(): BenchCase[] {
  const n = 1024;
  // The scalar kernel, and the vec4 GEMM as each of its kernels (the tuned one is what models get).
  const variants: [MatmulVariant, GemmKernelName | null][] = [
    ['vec4', null],
    ...GEMM_KERNELS.filter((k) => k !== 'subgroup' || subgroupGemmSupported()).map((k): [MatmulVariant, GemmKernelName] => ['vec4', k]),
    ['scalar', null],
  ];
  return variants.map(([variant, kernel]) => ({
    name: `matmul[${variant}${kernel ? `:${kernel}` : ''}]`,
    shape: `${n}x${n}x${n}`,
    flops: 2 * n ** 3,
    setup: () => ({ a: gen.uniform([n, n]).keep(), b: gen.uniform([n, n]).keep() }),
    run: (s: Record<string, unknown>) => {
      forceMatmulVariant(variant);
      forceGemmKernel(kernel);
      try {
        scope(() => void matmul(s.a as Tensor, s.b as Tensor));
      } finally {
        forceMatmulVariant(null);
        forceGemmKernel(null);
      }
    },
    teardown: disposeAll,
  }));
}

/** The ResNet-18 CIFAR conv shapes (3×3, stride 1, pad 1) at batch 32. */
export const RESNET_CONV_SHAPES: [number, number, number][] = [
  [3, 64, 32],
  [64, 64, 32],
  [128, 128, 16],
  [256, 256, 8],
  [512, 512, 4],
];

/** Runs fn with a conv strategy forced (null: the automatic choice). */
function withStrategy(strategy: ConvStrategy | null, fn: () => void): void {
  forceConvStrategy(strategy);
  try {
    fn();
  } finally {
    forceConvStrategy(null);
  }
}

function convCases(batch = 32): BenchCase[] {
  const out: BenchCase[] = [];
  for (const strategy of ['gemm', 'direct', 'gemm-split'] as ConvStrategy[]) {
    for (const [cin, cout, hw] of RESNET_CONV_SHAPES) {
      const flops = 2 * batch * cout * hw * hw * cin * 9;
      const shape = `b${batch} ${cin}->${cout} @${hw}x${hw}`;
      const g = convGeometry([batch, cin, hw, hw], [cout, cin, 3, 3], [1, 1], [1, 1]);
      const setup = () => ({
        x: gen.uniform([batch, cin, hw, hw]).keep(),
        w: gen.uniform([cout, cin, 3, 3], -0.1, 0.1).keep(),
        gy: gen.uniform([batch, cout, hw, hw]).keep(),
      });
      const passes: [string, (s: Record<string, unknown>) => Tensor][] = [
        ['forward', (s) => conv2d(s.x as Tensor, s.w as Tensor, null, { padding: 1 })],
        ['grad_input', (s) => convGradInput(s.gy as Tensor, s.w as Tensor, g)],
        ['grad_weight', (s) => convGradWeight(s.x as Tensor, s.gy as Tensor, g)],
      ];
      // 'gemm-split' differs from 'gemm' only in the weight gradient.
      for (const [pass, fn] of passes.filter(([p]) => strategy !== 'gemm-split' || p === 'grad_weight'))
        out.push({
          name: `conv2d.${pass}[${strategy}]`,
          shape,
          flops,
          setup,
          run: (s) => withStrategy(strategy, () => scope(() => void fn(s))),
          teardown: disposeAll,
        });
    }
  }
  return out;
}

function trainStepCase(name: string, shape: string, make: () => Module, input: number[], classes: number): BenchCase {
  return {
    name,
    shape,
    flops: null,
    setup: () => {
      const model = make();
      const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
      const x = gen.uniform(input).keep();
      const y = gen.randint([input[0]], 0, classes).keep();
      return { model, opt, x, y };
    },
    run: (s) =>
      scope(() => {
        const model = s.model as Module;
        const opt = s.opt as SGD;
        model.train();
        const loss = crossEntropy(model.forward(s.x as Tensor), s.y as Tensor);
        opt.step(grad(loss, opt.params));
      }),
    teardown: disposeAll,
  };
}

function trainCases(): BenchCase[] {
  return [
    trainStepCase('train_step.smallcnn', 'b128 1x28x28', () => new SmallCNN({ generator: gen }), [128, 1, 28, 28], 10),
    trainStepCase('train_step.resnet18_w0.25', 'b32 3x32x32', () => new ResNet18({ width: 0.25, generator: gen }), [32, 3, 32, 32], 10),
    trainStepCase('train_step.resnet18', 'b32 3x32x32', () => new ResNet18({ generator: gen }), [32, 3, 32, 32], 10),
  ];
}

/** PGD-20 on a batch (images/s = batch / median seconds; flops not counted). */
function attackCase(name: string, shape: string, make: () => Module, input: number[], classes: number): BenchCase {
  return {
    name,
    shape,
    flops: null,
    setup: () => ({ model: make(), x: gen.uniform(input).keep(), y: gen.randint([input[0]], 0, classes).keep() }),
    run: (s) =>
      scope(() => {
        const model = s.model as Module;
        void pgd(moduleClassifier(model), s.x as Tensor, s.y as Tensor, { eps: 8 / 255, stepSize: 2 / 255, steps: 20, generator: gen });
      }),
    teardown: disposeAll,
  };
}

function attackCases(): BenchCase[] {
  return [
    attackCase('pgd20.smallcnn', 'b128 1x28x28', () => new SmallCNN({ generator: gen }), [128, 1, 28, 28], 10),
    attackCase('pgd20.resnet18_w0.25', 'b32 3x32x32', () => new ResNet18({ width: 0.25, generator: gen }), [32, 3, 32, 32], 10),
  ];
}

/** Host weights in [−0.1, 0.1) with a fraction `sparsity` of them zeroed at random (unstructured). */
function prunedWeights(count: number, sparsity: number, seed: number): { w: Float32Array; mask: Float32Array } {
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const w = new Float32Array(count);
  const mask = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    mask[i] = next() >= sparsity ? 1 : 0;
    w[i] = (next() * 0.2 - 0.1) * mask[i];
  }
  return { w, mask };
}

/**
 * Pruned convolutions, forward only, at the ResNet-18 CIFAR shapes (batch 32): the dense conv
 * (automatic strategy), the masked conv (both ways the GEMM path can apply the mask; its cost does
 * not depend on the sparsity) and the sparse kernel the adapter's tuning picks (`sparse.kernel`) at
 * 0–95% unstructured sparsity. GFLOP/s are effective: the
 * dense convolution's flops over the time taken.
 */
function sparseCases(batch = 32): BenchCase[] {
  const out: BenchCase[] = [];
  for (const [cin, cout, hw] of RESNET_CONV_SHAPES) {
    const flops = 2 * batch * cout * hw * hw * cin * 9;
    const shape = `b${batch} ${cin}->${cout} @${hw}x${hw}`;
    const wshape = [cout, cin, 3, 3];
    const count = cout * cin * 9;
    const dense = (sparsity: number) => () => {
      const { w, mask } = prunedWeights(count, sparsity, cin * 7919 + cout);
      return { x: gen.uniform([batch, cin, hw, hw]).keep(), w: tensor(w, wshape).keep(), mask: tensor(mask, wshape).keep() };
    };
    out.push({
      name: 'sparse.dense',
      shape,
      flops,
      setup: dense(0.9),
      run: (s) => scope(() => void conv2d(s.x as Tensor, s.w as Tensor, null, { padding: 1 })),
      teardown: disposeAll,
    });
    for (const mode of ['premultiplied', 'in-kernel'] as MaskedGemmWeights[])
      out.push({
        name: `sparse.masked[${mode}]`,
        shape,
        flops,
        setup: dense(0.9),
        run: (s) => {
          setMaskedGemmWeights(mode);
          try {
            scope(() => void maskedConv2d(s.x as Tensor, s.w as Tensor, s.mask as Tensor, null, { padding: 1 }));
          } finally {
            setMaskedGemmWeights('premultiplied');
          }
        },
        teardown: disposeAll,
      });
    for (const sparsity of [0, 0.5, 0.8, 0.9, 0.95]) {
      out.push({
        name: `sparse.kernel@${Math.round(sparsity * 100)}%`,
        shape,
        flops,
        setup: () => {
          const { w } = prunedWeights(count, sparsity, cin * 7919 + cout);
          return { x: gen.uniform([batch, cin, hw, hw]).keep(), sparse: SparseConv2d.fromDense(w, wshape) };
        },
        run: (s) => scope(() => void sparseConv2d(s.x as Tensor, s.sparse as SparseConv2d, null, { padding: 1 })),
        teardown: disposeAll,
      });
    }
  }
  return out;
}

function disposeModel(state: Record<string, unknown>): void {
  releasePruning(state.model as Module);
  disposeAll(state);
}

/**
 * Issue 6's end-to-end measurement: the eval-mode forward pass (no gradient) of a model, dense
 * against its magnitude-pruned copy with the convolutions on the zero-skipping sparse kernel.
 */
function prunedForwardCases(label: string, makeModel: () => Module, input: number[]): BenchCase[] {
  const shape = `b${input[0]} ${input.slice(1).join('x')}`;
  const setupModel = () => {
    const model = makeModel();
    model.eval();
    return { model, x: gen.uniform(input).keep() };
  };
  const run = (s: Record<string, unknown>) => scope(() => void noGrad(() => (s.model as Module).forward(s.x as Tensor)));
  const cases: BenchCase[] = [{ name: `sparse.${label}_forward.dense`, shape, flops: null, setup: setupModel, run, teardown: disposeModel }];
  for (const sparsity of [0.8, 0.9, 0.95])
    // all: every conv compressed; timed: compressForInference keeps a layer sparse only where it measured faster.
    for (const mode of ['all', 'timed'] as const)
      cases.push({
        name: `sparse.${label}_forward.${mode}@${Math.round(sparsity * 100)}%`,
        shape,
        flops: null,
        setup: async () => {
          const state = setupModel();
          await pruneAndCompress(state.model, sparsity, mode === 'timed' ? state.x : undefined);
          return state;
        },
        run,
        teardown: disposeModel,
      });
  return cases;
}

/**
 * One training pass (train mode: forward, cross-entropy, gradients of every parameter) of a model
 * dense against its magnitude-pruned copy whose convolutions run the compressed kernels in both
 * passes and take their weight gradient at the kept entries (markTrainable, as fine-tuning and the
 * ensemble stage run it). `node dist/bench/sparseAb.js train` measures the same pass A/B-interleaved.
 */
function prunedTrainCases(label: string, makeModel: () => Module, input: number[], classes: number): BenchCase[] {
  const shape = `b${input[0]} ${input.slice(1).join('x')}`;
  const setupModel = () => {
    const model = makeModel();
    model.train();
    return { model, x: gen.uniform(input).keep(), y: gen.randint([input[0]], 0, classes).keep() };
  };
  const run = (s: Record<string, unknown>) =>
    scope(() => {
      const model = s.model as Module;
      void grad(crossEntropy(model.forward(s.x as Tensor), s.y as Tensor), model.parameters());
    });
  const cases: BenchCase[] = [{ name: `sparse.${label}_train.dense`, shape, flops: null, setup: setupModel, run, teardown: disposeModel }];
  for (const sparsity of [0.8, 0.9, 0.95])
    cases.push({
      name: `sparse.${label}_train.sparse@${Math.round(sparsity * 100)}%`,
      shape,
      flops: null,
      setup: async () => {
        const state = setupModel();
        await pruneAndCompress(state.model, sparsity);
        markTrainable(state.model);
        return state;
      },
      run,
      teardown: disposeModel,
    });
  return cases;
}

export const SUITES: Record<string, () => BenchCase[]> = {
  matmul: matmulCases,
  conv2d: () => convCases(32),
  train: trainCases,
  attack: attackCases,
  sparse: () => [
    ...sparseCases(32),
    ...prunedForwardCases('smallcnn', () => new SmallCNN({ generator: gen }), [128, 1, 28, 28]),
    ...prunedForwardCases('resnet18', () => new ResNet18({ generator: gen }), [32, 3, 32, 32]),
    ...prunedTrainCases('smallcnn', () => new SmallCNN({ generator: gen }), [128, 1, 28, 28], 10),
  ],
};
