// Index-based selection (src/ops/gather.ts): indexSelect, gather (torch.gather) and oneHot. The
// gradients of the gathers are scatter-adds, so repeated indices must accumulate.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { gather, indexSelect, oneHot } from '../reference/ops.js';
import { checkOp, expectThrowsMentioning, mulberry32, nd, numel, randomArray, readNumbers, seedArb, shapeArb } from './helpers.js';

const RUNS = { numRuns: 20 };

describe('indexSelect', () => {
  it('picks slices along a random axis (repeats allowed); the gradient accumulates', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb(1, 4, 5),
        fc.nat(),
        fc.integer({ min: 1, max: 7 }),
        seedArb,
        async (shape, ax, count, seed) => {
          const axis = ax % shape.length;
          const rng = mulberry32(seed);
          const idx = Array.from({ length: count }, () => Math.floor(rng() * shape[axis]));
          await checkOp({
            label: `indexSelect axis ${axis} of ${JSON.stringify(shape)} at ${JSON.stringify(idx)}`,
            gpu: ([x]) => E.indexSelect(x, axis, E.tensor(idx, [count], 'i32')),
            ref: ([x]) => indexSelect(x, axis, idx),
            inputs: [randomArray(shape, rng)],
            wrt: [0],
            seed,
            fwd: { rtol: 0, atol: 0 },
          });
        },
      ),
      RUNS,
    );
  });

  it('selects from i32 tensors exactly (no gradient)', async () => {
    const x = E.tensor([10, 11, 12, 20, 21, 22], [2, 3], 'i32');
    const y = E.indexSelect(x, 1, E.tensor([2, 0, 2], [3], 'i32'));
    expect(y.dtype).toBe('i32');
    expect(await readNumbers(y)).toEqual([12, 10, 12, 22, 20, 22]);
  });

  it('rejects a non-i32 or non-1-D index', () => {
    expectThrowsMentioning(() => E.indexSelect(E.zeros([3]), 0, E.tensor([0, 1])), ['i32']);
    expectThrowsMentioning(() => E.indexSelect(E.zeros([3]), 0, E.tensor([0, 1], [1, 2], 'i32')), ['[1, 2]']);
  });
});

describe('gather', () => {
  it('matches torch.gather along a random axis; the gradient scatter-adds', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb(1, 4, 4),
        fc.nat(),
        fc.integer({ min: 1, max: 5 }),
        seedArb,
        async (shape, ax, len, seed) => {
          const axis = ax % shape.length;
          const rng = mulberry32(seed);
          const idxShape = shape.map((d, k) => (k === axis ? len : d));
          const idx = nd(
            idxShape,
            Array.from({ length: numel(idxShape) }, () => Math.floor(rng() * shape[axis])),
          );
          await checkOp({
            label: `gather axis ${axis} of ${JSON.stringify(shape)} index ${JSON.stringify(idxShape)}`,
            gpu: ([x]) => E.gather(x, axis, E.tensor(Array.from(idx.data), idxShape, 'i32')),
            ref: ([x]) => gather(x, axis, idx),
            inputs: [randomArray(shape, rng)],
            wrt: [0],
            seed,
            fwd: { rtol: 0, atol: 0 },
          });
        },
      ),
      RUNS,
    );
  });

  it('rejects an index whose shape differs off the axis, naming both shapes', () => {
    expectThrowsMentioning(() => E.gather(E.zeros([2, 3]), 1, E.zeros([3, 1], 'i32')), ['[3, 1]', '[2, 3]']);
  });
});

describe('oneHot', () => {
  it('matches the reference with custom on/off values, for 1-D and 2-D labels', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb(1, 2, 6),
        fc.integer({ min: 1, max: 9 }),
        fc.constantFrom<[number, number]>([1, 0], [0.9, 0.0125], [-2, 3]),
        seedArb,
        async (shape, classes, [on, off], seed) => {
          const rng = mulberry32(seed);
          const labels = Array.from({ length: numel(shape) }, () => Math.floor(rng() * classes));
          const y = E.oneHot(E.tensor(labels, shape, 'i32'), classes, on, off);
          expect(y.shape).toEqual([...shape, classes]);
          const want = Array.from(oneHot(labels, classes).data, (v) => Math.fround(v === 1 ? on : off));
          expect(await readNumbers(y)).toEqual(want);
        },
      ),
      RUNS,
    );
  });

  it('rejects an invalid class count and non-i32 labels', () => {
    expect(() => E.oneHot(E.tensor([0], [1], 'i32'), 0)).toThrow(/class/);
    expectThrowsMentioning(() => E.oneHot(E.tensor([0]), 3), ['i32']);
  });
});
