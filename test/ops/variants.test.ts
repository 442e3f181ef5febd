// Every kernel variant, not only the one the automatic choice picks: the matmul's scalar and vec4
// kernels (the vec4 GEMM both as register tiles and as the subgroup kernel, whose 8/16/32-row
// tiles are picked by M and the GEMM's size) and the conv's direct and im2col+GEMM strategies, on shapes that do and do not divide
// the tile sizes (the vec4 GEMM tiles are 4×8; im2col pads patch rows to multiples of 4), with the
// batch split into several im2col chunks.

import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { forceCol2imKernel, forceConvStrategy, forceIm2colKernel, setColsBudget } from '../../kernels/conv2d.js';
import { forceGemmKernel, forceMatmulVariant, forceSubgroupRows, subgroupGemmSupported } from '../../kernels/matmul.js';
import { binaryKernel, setElementwiseVec4, unaryKernel, type BinaryOp, type UnaryOp } from '../../kernels/elementwise.js';
import { conv2d, matmul } from '../reference/ops.js';
import { checkOp, stopIfTimedOut, mulberry32, randomArray, seedArb, type NDArray } from './helpers.js';

afterEach(() => {
  setElementwiseVec4(true);
  forceMatmulVariant(null);
  forceGemmKernel(null);
  forceSubgroupRows(null);
  forceConvStrategy(null);
  forceCol2imKernel(null);
  forceIm2colKernel(null);
  setColsBudget(64 * 1024 * 1024);
});

const transposed = (a: NDArray): NDArray => {
  const [r, c] = a.shape;
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = a.data[i * c + j];
  return { shape: [c, r], data: out };
};

/** The vec4 GEMM's kernels to force; the subgroup one where the device can run it. */
const gemmKernels = () => (subgroupGemmSupported() ? (['register', 'subgroup', 'shared'] as const) : (['register', 'shared'] as const));

describe('matmul variants', () => {
  for (const [variant, kernel] of [['scalar', null], ['vec4', 'register'], ['vec4', 'subgroup'], ['vec4', 'shared']] as const) {
    it(`${variant}${kernel ? ` (${kernel})` : ''}: forward and gradients for every transpose combination`, async (ctx) => {
      if (kernel && !(gemmKernels() as readonly string[]).includes(kernel)) return ctx.skip();
      // vec4 needs K (and M when A is transposed, N when B is not) to be multiples of 4; M covers
      // the subgroup kernel's 8- and 16-row tiles, edge tiles and M < 8 (the register kernel).
      const dim = variant === 'vec4' ? fc.integer({ min: 1, max: 5 }).map((d) => 4 * d) : fc.integer({ min: 1, max: 13 });
      const mdim = variant === 'vec4' ? fc.integer({ min: 1, max: 9 }).map((d) => 4 * d) : dim;
      await fc.assert(
        fc.asyncProperty(mdim, dim, dim, fc.boolean(), fc.boolean(), fc.integer({ min: 1, max: 3 }), seedArb, async (m, k, n, ta, tb, batch, seed) => {
          stopIfTimedOut(ctx);
          forceMatmulVariant(variant);
          forceGemmKernel(kernel);
          const rng = mulberry32(seed);
          const a = randomArray(ta ? [k, m] : [m, k], rng);
          const b = randomArray(tb ? [n, k] : [k, n], rng);
          await checkOp({
            label: `${variant} ${kernel ?? ''} ${m}x${k}x${n} transA ${ta} transB ${tb}`,
            gpu: ([x, y]) => E.matmulT(x, y, ta, tb),
            ref: ([x, y]) => matmul(ta ? transposed(x) : x, tb ? transposed(y) : y),
            inputs: [a, b],
            wrt: [0, 1],
            seed,
            fwd: { rtol: 1e-5, atol: 1e-5 },
          });
          if (batch > 1) {
            const ab = randomArray([batch, m, k], rng);
            await checkOp({
              label: `${variant} batched ${batch}x${m}x${k}x${n}`,
              gpu: ([x, y]) => E.matmul(x, y),
              ref: ([x, y]) => matmul(x, y),
              inputs: [ab, randomArray([k, n], rng)],
              wrt: [0, 1],
              seed,
              fwd: { rtol: 1e-5, atol: 1e-5 },
            });
          }
        }),
        { numRuns: 12 },
      );
    });
  }
});

describe('subgroup GEMM with 32-row tiles', () => {
  // Chosen by size only for big GEMMs (each such pipeline takes llvmpipe ~15 s to compile), so it
  // is forced here: M = 36 (one full tile shifted back over the edge) in all three conv GEMMs
  // (cout 36; cin·3·3 = 36), and a matmul per transpose combination.
  it('conv forward, input and weight gradients, and every matmul transpose', async (ctx) => {
    if (!subgroupGemmSupported()) return ctx.skip();
    forceGemmKernel('subgroup');
    forceSubgroupRows(32);
    forceConvStrategy('gemm');
    const rng = mulberry32(32);
    await checkOp({
      label: 'gemm (subgroup, 32 rows) conv',
      gpu: ([x, w]) => E.conv2d(x, w, null, { padding: 1 }),
      ref: ([x, w]) => conv2d(x, w, [1, 1], [1, 1]),
      inputs: [randomArray([2, 4, 5, 5], rng), randomArray([36, 4, 3, 3], rng)],
      wrt: [0, 1],
      seed: 32,
      fwd: { rtol: 1e-5, atol: 1e-5 },
    });
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const [m, k, n] = [36, 8, 12];
      await checkOp({
        label: `matmul (subgroup, 32 rows) transA ${ta} transB ${tb}`,
        gpu: ([x, y]) => E.matmulT(x, y, ta, tb),
        ref: ([x, y]) => matmul(ta ? transposed(x) : x, tb ? transposed(y) : y),
        inputs: [randomArray(ta ? [k, m] : [m, k], rng), randomArray(tb ? [n, k] : [k, n], rng)],
        fwd: { rtol: 1e-5, atol: 1e-5 },
      });
    }
  }, 300_000);
});

describe('shared-memory GEMM across tiles', () => {
  // The property test above stays inside one 64×64 tile and two K slices; here M and N span
  // several tiles with ragged last ones, K several 16-value slices with a ragged last one, batched
  // and with the batch summed (a conv's weight gradient), in every transpose combination.
  it('matches the reference over several tiles, batches and K slices', async (ctx) => {
    forceGemmKernel('shared');
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 17, max: 40 }).map((d) => 4 * d),
        fc.integer({ min: 5, max: 14 }).map((d) => 4 * d),
        fc.integer({ min: 17, max: 40 }).map((d) => 4 * d),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 1, max: 2 }),
        seedArb,
        async (m, k, n, ta, tb, batch, seed) => {
          stopIfTimedOut(ctx);
          forceGemmKernel('shared');
          const rng = mulberry32(seed);
          // Odd sizes where the layout allows them: M when A is not transposed, N when B is.
          const mm = ta ? m : m - 1;
          const nn = tb ? n - 3 : n;
          const a = randomArray(ta ? [batch, k, mm] : [batch, mm, k], rng);
          const b = randomArray(tb ? [batch, nn, k] : [batch, k, nn], rng);
          const ref = ([x, y]: NDArray[]): NDArray => {
            const out: number[] = [];
            for (let i = 0; i < batch; i++) {
              const slice = (t: NDArray): NDArray => ({ shape: t.shape.slice(1), data: t.data.slice((i * t.data.length) / batch, ((i + 1) * t.data.length) / batch) });
              out.push(...matmul(ta ? transposed(slice(x)) : slice(x), tb ? transposed(slice(y)) : slice(y)).data);
            }
            return { shape: [batch, mm, nn], data: Float64Array.from(out) };
          };
          await checkOp({
            label: `shared ${batch}x${mm}x${k}x${nn} transA ${ta} transB ${tb}`,
            gpu: ([x, y]) => E.matmulT(x, y, ta, tb),
            ref,
            inputs: [a, b],
            fwd: { rtol: 1e-4, atol: 1e-4 },
          });
        },
      ),
      { numRuns: 6 },
    );
  }, 300_000);
});

describe('conv2d strategies', () => {
  const strategies = [['direct', null], ['gemm', 'register'], ['gemm', 'subgroup'], ['gemm', 'shared'], ['gemm-split', 'register'], ['gemm-split', 'shared']] as const;
  for (const [strategy, kernel] of strategies) {
    it(`${strategy}${kernel ? ` (${kernel} GEMM)` : ''}: forward and gradients on shapes that do and do not fill the tiles`, async (ctx) => {
      if (kernel && !(gemmKernels() as readonly string[]).includes(kernel)) return ctx.skip();
      // The GEMM path needs >= 4 output channels
      // (a multiple of 4 for the input gradient).
      const arb = fc.record({
        n: fc.integer({ min: 1, max: 3 }),
        cin: fc.constantFrom(1, 2, 3, 5),
        cout: strategy !== 'direct' ? fc.constantFrom(4, 8, 12, 20) : fc.constantFrom(1, 3, 6),
        hw: fc.integer({ min: 2, max: 7 }),
        kernel: fc.constantFrom(1, 3),
        seed: seedArb,
      });
      await fc.assert(
        fc.asyncProperty(arb, async (p) => {
          stopIfTimedOut(ctx);
          forceConvStrategy(strategy);
          forceGemmKernel(kernel);
          const rng = mulberry32(p.seed);
          const pad = p.kernel === 3 ? 1 : 0;
          await checkOp({
            label: `${strategy} x [${p.n}, ${p.cin}, ${p.hw}, ${p.hw}] w [${p.cout}, ${p.cin}, ${p.kernel}, ${p.kernel}]`,
            gpu: ([x, w]) => E.conv2d(x, w, null, { padding: pad }),
            ref: ([x, w]) => conv2d(x, w, [1, 1], [pad, pad]),
            inputs: [randomArray([p.n, p.cin, p.hw, p.hw], rng), randomArray([p.cout, p.cin, p.kernel, p.kernel], rng)],
            wrt: [0, 1],
            seed: p.seed,
            fwd: { rtol: 1e-5, atol: 1e-5 },
          });
        }),
        { numRuns: 12 },
      );
    });
  }

  for (const kernel of ['register', 'subgroup', 'shared'] as const)
  it(`gemm (${kernel} GEMM): stride 2 and a batch split over several im2col chunks`, async (ctx) => {
    if (!(gemmKernels() as readonly string[]).includes(kernel)) return ctx.skip();
    forceConvStrategy('gemm');
    forceGemmKernel(kernel);
    // Patches of one item: 28 rows × 16 positions × 4 B; a budget of two items gives 3 chunks.
    setColsBudget(2 * 28 * 16 * 4);
    const rng = mulberry32(99);
    await checkOp({
      label: `gemm (${kernel}) stride 2`,
      gpu: ([x, w]) => E.conv2d(x, w, null, { stride: 2, padding: 1 }),
      ref: ([x, w]) => conv2d(x, w, [2, 2], [1, 1]),
      inputs: [randomArray([5, 3, 8, 8], rng), randomArray([8, 3, 3, 3], rng)],
      wrt: [0, 1],
      seed: 99,
      fwd: { rtol: 1e-5, atol: 1e-5 },
    });
  });
  it('gemm-split: the weight gradient summed over several chunks and partial-product groups', async () => {
    forceConvStrategy('gemm-split');
    // Patches of one item: 28 rows × 16 positions × 4 B = 1792 B, partial products 32 × 28 × 4 B =
    // 3584 B: a budget of 5376 B unfolds 3 items at a time and multiplies them one by one, so
    // the five items' products are summed across both loops.
    setColsBudget(5376);
    const rng = mulberry32(7);
    await checkOp({
      label: 'gemm-split stride 2, chunked',
      gpu: ([x, w]) => E.conv2d(x, w, null, { stride: 2, padding: 1 }),
      ref: ([x, w]) => conv2d(x, w, [2, 2], [1, 1]),
      inputs: [randomArray([5, 3, 8, 8], rng), randomArray([32, 3, 3, 3], rng)],
      wrt: [0, 1],
      seed: 7,
      fwd: { rtol: 1e-5, atol: 1e-5 },
    });
  });
});

describe('im2col and col2im kernels', () => {
  // The forward's and weight gradient's unfold and the input gradient's fold-back, both kernels: strides 1-3, kernels 1-5, paddings up to k-1,
  // widths that do and do not fill the 4-pixel groups, more planes than one 64-lane group, and a
  // batch split over several chunks (then each chunk's planes start at an offset).
  for (const kernel of ['positions', 'lanes'] as const)
    it(`${kernel}: conv2d forward, input and weight gradients`, async (ctx) => {
      const arb = fc.record({
        n: fc.integer({ min: 1, max: 3 }),
        cin: fc.constantFrom(1, 3, 5, 33),
        cout: fc.constantFrom(4, 8),
        h: fc.integer({ min: 3, max: 9 }),
        w: fc.integer({ min: 3, max: 10 }),
        k: fc.constantFrom(1, 2, 3, 5),
        s: fc.constantFrom(1, 2, 3),
        padFrac: fc.double({ min: 0, max: 0.999, noNaN: true }),
        chunked: fc.boolean(),
        seed: seedArb,
      });
      await fc.assert(
        fc.asyncProperty(arb, async (p) => {
          stopIfTimedOut(ctx);
          const k = Math.min(p.k, p.h, p.w);
          const pad = Math.floor(p.padFrac * k);
          forceConvStrategy('gemm');
          forceCol2imKernel(kernel);
          forceIm2colKernel(kernel);
          const oh = Math.floor((p.h + 2 * pad - k) / p.s) + 1;
          const ow = Math.floor((p.w + 2 * pad - k) / p.s) + 1;
          const perItem = Math.ceil((p.cin * k * k) / 4) * 4 * Math.ceil((oh * ow) / 4) * 4 * 4;
          setColsBudget(p.chunked ? perItem : 64 * 1024 * 1024);
          const rng = mulberry32(p.seed);
          await checkOp({
            label: `im2col/col2im ${kernel} x [${p.n}, ${p.cin}, ${p.h}, ${p.w}] k ${k} s ${p.s} p ${pad} chunked ${p.chunked}`,
            gpu: ([x, w]) => E.conv2d(x, w, null, { stride: p.s, padding: pad }),
            ref: ([x, w]) => conv2d(x, w, [p.s, p.s], [pad, pad]),
            inputs: [randomArray([p.n, p.cin, p.h, p.w], rng), randomArray([p.cout, p.cin, k, k], rng)],
            wrt: [0, 1],
            seed: p.seed,
            fwd: { rtol: 1e-5, atol: 1e-5 },
          });
        }),
        { numRuns: 10 },
      );
    });
});

describe('elementwise vec4 kernels', () => {
  // Sizes that are and are not multiples of 4 (the scalar kernel) and that end inside a PER-vec4
  // group; inputs include NaN, ±0 and values on both sides of the ops' thresholds.
  const unaryOps: UnaryOp[] = ['relu', 'step', 'neg', 'abs', 'affine', 'clamp', 'exp', 'square', 'isNan'];
  const binaryOps: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'gt', 'ne'];
  const values = (n: number, rng: () => number) =>
    Float32Array.from({ length: n }, (_, i) => (i % 7 === 3 ? NaN : i % 11 === 5 ? 0 : Math.round((rng() * 8 - 4) * 8) / 8));
  const same = (a: Float32Array, b: Float32Array, what: string) => {
    expect(a.length, what).toBe(b.length);
    a.forEach((v, i) => expect(Object.is(v, b[i]) || Math.abs(v - b[i]) <= 1e-6 * Math.abs(b[i]), `${what} [${i}]: ${v} vs ${b[i]}`).toBe(true));
  };
  it('unary and same-shape binary ops give what the scalar kernels give', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 70 }), seedArb, async (n, seed) => {
        const rng = mulberry32(seed);
        const x = E.tensor(values(n, rng), [n]);
        const z = E.tensor(values(n, rng), [n]);
        try {
          for (const op of unaryOps) {
            setElementwiseVec4(true);
            const v = unaryKernel(op, x, -0.5, 1.25);
            setElementwiseVec4(false);
            const s = unaryKernel(op, x, -0.5, 1.25);
            same((await v.data()) as Float32Array, (await s.data()) as Float32Array, `${op} n=${n}`);
            v.dispose();
            s.dispose();
          }
          for (const op of binaryOps) {
            setElementwiseVec4(true);
            const v = binaryKernel(op, x, z);
            setElementwiseVec4(false);
            const s = binaryKernel(op, x, z);
            same((await v.data()) as Float32Array, (await s.data()) as Float32Array, `${op} n=${n}`);
            v.dispose();
            s.dispose();
          }
        } finally {
          x.dispose();
          z.dispose();
        }
      }),
      { numRuns: 12 },
    );
  });
});
