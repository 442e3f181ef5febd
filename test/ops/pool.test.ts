// Pooling (src/ops/pool.ts, kernels/pool.ts): maxPool2d, avgPool2d and globalAvgPool2d against the
// float64 reference, with and without padding, overlapping and non-overlapping windows.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { avgPool2d, globalAvgPool2d, maxPool2d } from '../reference/ops.js';
import {
  checkOp,
  distinctArray,
  expectClose,
  expectThrowsMentioning,
  mulberry32,
  nd,
  randomArray,
  readNumbers,
  seedArb,
  up,
} from './helpers.js';

type Pair = [number, number];

const poolArb = fc
  .record({
    n: fc.integer({ min: 1, max: 2 }),
    c: fc.constantFrom(1, 2, 3, 5),
    h: fc.integer({ min: 1, max: 7 }),
    w: fc.integer({ min: 1, max: 7 }),
    kernel: fc.constantFrom<Pair>([1, 1], [2, 2], [3, 3], [2, 3], [3, 2]),
    // undefined: the default stride (= kernel)
    stride: fc.constantFrom<Pair | undefined>(undefined, [1, 1], [2, 2], [1, 2]),
    padding: fc.constantFrom<Pair>([0, 0], [1, 1], [1, 0], [0, 1]),
    // Shift the values: all negative (padding must never win a max) or mixed.
    offset: fc.constantFrom(0, -3),
    seed: seedArb,
  })
  .map((p) => ({
    ...p,
    // PyTorch allows padding of at most half the kernel.
    padding: p.padding.map((q, i) => (2 * q <= p.kernel[i] ? q : 0)) as Pair,
  }))
  .filter((p) => p.kernel[0] <= p.h + 2 * p.padding[0] && p.kernel[1] <= p.w + 2 * p.padding[1]);

describe('maxPool2d', () => {
  it('forward and gradient match the reference (distinct values, padding, overlapping windows)', async () => {
    await fc.assert(
      fc.asyncProperty(poolArb, async (p) => {
        const stride = p.stride ?? p.kernel;
        const x = distinctArray([p.n, p.c, p.h, p.w], mulberry32(p.seed), 0.05, p.offset);
        await checkOp({
          label: `maxPool2d [${p.n}, ${p.c}, ${p.h}, ${p.w}] k ${p.kernel} s ${p.stride ?? 'default'} p ${p.padding}`,
          gpu: ([t]) => E.maxPool2d(t, p.kernel, p.stride ? { stride: p.stride, padding: p.padding } : { padding: p.padding }),
          ref: ([t]) => maxPool2d(t, p.kernel, stride, p.padding),
          inputs: [x],
          wrt: [0],
          seed: p.seed,
          fwd: { rtol: 0, atol: 0 },
        });
      }),
      { numRuns: 25 },
    );
  });

  it('an element that wins several overlapping windows collects all their gradients', async () => {
    const x = E.variable(E.tensor([0, 1, 2, 3, 9, 4, 5, 6, 7], [1, 1, 3, 3]));
    const y = E.maxPool2d(x, 2, { stride: 1 });
    expect(await readNumbers(y)).toEqual([9, 9, 9, 9]);
    const [g] = E.grad(y, [x], { gradOutput: E.tensor([1, 2, 3, 4], [1, 1, 2, 2]) });
    expect(await readNumbers(g)).toEqual([0, 0, 0, 0, 10, 0, 0, 0, 0]);
  });

  it('NaN in a window wins (propagates), like PyTorch', async () => {
    const x = nd([1, 1, 2, 4], [1, NaN, 3, 2, -1, -2, -3, NaN]);
    const y = E.maxPool2d(up(x), 2);
    expectClose(await readNumbers(y), maxPool2d(x, [2, 2], [2, 2]).data, { label: 'maxPool2d NaN' });
  });

  it('rejects padding above half the kernel and a window larger than the input', () => {
    expectThrowsMentioning(() => E.maxPool2d(E.zeros([1, 1, 4, 4]), 2, { padding: 2 }), ['padding']);
    expect(() => E.maxPool2d(E.zeros([1, 1, 2, 2]), 3)).toThrow(/does not fit/);
    expectThrowsMentioning(() => E.maxPool2d(E.zeros([4, 4]), 2), ['[4, 4]']);
  });
});

describe('avgPool2d', () => {
  it('forward and gradient match the reference (padding counted in the divisor)', async () => {
    await fc.assert(
      fc.asyncProperty(poolArb, async (p) => {
        const stride = p.stride ?? p.kernel;
        await checkOp({
          label: `avgPool2d [${p.n}, ${p.c}, ${p.h}, ${p.w}] k ${p.kernel} s ${p.stride ?? 'default'} p ${p.padding}`,
          gpu: ([t]) => E.avgPool2d(t, p.kernel, p.stride ? { stride: p.stride, padding: p.padding } : { padding: p.padding }),
          ref: ([t]) => avgPool2d(t, p.kernel, stride, p.padding),
          inputs: [randomArray([p.n, p.c, p.h, p.w], mulberry32(p.seed), -1 + p.offset, 1 + p.offset)],
          wrt: [0],
          seed: p.seed,
        });
      }),
      { numRuns: 25 },
    );
  });
});

describe('globalAvgPool2d', () => {
  it('averages every plane to [N, C], with its gradient', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 6 }),
        seedArb,
        async (n, c, h, w, seed) => {
          await checkOp({
            label: `globalAvgPool2d [${n}, ${c}, ${h}, ${w}]`,
            gpu: ([t]) => E.globalAvgPool2d(t),
            ref: ([t]) => globalAvgPool2d(t),
            inputs: [randomArray([n, c, h, w], mulberry32(seed))],
            wrt: [0],
            seed,
          });
        },
      ),
      { numRuns: 15 },
    );
  });
});
