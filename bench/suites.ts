// Benchmark cases, grouped in suites. A case owns its tensors: setup() allocates, run() records
// the work (the harness waits for the GPU), teardown() frees.

import { grad } from '../src/engine/autograd.js';
import { scope } from '../src/engine/scope.js';
import type { Tensor } from '../src/engine/tensor.js';
import { ResNet18 } from '../src/nn/models/resnet.js';
import { SmallCNN } from '../src/nn/models/smallCnn.js';
import type { Module } from '../src/nn/module.js';
import { conv2d, convGradInput, convGradWeight, crossEntropy, Generator, matmul } from '../src/ops/index.js';
import { convGeometry, forceConvStrategy, type ConvStrategy } from '../kernels/conv2d.js';
import { forceMatmulVariant, type MatmulVariant } from '../kernels/matmul.js';
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
  return (['vec4', 'scalar'] as MatmulVariant[]).map((variant) => ({
    name: `matmul[${variant}]`,
    shape: `${n}x${n}x${n}`,
    flops: 2 * n ** 3,
    setup: () => ({ a: gen.uniform([n, n]).keep(), b: gen.uniform([n, n]).keep() }),
    run: (s: Record<string, unknown>) => {
      forceMatmulVariant(variant);
      try {
        scope(() => void matmul(s.a as Tensor, s.b as Tensor));
      } finally {
        forceMatmulVariant(null);
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
  for (const strategy of ['gemm', 'direct'] as ConvStrategy[]) {
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
      for (const [pass, fn] of passes)
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

export const SUITES: Record<string, () => BenchCase[]> = {
  matmul: matmulCases,
  conv2d: () => convCases(32),
  train: trainCases,
  attack: attackCases,
};
