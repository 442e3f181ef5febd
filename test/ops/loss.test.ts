// Softmax family and losses (src/ops/loss.ts): logSoftmax and softmax along any axis,
// crossEntropy (mean/sum/none, label smoothing) and klDiv (mean/sum/batchmean/none).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { crossEntropy, klDiv, logSoftmax, softmax } from '../reference/ops.js';
import {
  checkOp,
  expectClose,
  mulberry32,
  nd,
  randomArray,
  readNumbers,
  seedArb,
  shapeArb,
  type NDArray,
} from './helpers.js';

const RUNS = { numRuns: 20 };

describe('logSoftmax and softmax', () => {
  for (const [name, gpu, ref] of [
    ['logSoftmax', E.logSoftmax, logSoftmax],
    ['softmax', E.softmax, softmax],
  ] as const) {
    it(`${name} along a random axis matches the reference, with its gradient`, async () => {
      await fc.assert(
        fc.asyncProperty(shapeArb(1, 4, 5), fc.nat(), fc.boolean(), seedArb, async (shape, ax, negative, seed) => {
          const axis = (ax % shape.length) - (negative ? shape.length : 0);
          await checkOp({
            label: `${name} axis ${axis} of ${JSON.stringify(shape)}`,
            gpu: ([x]) => gpu(x, axis),
            ref: ([x]) => ref(x, axis),
            inputs: [randomArray(shape, mulberry32(seed), -4, 4)],
            wrt: [0],
            seed,
          });
        }),
        RUNS,
      );
    });
  }

  it('stays finite for logits of ±1000 (shifted by the max)', async () => {
    const x = nd([2, 3], [1000, 1000, 999, -1000, 0, -999]);
    const t = E.tensor(Float32Array.from(x.data), x.shape);
    expectClose(await readNumbers(E.logSoftmax(t, 1)), logSoftmax(x, 1).data, { rtol: 1e-5, atol: 1e-5 });
    expectClose(await readNumbers(E.softmax(t, 1)), softmax(x, 1).data, { rtol: 1e-5, atol: 1e-6 });
  });
});

describe('crossEntropy', () => {
  it('matches F.cross_entropy for every reduction and label smoothing, with its gradient', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 7 }),
        fc.constantFrom<'mean' | 'sum' | 'none'>('mean', 'sum', 'none'),
        fc.constantFrom(0, 0.1, 0.35),
        seedArb,
        async (n, c, reduction, labelSmoothing, seed) => {
          const rng = mulberry32(seed);
          const labels = Array.from({ length: n }, () => Math.floor(rng() * c));
          await checkOp({
            label: `crossEntropy [${n}, ${c}] ${reduction} ε=${labelSmoothing}`,
            gpu: ([x]) => E.crossEntropy(x, E.tensor(labels, [n], 'i32'), { reduction, labelSmoothing }),
            ref: ([x]) => crossEntropy(x, labels, reduction, labelSmoothing),
            inputs: [randomArray([n, c], rng, -3, 3)],
            wrt: [0],
            seed,
          });
        },
      ),
      { numRuns: 25 },
    );
  });

  it('defaults to the mean, a scalar of shape []', async () => {
    const logits = E.tensor([1, 2, 3, 0.5, -1, 2], [2, 3]);
    const loss = E.crossEntropy(logits, E.tensor([2, 1], [2], 'i32'));
    expect(loss.shape).toEqual([]);
    expectClose([await loss.item()], [1.8244586305507688], { rtol: 1e-6 });
  });

  it('rejects mismatched labels and a smoothing outside [0, 1]', () => {
    const logits = E.zeros([2, 3]);
    expect(() => E.crossEntropy(logits, E.tensor([0, 1, 2], [3], 'i32'))).toThrow(/\[3\]/);
    expect(() => E.crossEntropy(logits, E.tensor([0, 1]))).toThrow(/i32/);
    expect(() => E.crossEntropy(logits, E.tensor([0, 1], [2], 'i32'), { labelSmoothing: 1.5 })).toThrow(/labelSmoothing/);
  });
});

describe('klDiv', () => {
  it('matches F.kl_div for every reduction, with gradients in logQ and p', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb(1, 3, 5),
        fc.constantFrom<'mean' | 'sum' | 'batchmean' | 'none'>('mean', 'sum', 'batchmean', 'none'),
        seedArb,
        async (shape, reduction, seed) => {
          const rng = mulberry32(seed);
          const axis = shape.length - 1;
          const logQ = logSoftmax(randomArray(shape, rng, -2, 2), axis);
          // Strictly positive targets, so that p·log p is smooth in p for the finite differences.
          const p = softmax(randomArray(shape, rng, -2, 2), axis);
          const f32 = (a: NDArray) => nd(a.shape, Array.from(a.data, Math.fround));
          await checkOp({
            label: `klDiv ${JSON.stringify(shape)} ${reduction}`,
            gpu: ([q, t]) => E.klDiv(q, t, reduction),
            ref: ([q, t]) => klDiv(q, t, reduction),
            inputs: [f32(logQ), f32(p)],
            wrt: [0, 1],
            seed,
          });
        },
      ),
      RUNS,
    );
  });

  it('p = 0 terms contribute 0 even where logQ is −∞', async () => {
    const logQ = nd([2, 2], [Math.log(0.5), -Infinity, Math.log(0.25), Math.log(0.75)]);
    const p = nd([2, 2], [1, 0, 0.5, 0.5]);
    const q = E.tensor(Float32Array.from(logQ.data), [2, 2]);
    const t = E.tensor(Float32Array.from(p.data), [2, 2]);
    for (const reduction of ['none', 'sum', 'batchmean', 'mean'] as const) {
      expectClose(await readNumbers(E.klDiv(q, t, reduction)), klDiv(logQ, p, reduction).data, {
        rtol: 1e-5,
        atol: 1e-6,
        label: reduction,
      });
    }
    // d/dlogQ of Σ p·(log p − logQ) is −p: 0 (not NaN) where p = 0.
    const qv = E.variable(q);
    const [g] = E.grad(E.klDiv(qv, t, 'sum'), [qv]);
    expectClose(await readNumbers(g), [-1, 0, -0.5, -0.5], { label: 'd klDiv / d logQ' });
  });
});
