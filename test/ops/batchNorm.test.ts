// batchNorm2d (src/ops/batchNorm.ts): training mode (batch statistics, running-stat update with the
// unbiased variance, as in PyTorch) and eval mode (running statistics), with gradients.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { batchNorm2dEval, batchNorm2dTrain, batchNormStats } from '../reference/ops.js';
import {
  checkOp,
  expectClose,
  expectThrowsMentioning,
  mulberry32,
  nd,
  randomArray,
  readNumbers,
  seedArb,
  up,
  type NDArray,
} from './helpers.js';

const bnArb = fc
  .record({
    n: fc.integer({ min: 1, max: 3 }),
    c: fc.constantFrom(1, 2, 3, 5),
    h: fc.integer({ min: 1, max: 7 }),
    w: fc.integer({ min: 1, max: 7 }),
    affine: fc.boolean(),
    eps: fc.constantFrom(1e-5, 1e-3),
    seed: seedArb,
  })
  .filter((p) => p.n * p.h * p.w >= 3);

const reluRef = (a: NDArray): NDArray => nd(a.shape, a.data.map((v) => Math.max(v, 0)));
const ones = (c: number): NDArray => nd([c], new Array<number>(c).fill(1));
const zeros = (c: number): NDArray => nd([c]);

describe('batchNorm2d, training mode', () => {
  it('normalises with batch statistics; gradients in x, weight and bias match the reference', async () => {
    await fc.assert(
      fc.asyncProperty(bnArb, async (p) => {
        const rng = mulberry32(p.seed);
        const x = randomArray([p.n, p.c, p.h, p.w], rng, -2, 3);
        // Well-conditioned batches only: a near-constant channel makes 1/σ huge and f32 gradients
        // meaningless (the reference would be just as ill-conditioned).
        const { variance } = batchNormStats(x);
        fc.pre(Array.from(variance.data).every((v) => v > 0.05));
        const inputs = p.affine ? [x, randomArray([p.c], rng, 0.5, 1.5), randomArray([p.c], rng)] : [x];
        await checkOp({
          label: `batchNorm2d train [${p.n}, ${p.c}, ${p.h}, ${p.w}] affine ${p.affine}`,
          gpu: ([t, w, b]) => E.batchNorm2d(t, null, null, w ?? null, b ?? null, { training: true, eps: p.eps }),
          ref: ([t, w, b]) => batchNorm2dTrain(t, w ?? ones(p.c), b ?? zeros(p.c), p.eps),
          inputs,
          wrt: inputs.map((_, i) => i),
          seed: p.seed,
          fwd: { rtol: 1e-4, atol: 1e-4 },
          grad: { rtol: 2e-3, atol: 5e-4 },
        });
      }),
      { numRuns: 20 },
    );
  });

  it('updates running statistics in place: (1 − m)·old + m·batch, with the unbiased variance', async () => {
    await fc.assert(
      fc.asyncProperty(bnArb, fc.constantFrom(0.1, 0.3, 1), async (p, momentum) => {
        const rng = mulberry32(p.seed);
        const x = randomArray([p.n, p.c, p.h, p.w], rng, -2, 3);
        const rm0 = randomArray([p.c], rng);
        const rv0 = randomArray([p.c], rng, 0.5, 2);
        fc.pre(Array.from(batchNormStats(x).variance.data).every((v) => v > 0.05));
        const rm = up(rm0);
        const rv = up(rv0);
        const stats = batchNormStats(x);
        const y = E.batchNorm2d(up(x), rm, rv, null, null, { training: true, momentum, eps: p.eps });
        expectClose(await y.data(), batchNorm2dTrain(x, ones(p.c), zeros(p.c), p.eps).data, {
          rtol: 1e-4,
          atol: 1e-4,
          label: 'output',
        });
        const wantMean = rm0.data.map((v, i) => (1 - momentum) * v + momentum * stats.mean.data[i]);
        const wantVar = rv0.data.map((v, i) => (1 - momentum) * v + momentum * stats.unbiasedVariance.data[i]);
        expectClose(await rm.data(), wantMean, { rtol: 1e-5, atol: 1e-5, label: 'running mean' });
        expectClose(await rv.data(), wantVar, { rtol: 1e-4, atol: 1e-5, label: 'running var' });
      }),
      { numRuns: 15 },
    );
  });

  it('momentum defaults to 0.1 and the statistics accumulate over steps', async () => {
    const x = nd([2, 1, 1, 2], [1, 2, 3, 6]); // mean 3, unbiased var 14/3
    const rm = E.zeros([1]);
    const rv = E.ones([1]);
    E.batchNorm2d(up(x), rm, rv, null, null, { training: true });
    E.batchNorm2d(up(x), rm, rv, null, null, { training: true });
    expectClose(await readNumbers(rm), [0.19 * 3], { rtol: 1e-6, label: 'running mean' });
    expectClose(await readNumbers(rv), [0.81 + 0.19 * (14 / 3)], { rtol: 1e-6, label: 'running var' });
  });

  it('one-pass statistics stay exact far from zero and over uneven batch chunks', async () => {
    // Values 1000 ± 1: E[x²] − mean² would lose the variance to cancellation in f32. 128 channels
    // of 5 items split the batch into chunks of 3 and 2 items, merged per channel.
    for (const [n, c] of [[5, 128], [7, 1]] as const) {
      const rng = mulberry32(n * c);
      const x = randomArray([n, c, 3, 3], rng, 999, 1001);
      const stats = batchNormStats(x);
      const rm = E.zeros([c]);
      const rv = E.zeros([c]);
      const y = E.batchNorm2d(up(x), rm, rv, null, null, { training: true, momentum: 1 });
      expectClose(await rm.data(), stats.mean.data, { rtol: 1e-6, label: `${n}x${c} mean` });
      expectClose(await rv.data(), stats.unbiasedVariance.data, { rtol: 2e-3, atol: 1e-4, label: `${n}x${c} variance` });
      expectClose(await y.data(), batchNorm2dTrain(x, ones(c), zeros(c), 1e-5).data, { rtol: 2e-3, atol: 2e-3, label: `${n}x${c} output` });
    }
  });

  it('training with one value per channel throws', () => {
    expect(() => E.batchNorm2d(E.zeros([1, 2, 1, 1]), null, null, null, null, { training: true })).toThrow(/1 value/);
  });
});

describe('batchNorm2d, eval mode', () => {
  it('normalises with the running statistics; gradients in x, weight and bias match the reference', async () => {
    await fc.assert(
      fc.asyncProperty(bnArb, async (p) => {
        const rng = mulberry32(p.seed);
        const x = randomArray([p.n, p.c, p.h, p.w], rng, -2, 3);
        const rm = randomArray([p.c], rng);
        const rv = randomArray([p.c], rng, 0.3, 2);
        const inputs = p.affine ? [x, randomArray([p.c], rng, 0.5, 1.5), randomArray([p.c], rng)] : [x];
        await checkOp({
          label: `batchNorm2d eval [${p.n}, ${p.c}, ${p.h}, ${p.w}] affine ${p.affine}`,
          gpu: ([t, w, b]) => E.batchNorm2d(t, up(rm), up(rv), w ?? null, b ?? null, { training: false, eps: p.eps }),
          ref: ([t, w, b]) => batchNorm2dEval(t, rm, rv, w ?? ones(p.c), b ?? zeros(p.c), p.eps),
          inputs,
          wrt: inputs.map((_, i) => i),
          seed: p.seed,
          fwd: { rtol: 1e-5, atol: 1e-5 },
        });
      }),
      { numRuns: 15 },
    );
  });

  it('leaves the running statistics untouched', async () => {
    const rm = E.tensor([0.5, -0.5]);
    const rv = E.tensor([2, 3]);
    E.batchNorm2d(E.ones([2, 2, 2, 2]), rm, rv, null, null, { training: false });
    expect(await readNumbers(rm)).toEqual([0.5, -0.5]);
    expect(await readNumbers(rv)).toEqual([2, 3]);
  });
});

describe('batchNorm2d errors', () => {
  it('names the parameter and both shapes when a channel vector does not match', () => {
    expectThrowsMentioning(
      () => E.batchNorm2d(E.zeros([2, 3, 2, 2]), E.zeros([4]), E.ones([3]), null, null, { training: true }),
      ['running_mean', '[4]', '[2, 3, 2, 2]'],
    );
    expectThrowsMentioning(
      () => E.batchNorm2d(E.zeros([2, 3, 2, 2]), null, null, E.ones([2]), null, { training: true }),
      ['weight', '[2]'],
    );
    expectThrowsMentioning(() => E.batchNorm2d(E.zeros([2, 3]), null, null, null, null, { training: true }), ['[2, 3]']);
  });
});

describe('batchNormRelu (fused batch norm + ReLU)', () => {
  for (const training of [true, false])
    it(`${training ? 'training' : 'eval'} mode: relu(batchNorm2d) and its gradients in x, weight and bias match the reference`, async () => {
      await fc.assert(
        fc.asyncProperty(bnArb, async (p) => {
          const rng = mulberry32(p.seed);
          const x = randomArray([p.n, p.c, p.h, p.w], rng, -2, 3);
          if (training) fc.pre(Array.from(batchNormStats(x).variance.data).every((v) => v > 0.05));
          const rm = randomArray([p.c], rng);
          const rv = randomArray([p.c], rng, 0.3, 2);
          const inputs = p.affine ? [x, randomArray([p.c], rng, 0.5, 1.5), randomArray([p.c], rng)] : [x];
          const preActivation = ([t, w, b]: NDArray[]): NDArray =>
            training
              ? batchNorm2dTrain(t, w ?? ones(p.c), b ?? zeros(p.c), p.eps)
              : batchNorm2dEval(t, rm, rv, w ?? ones(p.c), b ?? zeros(p.c), p.eps);
          // Central differences are meaningless at ReLU's kink: keep every output away from it
          // (a pre-activation of 1.8e-6, inside the step h = 1e-5, once failed this test).
          fc.pre(preActivation(inputs).data.every((v) => Math.abs(v) > 1e-4));
          await checkOp({
            label: `batchNormRelu ${training ? 'train' : 'eval'} [${p.n}, ${p.c}, ${p.h}, ${p.w}] affine ${p.affine}`,
            gpu: ([t, w, b]) =>
              training
                ? E.batchNormRelu(t, null, null, w ?? null, b ?? null, { training: true, eps: p.eps })
                : E.batchNormRelu(t, up(rm), up(rv), w ?? null, b ?? null, { training: false, eps: p.eps }),
            ref: (xs) => reluRef(preActivation(xs)),
            inputs,
            wrt: inputs.map((_, i) => i),
            seed: p.seed,
            fwd: { rtol: 1e-4, atol: 1e-4 },
            grad: { rtol: 2e-3, atol: 5e-4 },
          });
        }),
        { numRuns: 15 },
      );
    });

  it('updates the running statistics as batchNorm2d does', async () => {
    const rng = mulberry32(11);
    const x = randomArray([3, 2, 3, 3], rng, -2, 3);
    const [rmA, rvA, rmB, rvB] = [E.zeros([2]), E.ones([2]), E.zeros([2]), E.ones([2])];
    E.batchNormRelu(up(x), rmA, rvA, null, null, { training: true, momentum: 0.3 });
    E.batchNorm2d(up(x), rmB, rvB, null, null, { training: true, momentum: 0.3 });
    expectClose(await readNumbers(rmA), await readNumbers(rmB), { rtol: 1e-6, label: 'running mean' });
    expectClose(await readNumbers(rvA), await readNumbers(rvB), { rtol: 1e-6, label: 'running var' });
  });

  for (const training of [true, false])
    it(`${training ? 'training' : 'eval'} mode: double backward equals that of relu(batchNorm2d)`, async () => {
      const rng = mulberry32(training ? 21 : 22);
      const x = randomArray([3, 4, 5, 5], rng, -2, 3);
      const wt = randomArray([4], rng, 0.5, 1.5);
      const bs = randomArray([4], rng);
      const rm = randomArray([4], rng);
      const rv = randomArray([4], rng, 0.3, 2);
      const vx = randomArray(x.shape, rng);
      const vw = randomArray([4], rng);
      const r = randomArray(x.shape, rng);
      // Second derivatives of L = Σ (r·y + y³): the linear term makes the ReLU's mask matter in
      // the first derivative, the cube gives a second derivative in eval mode too.
      const secondOrder = (layer: (x: E.Tensor, w: E.Tensor, b: E.Tensor) => E.Tensor) =>
        E.scopeAsync(async () => {
          const xv = E.variable(up(x));
          const wv = E.variable(up(wt));
          const bv = E.variable(up(bs));
          const y = layer(xv, wv, bv);
          const [gx, gw] = E.grad(E.sum(E.add(E.mul(y, up(r)), E.mul(E.mul(y, y), y))), [xv, wv], { createGraph: true });
          const s = E.add(E.sum(E.mul(gx, up(vx))), E.sum(E.mul(gw, up(vw))));
          const [hx, hw, hb] = E.grad(s, [xv, wv, bv]);
          return { hx: Array.from(await hx.data()), hw: Array.from(await hw.data()), hb: Array.from(await hb.data()) };
        });
      const opts = { training, eps: 1e-5 };
      const stats = (): [E.Tensor | null, E.Tensor | null] => (training ? [null, null] : [up(rm), up(rv)]);
      const got = await secondOrder((xv, wv, bv) => E.batchNormRelu(xv, ...stats(), wv, bv, opts));
      const want = await secondOrder((xv, wv, bv) => E.relu(E.batchNorm2d(xv, ...stats(), wv, bv, opts)));
      expectClose(got.hx, want.hx, { rtol: 1e-4, atol: 1e-4, label: 'd²/dx' });
      expectClose(got.hw, want.hw, { rtol: 1e-4, atol: 1e-4, label: 'd²/dw' });
      expectClose(got.hb, want.hb, { rtol: 1e-4, atol: 1e-4, label: 'd²/db' });
    });
});

describe('batchNormAddRelu (fused batch norm + residual add + ReLU)', () => {
  const addRef = (a: NDArray, r: NDArray): NDArray => nd(a.shape, a.data.map((v, i) => v + r.data[i]));
  for (const training of [true, false])
    it(`${training ? 'training' : 'eval'} mode: relu(batchNorm2d + r) and its gradients in x, r, weight and bias match the reference`, async () => {
      await fc.assert(
        fc.asyncProperty(bnArb, async (p) => {
          const rng = mulberry32(p.seed);
          const x = randomArray([p.n, p.c, p.h, p.w], rng, -2, 3);
          if (training) fc.pre(Array.from(batchNormStats(x).variance.data).every((v) => v > 0.05));
          const rm = randomArray([p.c], rng);
          const rv = randomArray([p.c], rng, 0.3, 2);
          const r = randomArray(x.shape, rng, -1.5, 1.5);
          const inputs = p.affine ? [x, r, randomArray([p.c], rng, 0.5, 1.5), randomArray([p.c], rng)] : [x, r];
          const preActivation = ([t, res, w, b]: NDArray[]): NDArray =>
            addRef(
              training
                ? batchNorm2dTrain(t, w ?? ones(p.c), b ?? zeros(p.c), p.eps)
                : batchNorm2dEval(t, rm, rv, w ?? ones(p.c), b ?? zeros(p.c), p.eps),
              res,
            );
          // Away from ReLU's kink, where central differences are meaningless (as batchNormRelu's test).
          fc.pre(preActivation(inputs).data.every((v) => Math.abs(v) > 1e-4));
          await checkOp({
            label: `batchNormAddRelu ${training ? 'train' : 'eval'} [${p.n}, ${p.c}, ${p.h}, ${p.w}] affine ${p.affine}`,
            gpu: ([t, res, w, b]) =>
              training
                ? E.batchNormAddRelu(t, res, null, null, w ?? null, b ?? null, { training: true, eps: p.eps })
                : E.batchNormAddRelu(t, res, up(rm), up(rv), w ?? null, b ?? null, { training: false, eps: p.eps }),
            ref: (xs) => reluRef(preActivation(xs)),
            inputs,
            wrt: inputs.map((_, i) => i),
            seed: p.seed,
            fwd: { rtol: 1e-4, atol: 1e-4 },
            grad: { rtol: 2e-3, atol: 5e-4 },
          });
        }),
        { numRuns: 10 },
      );
    });

  it('rejects a residual of another shape, naming both', () => {
    expect(() => E.batchNormAddRelu(E.zeros([2, 3, 4, 4]), E.zeros([2, 3, 4, 5]), null, null, null, null, { training: true })).toThrow(
      /residual \[2, 3, 4, 5\] does not match input \[2, 3, 4, 4\]/,
    );
  });

  for (const training of [true, false])
    it(`${training ? 'training' : 'eval'} mode: double backward equals that of relu(batchNorm2d + r)`, async () => {
      const rng = mulberry32(training ? 23 : 24);
      const x = randomArray([3, 4, 5, 5], rng, -2, 3);
      const res = randomArray(x.shape, rng);
      const wt = randomArray([4], rng, 0.5, 1.5);
      const bs = randomArray([4], rng);
      const rm = randomArray([4], rng);
      const rv = randomArray([4], rng, 0.3, 2);
      const vx = randomArray(x.shape, rng);
      const vr = randomArray(x.shape, rng);
      const r = randomArray(x.shape, rng);
      // As for batchNormRelu: L = Σ (r·y + y³), second derivatives along (vx, vr).
      const secondOrder = (layer: (x: E.Tensor, s: E.Tensor, w: E.Tensor, b: E.Tensor) => E.Tensor) =>
        E.scopeAsync(async () => {
          const xv = E.variable(up(x));
          const sv = E.variable(up(res));
          const wv = E.variable(up(wt));
          const bv = E.variable(up(bs));
          const y = layer(xv, sv, wv, bv);
          const [gx, gs] = E.grad(E.sum(E.add(E.mul(y, up(r)), E.mul(E.mul(y, y), y))), [xv, sv], { createGraph: true });
          const s = E.add(E.sum(E.mul(gx, up(vx))), E.sum(E.mul(gs, up(vr))));
          const [hx, hs, hw] = E.grad(s, [xv, sv, wv]);
          return { hx: Array.from(await hx.data()), hs: Array.from(await hs.data()), hw: Array.from(await hw.data()) };
        });
      const opts = { training, eps: 1e-5 };
      const stats = (): [E.Tensor | null, E.Tensor | null] => (training ? [null, null] : [up(rm), up(rv)]);
      const got = await secondOrder((xv, sv, wv, bv) => E.batchNormAddRelu(xv, sv, ...stats(), wv, bv, opts));
      const want = await secondOrder((xv, sv, wv, bv) => E.relu(E.add(E.batchNorm2d(xv, ...stats(), wv, bv, opts), sv)));
      expectClose(got.hx, want.hx, { rtol: 1e-4, atol: 1e-4, label: 'd²/dx' });
      expectClose(got.hs, want.hs, { rtol: 1e-4, atol: 1e-4, label: 'd²/dr' });
      expectClose(got.hw, want.hw, { rtol: 1e-4, atol: 1e-4, label: 'd²/dw' });
    });
});

describe('batch norm on planes of 64+ positions (16 positions per invocation, a partial last group)', () => {
  for (const [label, epilogue, training] of [
    ['batchNorm2d train', 'none', true],
    ['batchNorm2d eval', 'none', false],
    ['batchNormRelu train', 'relu', true],
    ['batchNormRelu eval', 'relu', false],
    ['batchNormAddRelu train', 'add-relu', true],
    ['batchNormAddRelu eval', 'add-relu', false],
  ] as const)
    it(label, async () => {
      const rng = mulberry32(31);
      const x = randomArray([2, 3, 9, 11], rng, -2, 3);
      const rm = randomArray([3], rng);
      const rv = randomArray([3], rng, 0.3, 2);
      const res = randomArray(x.shape, rng);
      const inputs = [x, randomArray([3], rng, 0.5, 1.5), randomArray([3], rng), ...(epilogue === 'add-relu' ? [res] : [])];
      const op = (t: E.Tensor, m: E.Tensor | null, v: E.Tensor | null, w: E.Tensor, b: E.Tensor, r: E.Tensor | undefined, o: E.BatchNormOptions) =>
        epilogue === 'add-relu' ? E.batchNormAddRelu(t, r!, m, v, w, b, o) : (epilogue === 'relu' ? E.batchNormRelu : E.batchNorm2d)(t, m, v, w, b, o);
      const after = (a: NDArray, r: NDArray | undefined): NDArray =>
        epilogue === 'none' ? a : nd(a.shape, a.data.map((v, i) => Math.max(v + (r ? r.data[i] : 0), 0)));
      await checkOp({
        label,
        gpu: ([t, w, b, r]) => (training ? op(t, null, null, w, b, r, { training: true }) : op(t, up(rm), up(rv), w, b, r, { training: false })),
        ref: ([t, w, b, r]) => after(training ? batchNorm2dTrain(t, w, b, 1e-5) : batchNorm2dEval(t, rm, rv, w, b, 1e-5), r),
        inputs,
        wrt: inputs.map((_, i) => i),
        seed: 31,
        fwd: { rtol: 1e-4, atol: 1e-4 },
        grad: { rtol: 2e-3, atol: 5e-4 },
      });
    });
});
