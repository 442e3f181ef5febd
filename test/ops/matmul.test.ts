// Matrix products (src/ops/matmul.ts): matmul (2-D, batched 3-D, 2-D operands and batch-1
// operands broadcast over the batch), matmulT with transposed operands, and linear.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { linear, matmul, permute } from '../reference/ops.js';
import { checkOp, expectThrowsMentioning, mulberry32, randomArray, seedArb, type NDArray } from './helpers.js';

const FWD = { rtol: 1e-5, atol: 1e-5 };
/**
 * A dimension up to `max`, often a multiple of 4: kernels may take a vectorised path for operands
 * whose contiguous axis is a multiple of 4, and both paths must be covered.
 */
const dim = (max: number) => fc.oneof(fc.integer({ min: 1, max }), fc.constantFrom(4, 8, 12).filter((d) => d <= Math.max(max, 4)));

/** Swaps the last two axes of a reference array. */
function transposed(x: NDArray): NDArray {
  const r = x.shape.length;
  const p = x.shape.map((_, k) => k);
  [p[r - 2], p[r - 1]] = [p[r - 1], p[r - 2]];
  return permute(x, p);
}

type Layout = '2d×2d' | '3d×3d' | '3d×2d' | '2d×3d' | '1×3d' | '3d×1';

function operandShapes(layout: Layout, b: number, m: number, k: number, n: number): [number[], number[]] {
  switch (layout) {
    case '2d×2d':
      return [[m, k], [k, n]];
    case '3d×3d':
      return [[b, m, k], [b, k, n]];
    case '3d×2d':
      return [[b, m, k], [k, n]];
    case '2d×3d':
      return [[m, k], [b, k, n]];
    case '1×3d':
      return [[1, m, k], [b, k, n]];
    case '3d×1':
      return [[b, m, k], [1, k, n]];
  }
}

const layouts: Layout[] = ['2d×2d', '3d×3d', '3d×2d', '2d×3d', '1×3d', '3d×1'];

describe('matmul', () => {
  it('matches the reference for every operand layout, with gradients of both operands', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...layouts),
        dim(3),
        dim(9),
        dim(9),
        dim(9),
        seedArb,
        async (layout, b, m, k, n, seed) => {
          const [sa, sb] = operandShapes(layout, b, m, k, n);
          const rng = mulberry32(seed);
          await checkOp({
            label: `matmul ${layout} ${JSON.stringify(sa)}·${JSON.stringify(sb)}`,
            gpu: ([x, y]) => E.matmul(x, y),
            ref: ([x, y]) => matmul(x, y),
            inputs: [randomArray(sa, rng), randomArray(sb, rng)],
            wrt: [0, 1],
            seed,
            fwd: FWD,
          });
        },
      ),
      { numRuns: 25 },
    );
  });

  it('matches the reference on larger sizes that cross the 32×32 output tiles', async () => {
    await fc.assert(
      fc.asyncProperty(dim(2), fc.integer({ min: 20, max: 70 }), dim(40), fc.integer({ min: 20, max: 70 }), seedArb, async (b, m, k, n, seed) => {
        const rng = mulberry32(seed);
        await checkOp({
          label: `matmul [${b}, ${m}, ${k}]·[${b}, ${k}, ${n}]`,
          gpu: ([x, y]) => E.matmul(x, y),
          ref: ([x, y]) => matmul(x, y),
          inputs: [randomArray([b, m, k], rng), randomArray([b, k, n], rng)],
          fwd: { rtol: 1e-5, atol: 1e-4 },
        });
      }),
      { numRuns: 6 },
    );
  });

  it('mismatched inner dimensions throw an error naming both shapes', () => {
    expectThrowsMentioning(() => E.matmul(E.zeros([2, 3]), E.zeros([4, 5])), ['[2, 3]', '[4, 5]']);
    expectThrowsMentioning(() => E.matmul(E.zeros([2, 2, 3]), E.zeros([2, 2, 3])), ['[2, 2, 3]']);
    expect(() => E.matmul(E.zeros([2, 2, 3]), E.zeros([3, 3, 2]))).toThrow(/batch/);
    expect(() => E.matmul(E.zeros([3]), E.zeros([3, 2]))).toThrow(/2-D or 3-D/);
  });
});

describe('matmulT', () => {
  it('op(a)·op(b) with either operand transposed matches the reference, with gradients', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...layouts),
        fc.boolean(),
        fc.boolean(),
        dim(3),
        dim(7),
        dim(7),
        dim(7),
        seedArb,
        async (layout, transA, transB, b, m, k, n, seed) => {
          const [sa, sb] = operandShapes(layout, b, m, k, n);
          const rng = mulberry32(seed);
          // Store the operands transposed where the flag says so.
          const a = randomArray(sa, rng);
          const bb = randomArray(sb, rng);
          const storedA = transA ? transposed(a) : a;
          const storedB = transB ? transposed(bb) : bb;
          await checkOp({
            label: `matmulT ${layout} transA ${transA} transB ${transB}`,
            gpu: ([x, y]) => E.matmulT(x, y, transA, transB),
            ref: ([x, y]) => matmul(transA ? transposed(x) : x, transB ? transposed(y) : y),
            inputs: [storedA, storedB],
            wrt: [0, 1],
            seed,
            fwd: FWD,
          });
        },
      ),
      { numRuns: 25 },
    );
  });

  it('names both shapes when the transposed inner dimensions differ', () => {
    expectThrowsMentioning(() => E.matmulT(E.zeros([2, 3]), E.zeros([2, 3]), false, false), ['[2, 3]']);
    expect(() => E.matmulT(E.zeros([3, 2]), E.zeros([3, 4]), true, false)).not.toThrow();
  });
});

describe('linear', () => {
  it('x·wᵀ + b matches the reference, with gradients of x, w and b', async () => {
    await fc.assert(
      fc.asyncProperty(dim(6), dim(9), dim(9), fc.boolean(), seedArb, async (batch, inF, outF, withBias, seed) => {
        const rng = mulberry32(seed);
        const inputs = [randomArray([batch, inF], rng), randomArray([outF, inF], rng)];
        if (withBias) inputs.push(randomArray([outF], rng));
        await checkOp({
          label: `linear [${batch}, ${inF}] -> ${outF}${withBias ? ' + bias' : ''}`,
          gpu: ([x, w, b]) => E.linear(x, w, b),
          ref: ([x, w, b]) => linear(x, w, b),
          inputs,
          wrt: inputs.map((_, i) => i),
          seed,
          fwd: FWD,
        });
      }),
      { numRuns: 20 },
    );
  });

  it('rejects an input whose feature size does not match the weight, naming both', () => {
    expectThrowsMentioning(() => E.linear(E.zeros([2, 3]), E.zeros([4, 5])), ['[2, 3]', '[4, 5]']);
  });
});
