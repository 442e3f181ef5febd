// Reductions (src/ops/reduce.ts): sum, mean, max, min, argmax, variance and sumTo over random axis
// subsets (negative axes, keepDims), against the float64 reference; gradients by finite differences.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import { argmax, max, mean, sum, unary, variance } from '../reference/ops.js';
import { broadcastShapes } from '../reference/ndarray.js';
import {
  broadcastShapesArb,
  checkOp,
  distinctArray,
  expectClose,
  mulberry32,
  nd,
  numel,
  randomArray,
  readNumbers,
  seedArb,
  shapeArb,
  type NDArray,
} from './helpers.js';

const RUNS = { numRuns: 15 };

/** A shape, a subset of its axes (some written negatively, or undefined = all) and keepDims. */
const reductionArb = fc
  .record({
    shape: shapeArb(1, 4, 5),
    pick: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
    negative: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
    all: fc.boolean(),
    keepDims: fc.boolean(),
    seed: seedArb,
  })
  .map(({ shape, pick, negative, all, keepDims, seed }) => {
    let axes: number[] | undefined = shape
      .map((_, k) => k)
      .filter((k) => pick[k])
      .map((k) => (negative[k] ? k - shape.length : k));
    if (all) axes = undefined;
    return { shape, axes, keepDims, seed };
  });

/** Number of elements each output of a reduction over `axes` combines. */
function reducedCount(shape: readonly number[], axes: number[] | undefined): number {
  if (axes === undefined) return numel(shape);
  return axes.reduce((n, a) => n * shape[a < 0 ? a + shape.length : a], 1);
}

describe('sum and mean', () => {
  for (const [name, gpu, ref] of [
    ['sum', E.sum, sum],
    ['mean', E.mean, mean],
  ] as const) {
    it(`${name} over random axes matches the reference, with its gradient`, async () => {
      await fc.assert(
        fc.asyncProperty(reductionArb, async ({ shape, axes, keepDims, seed }) => {
          await checkOp({
            label: `${name} ${JSON.stringify(shape)} axes ${JSON.stringify(axes)} keepDims ${keepDims}`,
            gpu: ([x]) => gpu(x, axes, { keepDims }),
            ref: ([x]) => ref(x, axes, keepDims),
            inputs: [randomArray(shape, mulberry32(seed))],
            wrt: [0],
            seed,
          });
        }),
        RUNS,
      );
    });
  }

  it('reduces long axes (several chunks, then again) exactly like the reference', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 257, max: 1300 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        seedArb,
        async (k, outer, inner, seed) => {
          const x = randomArray([outer, k, inner], mulberry32(seed));
          await checkOp({
            label: `sum over ${k}`,
            gpu: ([t]) => E.sum(t, 1),
            ref: ([t]) => sum(t, [1]),
            inputs: [x],
            fwd: { rtol: 1e-5, atol: 1e-4 },
          });
          const d = distinctArray([outer, k, inner], mulberry32(seed), 0.01);
          await checkOp({ label: `max over ${k}`, gpu: ([t]) => E.max(t, 1), ref: ([t]) => max(t, [1]), inputs: [d] });
          await checkOp({
            label: `min over ${k}`,
            gpu: ([t]) => E.min(t, 1),
            ref: ([t]) => unary('neg', max(unary('neg', t), [1])),
            inputs: [d],
          });
          const idx = await readNumbers(E.argmax(E.tensor(Float32Array.from(d.data), d.shape), 1));
          expect(idx).toEqual(Array.from(argmax(d, 1).data));
        },
      ),
      { numRuns: 8 },
    );
  });

  it('sum over no axes is a copy and over all axes a scalar of shape []', async () => {
    const x = E.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const copy = E.sum(x, []);
    expect(copy.shape).toEqual([2, 3]);
    expect(await readNumbers(copy)).toEqual([1, 2, 3, 4, 5, 6]);
    const all = E.sum(x);
    expect(all.shape).toEqual([]);
    expect(await all.item()).toBe(21);
    expect(E.mean(x, undefined, { keepDims: true }).shape).toEqual([1, 1]);
  });
});

describe('max and min', () => {
  for (const name of ['max', 'min'] as const) {
    it(`${name} over random axes matches the reference, with its gradient (distinct values)`, async () => {
      await fc.assert(
        fc.asyncProperty(reductionArb, async ({ shape, axes, keepDims, seed }) => {
          const x = distinctArray(shape, mulberry32(seed), 0.05, 0.3);
          const ref =
            name === 'max'
              ? (t: NDArray) => max(t, axes, keepDims)
              : (t: NDArray) => unary('neg', max(unary('neg', t), axes, keepDims));
          await checkOp({
            label: `${name} ${JSON.stringify(shape)} axes ${JSON.stringify(axes)} keepDims ${keepDims}`,
            gpu: ([t]) => E[name](t, axes, { keepDims }),
            ref: ([t]) => ref(t),
            inputs: [x],
            wrt: [0],
            seed,
          });
        }),
        RUNS,
      );
    });
  }

  it('ties share the gradient equally (like torch.amax)', async () => {
    const x = E.variable(E.tensor([1, 3, 3, 2, -1, -1], [2, 3]));
    const [g] = E.grad(E.max(x), [x]);
    expect(await readNumbers(g)).toEqual([0, 0.5, 0.5, 0, 0, 0]);
    const [gRows] = E.grad(E.sum(E.min(x, 1)), [x]);
    expect(await readNumbers(gRows)).toEqual([1, 0, 0, 0, 0.5, 0.5]);
  });

  it('NaN propagates through max/min, and argmax picks the first NaN', async () => {
    const x = nd([2, 4], [1, NaN, 3, NaN, 0, 5, -2, 4]);
    const t = E.tensor(Float32Array.from(x.data), x.shape);
    expectClose(await readNumbers(E.max(t, 1)), max(x, [1]).data, { label: 'max' });
    expectClose(await readNumbers(E.min(t, 1)), [NaN, -2], { label: 'min' });
    expect(await readNumbers(E.argmax(t, 1))).toEqual(Array.from(argmax(x, 1).data));
  });
});

describe('argmax', () => {
  it('matches the reference along a random axis (i32, keepDims)', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb(1, 4, 5), fc.nat(), fc.boolean(), seedArb, async (shape, a, keepDims, seed) => {
        const axis = (a % shape.length) - (a % 2 === 0 ? 0 : shape.length);
        const x = distinctArray(shape, mulberry32(seed), 0.05);
        const y = E.argmax(E.tensor(Float32Array.from(x.data), x.shape), axis, { keepDims });
        const want = argmax(x, axis, keepDims);
        expect(y.dtype).toBe('i32');
        expect(y.shape).toEqual(want.shape);
        expect(await readNumbers(y)).toEqual(Array.from(want.data));
      }),
      RUNS,
    );
  });

  it('the first maximum wins ties', async () => {
    const y = E.argmax(E.tensor([2, 7, 7, 1, 4, 4, 4, 0], [2, 4]), 1);
    expect(await readNumbers(y)).toEqual([1, 0]);
  });
});

describe('variance', () => {
  it('matches the two-pass reference (unbiased and biased, keepDims), with its gradient', async () => {
    await fc.assert(
      fc.asyncProperty(reductionArb, fc.boolean(), async ({ shape, axes, keepDims, seed }, unbiased) => {
        fc.pre(!unbiased || reducedCount(shape, axes) >= 2);
        // An offset far from zero makes a one-pass (E[x²] − E[x]²) formula lose precision.
        const x = randomArray(shape, mulberry32(seed), 20, 22);
        await checkOp({
          label: `variance ${JSON.stringify(shape)} axes ${JSON.stringify(axes)} unbiased ${unbiased}`,
          gpu: ([t]) => E.variance(t, axes, { unbiased, keepDims }),
          ref: ([t]) => variance(t, axes, unbiased, keepDims),
          inputs: [x],
          wrt: [0],
          seed,
          fwd: { rtol: 1e-4, atol: 1e-5 },
        });
      }),
      RUNS,
    );
  });

  it('defaults to unbiased and rejects an unbiased variance of one element', async () => {
    expectClose([await E.variance(E.tensor([1, 2, 3, 4])).item()], [5 / 3], { rtol: 1e-6 });
    expect(() => E.variance(E.tensor([1, 2]).view([2, 1]), 1)).toThrow(/variance/);
  });
});

describe('sumTo', () => {
  it('sums a broadcast gradient back to the operand shape, with its own gradient', async () => {
    await fc.assert(
      fc.asyncProperty(broadcastShapesArb(2), seedArb, async ([sa, sb], seed) => {
        const out = broadcastShapes(sa, sb);
        const target = sa;
        const lead = out.length - target.length;
        const axes = out.map((_, k) => k).filter((k) => k < lead || (target[k - lead] === 1 && out[k] !== 1));
        const ref = (g: NDArray): NDArray => nd(target, sum(g, axes, false).data);
        await checkOp({
          label: `sumTo ${JSON.stringify(out)} -> ${JSON.stringify(target)}`,
          gpu: ([g]): Tensor => E.sumTo(g, target),
          ref: ([g]) => ref(g),
          inputs: [randomArray(out, mulberry32(seed))],
          wrt: [0],
          seed,
        });
      }),
      RUNS,
    );
  });
});
