// Elementwise ops (src/ops/elementwise.ts): forward against the float64 reference on random shapes
// (broadcasting pairs for binary ops), backward against central finite differences.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import { binary, unary, where as refWhere, type BinaryOp, type UnaryOp } from '../reference/ops.js';
import {
  awayFrom,
  broadcastShapesArb,
  checkOp,
  expectClose,
  expectThrowsMentioning,
  mulberry32,
  nd,
  randomArray,
  readNumbers,
  seedArb,
  shapeArb,
  up,
  type NDArray,
} from './helpers.js';

const RUNS = { numRuns: 15 };

interface UnaryCase {
  name: string;
  gpu: (x: Tensor) => Tensor;
  ref: (x: NDArray) => NDArray;
  /** Builds the test input from uniform values in [-1, 1). */
  domain: (x: NDArray) => NDArray;
  differentiable: boolean;
}

/** Scales [-1, 1) to [lo, hi). */
const toRange = (lo: number, hi: number) => (x: NDArray) =>
  nd(x.shape, Array.from(x.data, (v) => Math.fround(lo + ((v + 1) / 2) * (hi - lo))));
const ident = (x: NDArray) => x;
const refUnary = (op: UnaryOp, alpha?: number, beta?: number) => (x: NDArray) => unary(op, x, alpha, beta);

const unaryCases: UnaryCase[] = [
  { name: 'neg', gpu: E.neg, ref: refUnary('neg'), domain: ident, differentiable: true },
  { name: 'exp', gpu: E.exp, ref: refUnary('exp'), domain: toRange(-3, 3), differentiable: true },
  { name: 'log', gpu: E.log, ref: refUnary('log'), domain: toRange(0.1, 5), differentiable: true },
  { name: 'sqrt', gpu: E.sqrt, ref: refUnary('sqrt'), domain: toRange(0.1, 5), differentiable: true },
  { name: 'square', gpu: E.square, ref: refUnary('square'), domain: toRange(-3, 3), differentiable: true },
  {
    name: 'reciprocal',
    gpu: E.reciprocal,
    ref: refUnary('reciprocal'),
    domain: (x) => awayFrom(toRange(-2, 2)(x), 0, 0.2),
    differentiable: true,
  },
  { name: 'abs', gpu: E.abs, ref: refUnary('abs'), domain: (x) => awayFrom(x, 0, 0.05), differentiable: true },
  { name: 'relu', gpu: E.relu, ref: refUnary('relu'), domain: (x) => awayFrom(x, 0, 0.05), differentiable: true },
  // sign and step are piecewise constant: away from 0 both the engine and the FD give gradient 0.
  { name: 'sign', gpu: E.sign, ref: refUnary('sign'), domain: (x) => awayFrom(x, 0, 0.05), differentiable: true },
  {
    name: 'step',
    gpu: E.step,
    ref: (x) => nd(x.shape, Array.from(x.data, (v) => (v > 0 ? 1 : 0))),
    domain: (x) => awayFrom(x, 0, 0.05),
    differentiable: true,
  },
  {
    name: 'affine(x, -1.75, 0.5)',
    gpu: (x) => E.affine(x, -1.75, 0.5),
    ref: refUnary('affine', -1.75, 0.5),
    domain: ident,
    differentiable: true,
  },
  {
    name: 'clamp(x, -0.4, 0.6)',
    gpu: (x) => E.clamp(x, -0.4, 0.6),
    ref: refUnary('clamp', -0.4, 0.6),
    domain: (x) => awayFrom(awayFrom(toRange(-1, 1.2)(x), -0.4, 0.03), 0.6, 0.03),
    differentiable: true,
  },
];

// Integer exponents on negative bases must follow real math ((−2)^3 = −8), non-integer ones
// need positive bases; negative exponents keep away from 0.
const powCases: Array<{ e: number; domain: (x: NDArray) => NDArray }> = [
  { e: 3, domain: (x) => toRange(-2, 2)(x) },
  { e: 2, domain: (x) => toRange(-2, 2)(x) },
  { e: 1, domain: (x) => toRange(-2, 2)(x) },
  { e: 0, domain: (x) => awayFrom(toRange(-2, 2)(x), 0, 0.3) },
  { e: -1, domain: (x) => awayFrom(toRange(-2, 2)(x), 0, 0.3) },
  { e: -2, domain: (x) => awayFrom(toRange(-2, 2)(x), 0, 0.3) },
  { e: -3, domain: (x) => awayFrom(toRange(-2, 2)(x), 0, 0.3) },
  { e: 4, domain: (x) => toRange(-1.5, 1.5)(x) },
  { e: 0.5, domain: toRange(0.2, 3) },
  { e: 1.5, domain: toRange(0.2, 3) },
  { e: -0.5, domain: toRange(0.2, 3) },
  { e: 2.25, domain: toRange(0.2, 3) },
];

describe('unary ops', () => {
  for (const c of unaryCases) {
    it(`${c.name}: forward and gradient match the reference`, async () => {
      await fc.assert(
        fc.asyncProperty(shapeArb(0, 4, 5), seedArb, async (shape, seed) => {
          const x = c.domain(randomArray(shape, mulberry32(seed)));
          await checkOp({
            label: c.name,
            gpu: ([t]) => c.gpu(t),
            ref: ([a]) => c.ref(a),
            inputs: [x],
            wrt: c.differentiable ? [0] : [],
            seed,
          });
        }),
        RUNS,
      );
    });
  }

  it('pow(x, number): forward and gradient match the reference, negative bases included', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb(0, 3, 5), seedArb, fc.constantFrom(...powCases), async (shape, seed, pc) => {
        const x = pc.domain(randomArray(shape, mulberry32(seed)));
        await checkOp({
          label: `pow(x, ${pc.e})`,
          gpu: ([t]) => E.pow(t, pc.e),
          ref: ([a]) => unary('pow', a, pc.e),
          inputs: [x],
          wrt: [0],
          seed,
        });
      }),
      { numRuns: 25 },
    );
  });

  it('pow of a negative base with a non-integer exponent is NaN, 0^-1 is +inf', async () => {
    const x = E.tensor([-2, -0.5, 4]);
    expectClose(await readNumbers(E.pow(x, 1.5)), [NaN, NaN, 8], { rtol: 1e-6 });
    expectClose(await readNumbers(E.pow(x, 0.5)), [NaN, NaN, 2], { rtol: 1e-6 });
    expectClose(await readNumbers(E.pow(E.tensor([0, 2]), -1)), [Infinity, 0.5], { rtol: 1e-6 });
  });

  it('affine with random scalars matches a·x + b', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb(1, 3, 6),
        seedArb,
        fc.float({ min: -4, max: 4, noNaN: true }),
        fc.float({ min: -4, max: 4, noNaN: true }),
        async (shape, seed, a, b) => {
          await checkOp({
            label: `affine(x, ${a}, ${b})`,
            gpu: ([t]) => E.affine(t, a, b),
            ref: ([v]) => unary('affine', v, a, b),
            inputs: [randomArray(shape, mulberry32(seed))],
            wrt: [0],
            seed,
            fwd: { rtol: 1e-5, atol: 1e-5 },
          });
        },
      ),
      RUNS,
    );
  });

  it('isNan marks exactly the NaN elements', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb(1, 3, 6), seedArb, async (shape, seed) => {
        const rng = mulberry32(seed);
        const x = randomArray(shape, rng, -5, 5);
        for (let i = 0; i < x.data.length; i++) {
          const r = rng();
          if (r < 0.3) x.data[i] = NaN;
          else if (r < 0.4) x.data[i] = rng() < 0.5 ? Infinity : -Infinity;
        }
        const got = await readNumbers(E.isNan(up(x)));
        expect(got).toEqual(Array.from(x.data, (v) => (Number.isNaN(v) ? 1 : 0)));
      }),
      RUNS,
    );
  });
});

// ---------------------------------------------------------------------------------------------

/** Values on the grid k/10 (b) and (k + 1/2)/10 (a): |a − b| ≥ 0.05 for every pair. */
function gridded(x: NDArray, half: boolean): NDArray {
  return nd(
    x.shape,
    Array.from(x.data, (v) => Math.fround((Math.round(v * 10) + (half ? 0.5 : 0)) / 10)),
  );
}

interface BinaryCase {
  op: BinaryOp;
  gpu: (a: Tensor, b: Tensor) => Tensor;
  prepA: (x: NDArray) => NDArray;
  prepB: (x: NDArray) => NDArray;
  differentiable: boolean;
}

const binaryCases: BinaryCase[] = [
  { op: 'add', gpu: E.add, prepA: ident, prepB: ident, differentiable: true },
  { op: 'sub', gpu: E.sub, prepA: ident, prepB: ident, differentiable: true },
  { op: 'mul', gpu: E.mul, prepA: ident, prepB: ident, differentiable: true },
  { op: 'div', gpu: E.div, prepA: ident, prepB: (x) => awayFrom(x, 0, 0.3), differentiable: true },
  { op: 'minimum', gpu: E.minimum, prepA: (x) => gridded(x, true), prepB: (x) => gridded(x, false), differentiable: true },
  { op: 'maximum', gpu: E.maximum, prepA: (x) => gridded(x, true), prepB: (x) => gridded(x, false), differentiable: true },
  { op: 'pow', gpu: E.pow, prepA: toRange(0.2, 3), prepB: toRange(-2, 2), differentiable: true },
];

/** Small integers, so that comparisons see many ties. */
const smallInts = (x: NDArray) => nd(x.shape, Array.from(x.data, (v) => Math.round(v * 2)));

const comparisonCases: BinaryCase[] = (['gt', 'ge', 'lt', 'le', 'eq', 'ne'] as const).map((op) => ({
  op,
  gpu: (a: Tensor, b: Tensor) => E[op](a, b),
  prepA: smallInts,
  prepB: smallInts,
  differentiable: false,
}));

describe('binary ops with broadcasting', () => {
  for (const c of [...binaryCases, ...comparisonCases]) {
    it(`${c.op}: forward${c.differentiable ? ' and gradients' : ''} match the reference`, async () => {
      await fc.assert(
        fc.asyncProperty(broadcastShapesArb(2), seedArb, async ([sa, sb], seed) => {
          const rng = mulberry32(seed);
          const a = c.prepA(randomArray(sa, rng));
          const b = c.prepB(randomArray(sb, rng));
          await checkOp({
            label: `${c.op} ${JSON.stringify(sa)} ${JSON.stringify(sb)}`,
            gpu: ([x, y]) => c.gpu(x, y),
            ref: ([x, y]) => binary(c.op, x, y),
            inputs: [a, b],
            wrt: c.differentiable ? [0, 1] : [],
            seed,
          });
        }),
        RUNS,
      );
    });
  }

  it('minimum/maximum send a tied gradient to the first operand only', async () => {
    const a = E.variable(E.tensor([1, 2, 3]));
    const b = E.variable(E.tensor([1, 5, 0]));
    for (const [f, ga, gb] of [
      [E.maximum, [1, 0, 1], [0, 1, 0]],
      [E.minimum, [1, 1, 0], [0, 0, 1]],
    ] as const) {
      const [da, db] = E.grad(E.sum(f(a, b)), [a, b]);
      expect(await readNumbers(da)).toEqual(ga);
      expect(await readNumbers(db)).toEqual(gb);
    }
  });

  it('incompatible shapes throw an error naming both shapes', () => {
    const a = E.zeros([2, 3]);
    const b = E.zeros([4, 3]);
    for (const f of [E.add, E.sub, E.mul, E.div, E.maximum, E.gt] as const) {
      expectThrowsMentioning(() => f(a, b), ['[2, 3]', '[4, 3]']);
    }
    expectThrowsMentioning(() => E.add(E.zeros([5]), E.zeros([2, 4])), ['[5]', '[2, 4]']);
    expectThrowsMentioning(() => E.where(E.zeros([3]), E.zeros([2, 2]), E.zeros([1])), ['[3]', '[2, 2]']);
  });
});

describe('scalar (number) operands', () => {
  const k = Math.fround(-1.3);
  const s = nd([], [k]);
  const cases: Array<{
    name: string;
    gpu: (x: Tensor) => Tensor;
    ref: (x: NDArray) => NDArray;
    prep?: (x: NDArray) => NDArray;
    diff?: boolean;
  }> = [
    { name: 'add(x, k)', gpu: (x) => E.add(x, k), ref: (x) => binary('add', x, s) },
    { name: 'add(k, x)', gpu: (x) => E.add(k, x), ref: (x) => binary('add', s, x) },
    { name: 'sub(x, k)', gpu: (x) => E.sub(x, k), ref: (x) => binary('sub', x, s) },
    { name: 'sub(k, x)', gpu: (x) => E.sub(k, x), ref: (x) => binary('sub', s, x) },
    { name: 'mul(x, k)', gpu: (x) => E.mul(x, k), ref: (x) => binary('mul', x, s) },
    { name: 'mul(k, x)', gpu: (x) => E.mul(k, x), ref: (x) => binary('mul', s, x) },
    { name: 'div(x, k)', gpu: (x) => E.div(x, k), ref: (x) => binary('div', x, s) },
    { name: 'div(k, x)', gpu: (x) => E.div(k, x), ref: (x) => binary('div', s, x), prep: (x) => awayFrom(x, 0, 0.3) },
    {
      name: 'maximum(x, 0.25)',
      gpu: (x) => E.maximum(x, 0.25),
      ref: (x) => binary('maximum', x, nd([], [0.25])),
      prep: (x) => awayFrom(x, 0.25, 0.03),
    },
    {
      name: 'minimum(x, 0.25)',
      gpu: (x) => E.minimum(x, 0.25),
      ref: (x) => binary('minimum', x, nd([], [0.25])),
      prep: (x) => awayFrom(x, 0.25, 0.03),
    },
    { name: 'gt(x, 1)', gpu: (x) => E.gt(x, 1), ref: (x) => binary('gt', x, nd([], [1])), prep: smallInts, diff: false },
    { name: 'le(x, 1)', gpu: (x) => E.le(x, 1), ref: (x) => binary('le', x, nd([], [1])), prep: smallInts, diff: false },
    { name: 'eq(x, 1)', gpu: (x) => E.eq(x, 1), ref: (x) => binary('eq', x, nd([], [1])), prep: smallInts, diff: false },
  ];
  for (const c of cases) {
    it(`${c.name} matches the reference`, async () => {
      await fc.assert(
        fc.asyncProperty(shapeArb(0, 3, 5), seedArb, async (shape, seed) => {
          const x = (c.prep ?? ident)(randomArray(shape, mulberry32(seed), -2, 2));
          await checkOp({
            label: c.name,
            gpu: ([t]) => c.gpu(t),
            ref: ([a]) => c.ref(a),
            inputs: [x],
            wrt: c.diff === false ? [] : [0],
            seed,
          });
        }),
        { numRuns: 10 },
      );
    });
  }
});

describe('where', () => {
  it('selects with broadcasting; gradients flow to the chosen operand only', async () => {
    await fc.assert(
      fc.asyncProperty(broadcastShapesArb(3), seedArb, async ([sc, sa, sb], seed) => {
        const rng = mulberry32(seed);
        const cond = nd(sc, Array.from(randomArray(sc, rng).data, (v) => (v > 0 ? 1 : 0)));
        const a = randomArray(sa, rng);
        const b = randomArray(sb, rng);
        await checkOp({
          label: 'where',
          gpu: ([c, x, y]) => E.where(c, x, y),
          ref: ([c, x, y]) => refWhere(c, x, y),
          inputs: [cond, a, b],
          wrt: [1, 2],
          seed,
        });
      }),
      RUNS,
    );
  });

  it('accepts number branches', async () => {
    const cond = E.tensor([1, 0, 0, 2]);
    const x = E.variable(E.tensor([5, 6, 7, 8]));
    const y = E.where(cond, x, -1);
    expect(await readNumbers(y)).toEqual([5, -1, -1, 8]);
    const [g] = E.grad(E.sum(y), [x]);
    expect(await readNumbers(g)).toEqual([1, 0, 0, 1]);
    expect(await readNumbers(E.where(cond, 3, x))).toEqual([3, 6, 7, 3]);
  });
});

describe('NaN semantics (PyTorch: NaN propagates, NaN != NaN)', () => {
  // Checked against the reference, which follows torch: relu/clamp/maximum/minimum keep NaN,
  // comparisons with NaN are false except ne, and a NaN condition of where counts as true.
  it('unary, binary and where ops treat NaN like the reference', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb(1, 2, 6), seedArb, async (shape, seed) => {
        const rng = mulberry32(seed);
        const withNaN = (a: NDArray): NDArray => {
          for (let i = 0; i < a.data.length; i++) if (rng() < 0.3) a.data[i] = NaN;
          return a;
        };
        const x = withNaN(smallInts(randomArray(shape, rng)));
        const y = withNaN(smallInts(randomArray(shape, rng)));
        const opts = { rtol: 1e-6, atol: 0 };
        const gx = up(x);
        const gy = up(y);
        expectClose(await readNumbers(E.relu(gx)), unary('relu', x).data, { ...opts, label: 'relu' });
        expectClose(await readNumbers(E.clamp(gx, -1, 1)), unary('clamp', x, -1, 1).data, { ...opts, label: 'clamp' });
        expectClose(await readNumbers(E.abs(gx)), unary('abs', x).data, { ...opts, label: 'abs' });
        for (const op of ['maximum', 'minimum', 'add', 'mul', 'gt', 'ge', 'lt', 'le', 'eq', 'ne'] as const) {
          expectClose(await readNumbers(E[op](gx, gy)), binary(op, x, y).data, { ...opts, label: op });
        }
        expectClose(await readNumbers(E.where(gx, gy, E.zeros([]))), refWhere(x, y, nd([], [0])).data, {
          ...opts,
          label: 'where',
        });
      }),
      RUNS,
    );
  });
});
