// maskedConv2d and maskedLinear: forward and gradients equal those of the float64 reference of the
// layer with weights w ⊙ M (for both conv strategies, on shapes that do and do not fill the GEMM
// tiles), the straight-through option returns ∂L/∂(w ⊙ M), and double backward agrees with the
// plain composition conv2d(x, w ⊙ M) built from already-tested ops.

import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import { forceConvStrategy, setMaskedGemmWeights, type MaskedGemmWeights } from '../../kernels/conv2d.js';
import { conv2d, linear } from '../reference/ops.js';
import { checkOp, stopIfTimedOut, expectClose, mulberry32, nd, randomArray, seedArb, up, type NDArray } from './helpers.js';

afterEach(() => {
  forceConvStrategy(null);
  setMaskedGemmWeights('premultiplied');
});

/** A 0/1 mask that keeps each entry with probability 1 − sparsity. */
function randomMask(shape: readonly number[], sparsity: number, rng: () => number): NDArray {
  const m = nd(shape);
  for (let i = 0; i < m.data.length; i++) m.data[i] = rng() >= sparsity ? 1 : 0;
  return m;
}

const masked = (w: NDArray, m: NDArray): NDArray => nd(w.shape, Array.from(w.data, (v, i) => v * m.data[i]));

describe('maskedConv2d', () => {
  // The GEMM path runs with the mask multiplied into its weight matrix and applied in its A loads.
  const variants: [('direct' | 'gemm'), MaskedGemmWeights][] = [
    ['direct', 'premultiplied'],
    ['gemm', 'premultiplied'],
    ['gemm', 'in-kernel'],
  ];
  for (const [strategy, maskMode] of variants) {
    const name = strategy === 'direct' ? 'direct' : `gemm, ${maskMode} mask`;
    it(`${name}: forward and gradients equal the reference conv of w ⊙ M`, async (ctx) => {
      const arb = fc.record({
        n: fc.integer({ min: 1, max: 3 }),
        cin: fc.constantFrom(1, 2, 3, 5),
        // The GEMM path needs >= 4 output channels (a multiple of 4 for the input gradient).
        cout: strategy === 'gemm' ? fc.constantFrom(4, 8, 12) : fc.constantFrom(1, 3, 6),
        hw: fc.integer({ min: 2, max: 7 }),
        kernel: fc.constantFrom(1, 3),
        stride: fc.constantFrom(1, 2),
        sparsity: fc.constantFrom(0, 0.5, 0.9, 1),
        seed: seedArb,
      });
      await fc.assert(
        fc.asyncProperty(arb, async (p) => {
          stopIfTimedOut(ctx);
          forceConvStrategy(strategy);
          setMaskedGemmWeights(maskMode);
          const rng = mulberry32(p.seed);
          const pad = p.kernel === 3 ? 1 : 0;
          const w = randomArray([p.cout, p.cin, p.kernel, p.kernel], rng);
          const m = randomMask(w.shape, p.sparsity, rng);
          await checkOp({
            label: `${name} ${JSON.stringify(p)}`,
            gpu: ([x, wv]) => E.maskedConv2d(x, wv, up(m), null, { stride: p.stride, padding: pad }),
            ref: ([x, wv]) => conv2d(x, masked(wv, m), [p.stride, p.stride], [pad, pad]),
            inputs: [randomArray([p.n, p.cin, p.hw, p.hw], rng), w],
            wrt: [0, 1],
            seed: p.seed,
            fwd: { rtol: 1e-5, atol: 1e-5 },
          });
        }),
        { numRuns: 10 },
      );
    });
  }

  it('pruned weights get a zero gradient, and the straight-through option gives ∂L/∂(w ⊙ M)', async () => {
    for (const strategy of ['direct', 'gemm'] as const) {
      forceConvStrategy(strategy);
      const rng = mulberry32(31);
      const w = randomArray([8, 3, 3, 3], rng);
      const m = randomMask(w.shape, 0.6, rng);
      const x = randomArray([2, 3, 5, 5], rng);
      // Inputs are x and w ⊙ M: the op masks again (a no-op), the reference conv does not, so the
      // finite differences of the reference are exactly ∂L/∂(w ⊙ M), pruned entries included.
      await checkOp({
        label: `${strategy} straight-through`,
        gpu: ([xv, wv]) => E.maskedConv2d(xv, wv, up(m), null, { padding: 1, gradWrtMaskedWeight: true }),
        ref: ([xv, wv]) => conv2d(xv, wv, [1, 1], [1, 1]),
        inputs: [x, masked(w, m)],
        wrt: [0, 1],
        seed: 31,
        fwd: { rtol: 1e-5, atol: 1e-5 },
      });
      await E.scopeAsync(async () => {
        const wv = E.variable(up(w));
        const [gw] = E.grad(E.sum(E.maskedConv2d(up(x), wv, up(m), null, { padding: 1 })), [wv]);
        const d = await gw.data();
        let prunedNonZero = 0;
        let keptNonZero = 0;
        m.data.forEach((mv, i) => {
          if (mv === 0 && d[i] !== 0) prunedNonZero++;
          if (mv === 1 && d[i] !== 0) keptNonZero++;
        });
        expect(prunedNonZero, `${strategy}: pruned weights with a gradient`).toBe(0);
        expect(keptNonZero, `${strategy}: kept weights with a gradient`).toBeGreaterThan(0);
      });
    }
  });

  it('double backward equals that of conv2d(x, w ⊙ M)', async () => {
    for (const strategy of ['direct', 'gemm'] as const) {
      forceConvStrategy(strategy);
      const rng = mulberry32(5);
      const x = randomArray([2, 4, 6, 6], rng);
      const w = randomArray([8, 4, 3, 3], rng);
      const m = randomMask(w.shape, 0.5, rng);
      const vx = randomArray(x.shape, rng);
      const vw = randomArray(w.shape, rng);
      // Second derivatives of L = Σ y² through the first-order gradients w.r.t. x and w.
      const secondOrder = (layer: (x: Tensor, w: Tensor) => Tensor) =>
        E.scopeAsync(async () => {
          const xv = E.variable(up(x));
          const wv = E.variable(up(w));
          const y = layer(xv, wv);
          const [gx, gw] = E.grad(E.sum(E.mul(y, y)), [xv, wv], { createGraph: true });
          const s = E.add(E.sum(E.mul(gx, up(vx))), E.sum(E.mul(gw, up(vw))));
          const [hx, hw] = E.grad(s, [xv, wv]);
          return { hx: Array.from(await hx.data()), hw: Array.from(await hw.data()) };
        });
      const got = await secondOrder((xv, wv) => E.maskedConv2d(xv, wv, up(m), null, { padding: 1 }));
      const want = await secondOrder((xv, wv) => E.conv2d(xv, E.mul(wv, up(m)), null, { padding: 1 }));
      expectClose(got.hx, want.hx, { rtol: 1e-4, atol: 1e-4, label: `${strategy} d²/dx` });
      expectClose(got.hw, want.hw, { rtol: 1e-4, atol: 1e-4, label: `${strategy} d²/dw` });
    }
  });

  it('a differentiable mask gets ∂L/∂(w ⊙ M) ⊙ w, first and second order (HARP trains its scores through it)', async () => {
    for (const strategy of ['direct', 'gemm'] as const) {
      forceConvStrategy(strategy);
      const rng = mulberry32(6);
      const x = randomArray([2, 3, 5, 5], rng);
      const w = randomArray([4, 3, 3, 3], rng);
      // Any real values: the kernels multiply by M, so finite differences in M are meaningful.
      const m = randomArray(w.shape, rng);
      await checkOp({
        label: `${strategy} mask gradient`,
        gpu: ([xv, wv, mv]) => E.maskedConv2d(xv, wv, mv, null, { padding: 1 }),
        ref: ([xv, wv, mv]) => conv2d(xv, masked(wv, mv), [1, 1], [1, 1]),
        inputs: [x, w, m],
        wrt: [0, 1, 2],
        seed: 6,
        fwd: { rtol: 1e-5, atol: 1e-5 },
      });
      const vx = randomArray(x.shape, rng);
      const secondOrder = (layer: (x: Tensor, w: Tensor, m: Tensor) => Tensor) =>
        E.scopeAsync(async () => {
          const [xv, wv, mv] = [E.variable(up(x)), E.variable(up(w)), E.variable(up(m))];
          const [gx] = E.grad(E.sum(E.mul(layer(xv, wv, mv), layer(xv, wv, mv))), [xv], { createGraph: true });
          const [hm] = E.grad(E.sum(E.mul(gx, up(vx))), [mv]);
          return Array.from(await hm.data());
        });
      const got = await secondOrder((xv, wv, mv) => E.maskedConv2d(xv, wv, mv, null, { padding: 1 }));
      const want = await secondOrder((xv, wv, mv) => E.conv2d(xv, E.mul(wv, mv), null, { padding: 1 }));
      expectClose(got, want, { rtol: 1e-4, atol: 1e-4, label: `${strategy} d²/dM` });
    }
  });

  it('adds the bias and names a mask of the wrong shape', async () => {
    const rng = mulberry32(3);
    const w = randomArray([4, 2, 3, 3], rng);
    const m = randomMask(w.shape, 0.5, rng);
    const b = randomArray([4], rng);
    await checkOp({
      label: 'bias',
      gpu: ([x, wv, bv]) => E.maskedConv2d(x, wv, up(m), bv, { padding: 1 }),
      ref: ([x, wv, bv]) => conv2d(x, masked(wv, m), [1, 1], [1, 1], bv),
      inputs: [randomArray([1, 2, 4, 4], rng), w, b],
      wrt: [2],
      fwd: { rtol: 1e-5, atol: 1e-5 },
    });
    expect(() => E.scope(() => E.maskedConv2d(E.zeros([1, 2, 4, 4]), E.zeros([4, 2, 3, 3]), E.zeros([4, 2, 1, 1])))).toThrow(
      /mask f32 \[4, 2, 1, 1\]/,
    );
  });
});

describe('maskedLinear', () => {
  it('forward and gradients equal the reference linear layer of w ⊙ M', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 12 }), seedArb, async (n, fin, fout, seed) => {
        const rng = mulberry32(seed);
        const w = randomArray([fout, fin], rng);
        const m = randomMask(w.shape, 0.5, rng);
        await checkOp({
          label: `linear ${n}x${fin}->${fout}`,
          gpu: ([x, wv, b]) => E.maskedLinear(x, wv, up(m), b),
          ref: ([x, wv, b]) => linear(x, masked(wv, m), b),
          inputs: [randomArray([n, fin], rng), w, randomArray([fout], rng)],
          wrt: [0, 1, 2],
          seed,
          fwd: { rtol: 1e-5, atol: 1e-5 },
        });
      }),
      { numRuns: 8 },
    );
  });

  for (const straightThrough of [false, true])
    it(`a differentiable mask gets ∂L/∂(w ⊙ M) ⊙ w${straightThrough ? ' (straight-through option)' : ''}`, async () => {
      const rng = mulberry32(straightThrough ? 9 : 10);
      await checkOp({
        label: `linear mask gradient, straight-through ${straightThrough}`,
        gpu: ([x, wv, mv]) => E.maskedLinear(x, wv, mv, null, { gradWrtMaskedWeight: straightThrough }),
        ref: ([x, wv, mv]) => linear(x, masked(wv, mv)),
        inputs: [randomArray([3, 5], rng), randomArray([4, 5], rng), randomArray([4, 5], rng)],
        wrt: [0, 2],
        fwd: { rtol: 1e-5, atol: 1e-5 },
      });
    });

  it('the straight-through option gives ∂L/∂(w ⊙ M)', async () => {
    const rng = mulberry32(8);
    const w = randomArray([6, 5], rng);
    const m = randomMask(w.shape, 0.5, rng);
    await checkOp({
      label: 'linear straight-through',
      gpu: ([x, wv]) => E.maskedLinear(x, wv, up(m), null, { gradWrtMaskedWeight: true }),
      ref: ([x, wv]) => linear(x, wv),
      inputs: [randomArray([3, 5], rng), masked(w, m)],
      wrt: [0, 1],
      fwd: { rtol: 1e-5, atol: 1e-5 },
    });
  });
});

