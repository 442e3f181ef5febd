// Layout ops (src/ops/shape.ts): reshape, flatten, unsqueeze, squeeze, permute, transpose, slice,
// concat, stack, expand (plus clone). All are data movement, so forwards must match the reference
// exactly and gradients (their adjoints) to float32 rounding of the cotangent.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { concat, expand, permute, slice } from '../reference/ops.js';
import {
  checkOp,
  expectThrowsMentioning,
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
const EXACT = { rtol: 0, atol: 0 };
const GRAD = { rtol: 1e-6, atol: 1e-7 };

/** A reference reshape: same data, new shape. */
const reshaped = (x: NDArray, shape: number[]): NDArray => nd(shape, x.data);

/** Random permutation of 0..n-1 from a seed. */
function permOf(n: number, seed: number): number[] {
  const rng = mulberry32(seed);
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

describe('views: reshape, flatten, unsqueeze, squeeze', () => {
  it('reshape (with a −1) keeps the data in row-major order', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb(1, 4, 4), seedArb, fc.nat(), async (shape, seed, k) => {
        // Regroup the same elements: split the total into a random factorisation.
        const n = numel(shape);
        const rest = permOf(shape.length, seed).map((i) => shape[i]);
        const target = k % 2 === 0 ? [...rest.slice(0, -1), -1] : [n];
        const concrete = target.map((d) => (d === -1 ? n / numel(rest.slice(0, -1)) : d));
        await checkOp({
          label: `reshape ${JSON.stringify(shape)} -> ${JSON.stringify(target)}`,
          gpu: ([x]) => E.reshape(x, target),
          ref: ([x]) => reshaped(x, concrete),
          inputs: [randomArray(shape, mulberry32(seed))],
          wrt: [0],
          seed,
          fwd: EXACT,
          grad: GRAD,
        });
      }),
      RUNS,
    );
  });

  it('flatten, unsqueeze and squeeze give the right shapes and gradients', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb(1, 4, 4), seedArb, fc.nat(), async (shape, seed, k) => {
        const x = randomArray(shape, mulberry32(seed));
        const start = k % shape.length;
        const flat = [...shape.slice(0, start), numel(shape.slice(start))];
        await checkOp({
          label: `flatten(${start})`,
          gpu: ([t]) => E.flatten(t, start),
          ref: ([t]) => reshaped(t, flat),
          inputs: [x],
          wrt: [0],
          seed,
          fwd: EXACT,
          grad: GRAD,
        });
        const at = k % (shape.length + 1);
        const unsq = [...shape.slice(0, at), 1, ...shape.slice(at)];
        await checkOp({
          label: `unsqueeze(${at})`,
          gpu: ([t]) => E.unsqueeze(t, at),
          ref: ([t]) => reshaped(t, unsq),
          inputs: [x],
          wrt: [0],
          seed,
          fwd: EXACT,
          grad: GRAD,
        });
        await checkOp({
          label: `squeeze(unsqueeze(${at}))`,
          gpu: ([t]) => E.squeeze(E.unsqueeze(t, at), at),
          ref: ([t]) => t,
          inputs: [x],
          wrt: [0],
          seed,
          fwd: EXACT,
          grad: GRAD,
        });
      }),
      RUNS,
    );
  });

  it('rejects impossible reshapes and squeezing a non-1 axis', () => {
    const x = E.zeros([2, 3]);
    expectThrowsMentioning(() => E.reshape(x, [4, 2]), ['[2, 3]', '[4, 2]']);
    expectThrowsMentioning(() => E.reshape(x, [-1, 4]), ['[2, 3]', '[-1, 4]']);
    expectThrowsMentioning(() => E.squeeze(x, 1), ['[2, 3]']);
  });
});

describe('permute and transpose', () => {
  it('permute matches the reference for random permutations (negative axes included)', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb(1, 5, 4), seedArb, fc.boolean(), async (shape, seed, negative) => {
        const perm = permOf(shape.length, seed);
        const written = negative ? perm.map((p) => p - shape.length) : perm;
        await checkOp({
          label: `permute ${JSON.stringify(shape)} by ${JSON.stringify(written)}`,
          gpu: ([x]) => E.permute(x, written),
          ref: ([x]) => permute(x, perm),
          inputs: [randomArray(shape, mulberry32(seed))],
          wrt: [0],
          seed,
          fwd: EXACT,
          grad: GRAD,
        });
      }),
      RUNS,
    );
  });

  it('transpose swaps two axes (default: the last two)', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb(2, 4, 5), seedArb, fc.nat(), fc.nat(), async (shape, seed, i, j) => {
        const a = i % shape.length;
        const b = j % shape.length;
        const p = shape.map((_, k) => k);
        [p[a], p[b]] = [p[b], p[a]];
        const x = randomArray(shape, mulberry32(seed));
        await checkOp({
          label: `transpose(${a}, ${b})`,
          gpu: ([t]) => E.transpose(t, a, b),
          ref: ([t]) => permute(t, p),
          inputs: [x],
          wrt: [0],
          seed,
          fwd: EXACT,
          grad: GRAD,
        });
        const q = shape.map((_, k) => k);
        const r = shape.length;
        [q[r - 2], q[r - 1]] = [q[r - 1], q[r - 2]];
        await checkOp({
          label: 'transpose()',
          gpu: ([t]) => E.transpose(t),
          ref: ([t]) => permute(t, q),
          inputs: [x],
          fwd: EXACT,
        });
      }),
      RUNS,
    );
  });

  it('rejects a non-permutation', () => {
    expectThrowsMentioning(() => E.permute(E.zeros([2, 3, 4]), [0, 0, 1]), ['permut']);
  });
});

describe('slice', () => {
  it('matches the reference for random in-range bounds, with its gradient', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb(1, 4, 6), seedArb, fc.nat(), fc.nat(), fc.nat(), async (shape, seed, ax, s, e) => {
        const axis = ax % shape.length;
        const dim = shape[axis];
        const start = s % (dim + 1);
        const end = start + (e % (dim - start + 1));
        await checkOp({
          label: `slice axis ${axis} [${start}, ${end}) of ${JSON.stringify(shape)}`,
          gpu: ([x]) => E.slice(x, axis, start, end),
          ref: ([x]) => slice(x, axis, start, end),
          inputs: [randomArray(shape, mulberry32(seed))],
          wrt: end > start ? [0] : [],
          seed,
          fwd: EXACT,
          grad: GRAD,
        });
      }),
      RUNS,
    );
  });

  it('rejects out-of-range bounds', () => {
    expectThrowsMentioning(() => E.slice(E.zeros([2, 3]), 1, 1, 4), ['[1, 4)', '[2, 3]']);
  });
});

describe('concat and stack', () => {
  it('concat joins 1–3 tensors along a random axis, gradients split back', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb(1, 4, 4),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
        fc.nat(),
        seedArb,
        async (shape, lengths, ax, seed) => {
          const axis = ax % shape.length;
          const rng = mulberry32(seed);
          const parts = lengths.map((len) => randomArray(shape.map((d, k) => (k === axis ? len : d)), rng));
          await checkOp({
            label: `concat axis ${axis} of ${lengths.length}`,
            gpu: (xs) => E.concat(xs, axis),
            ref: (xs) => concat(xs, axis),
            inputs: parts,
            wrt: parts.map((_, i) => i),
            seed,
            fwd: EXACT,
            grad: GRAD,
          });
        },
      ),
      RUNS,
    );
  });

  it('stack inserts a new axis', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb(0, 3, 4), fc.integer({ min: 1, max: 3 }), fc.nat(), seedArb, async (shape, count, ax, seed) => {
        const axis = ax % (shape.length + 1);
        const rng = mulberry32(seed);
        const parts = Array.from({ length: count }, () => randomArray(shape, rng));
        const unsq = [...shape.slice(0, axis), 1, ...shape.slice(axis)];
        await checkOp({
          label: `stack axis ${axis}`,
          gpu: (xs) => E.stack(xs, axis),
          ref: (xs) => concat(
            xs.map((x) => reshaped(x, unsq)),
            axis,
          ),
          inputs: parts,
          wrt: parts.map((_, i) => i),
          seed,
          fwd: EXACT,
          grad: GRAD,
        });
      }),
      RUNS,
    );
  });

  it('rejects mismatched shapes off the axis, naming both', () => {
    expectThrowsMentioning(() => E.concat([E.zeros([2, 3]), E.zeros([2, 4])], 0), ['[2, 4]', '[2, 3]']);
  });
});

describe('expand', () => {
  it('broadcasts to a larger shape (new leading axes, size-1 axes); the gradient sums back', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb(0, 4, 4),
        fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
        fc.integer({ min: 0, max: 2 }),
        seedArb,
        async (target, ones, drop, seed) => {
          const src = target.slice(Math.min(drop, target.length)).map((d, i) => (ones[i] ? 1 : d));
          await checkOp({
            label: `expand ${JSON.stringify(src)} -> ${JSON.stringify(target)}`,
            gpu: ([x]) => E.expand(x, target),
            ref: ([x]) => expand(x, target),
            inputs: [randomArray(src, mulberry32(seed))],
            wrt: [0],
            seed,
            fwd: EXACT,
            grad: { rtol: 1e-5, atol: 1e-6 },
          });
        },
      ),
      RUNS,
    );
  });

  it('rejects an incompatible target, naming both shapes', () => {
    expectThrowsMentioning(() => E.expand(E.zeros([3, 2]), [3, 4]), ['[3, 2]', '[3, 4]']);
  });
});

describe('clone', () => {
  it('copies into its own storage and passes the gradient through', async () => {
    const x = E.tensor([1, 2, 3]);
    const y = E.clone(x);
    x.dispose();
    // The released buffer is recycled by the pool; overwriting it must not touch the clone.
    const other = E.full([3], 9);
    expect(await readNumbers(y)).toEqual([1, 2, 3]);
    expect(await readNumbers(other)).toEqual([9, 9, 9]);
    const z = E.variable(E.tensor([4, 5]));
    const [g] = E.grad(E.sum(E.mul(E.clone(z), E.tensor([2, 3]))), [z]);
    expect(await readNumbers(g)).toEqual([2, 3]);
  });
});
