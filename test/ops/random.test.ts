// Counter-based random numbers (src/ops/random.ts, shaders/random.wgsl): bit-exact agreement with
// the TypeScript Threefry-2x32 reference, reproducibility, streams, and the distributions'
// statistics (bounds are 5 standard errors; the seeds are fixed, so these never flake).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { threefry2x32, uniformFromBits } from '../reference/threefry.js';
import { expectClose, readNumbers } from './helpers.js';

const TWO32 = 2 ** 32;

function keyOf(seed: number): [number, number] {
  return [seed % TWO32, Math.floor(seed / TWO32)];
}

/** The first output word of Threefry for element i of a draw starting at counter `position`. */
function refBits(seed: number, position: number, n: number): number[] {
  const key = keyOf(seed);
  return Array.from({ length: n }, (_, i) => {
    const c = position + i;
    return threefry2x32(key, [c % TWO32, Math.floor(c / TWO32)])[0];
  });
}

function meanVar(xs: ArrayLike<number>): { mean: number; variance: number } {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  const mean = s / xs.length;
  let v = 0;
  for (let i = 0; i < xs.length; i++) v += (xs[i] - mean) ** 2;
  return { mean, variance: v / (xs.length - 1) };
}

describe('Generator matches the Threefry-2x32 reference bit for bit', () => {
  it('bits() and uniform() for random seeds (up to 2^53) and positions', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.integer({ min: 1, max: 40 }),
        async (seed, position, n) => {
          const g = new E.Generator(seed);
          g.position = position;
          const bits = g.bits([n]);
          expect(bits.dtype).toBe('u32');
          expect(g.position).toBe(position + n);
          const want = refBits(seed, position, n);
          expect(await readNumbers(bits)).toEqual(want);
          const u = g.uniform([n]);
          expect(await readNumbers(u)).toEqual(refBits(seed, position + n, n).map(uniformFromBits));
        },
      ),
      { numRuns: 20 },
    );
  });

  it('carries into the high counter word across position 2^32', async () => {
    for (const seed of [0, 42, 2 ** 40 + 5]) {
      const g = new E.Generator(seed);
      g.position = TWO32 - 3;
      const got = await readNumbers(g.bits([7]));
      expect(got).toEqual(refBits(seed, TWO32 - 3, 7));
      // Elements 3.. use counter high word 1: a kernel without the carry would repeat counters 0..3.
      expect(got.slice(3)).not.toEqual(refBits(seed, 0, 4));
    }
  });

  it('a matrix-shaped draw uses consecutive counters in row-major order', async () => {
    const g = new E.Generator(7);
    const got = await readNumbers(g.uniform([3, 4, 5]));
    expect(got).toEqual(refBits(7, 0, 60).map(uniformFromBits));
  });

  it('uniform(shape, lo, hi) is lo + (hi − lo)·u', async () => {
    const g = new E.Generator(11);
    g.position = 1000;
    const got = await readNumbers(g.uniform([50], -3, 5));
    const want = refBits(11, 1000, 50).map((b) => -3 + 8 * uniformFromBits(b));
    expectClose(got, want, { rtol: 1e-6, atol: 1e-6 });
    for (const v of got) {
      expect(v).toBeGreaterThanOrEqual(-3);
      expect(v).toBeLessThan(5);
    }
  });
});

describe('reproducibility and streams', () => {
  it('the same seed gives the same numbers, a different seed different ones', async () => {
    const a = await readNumbers(new E.Generator(123).uniform([64]));
    const b = await readNumbers(new E.Generator(123).uniform([64]));
    const c = await readNumbers(new E.Generator(124).uniform([64]));
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    expect(c.filter((v, i) => v === a[i]).length).toBeLessThan(3);
  });

  it('consecutive draws continue the stream: two draws equal one draw of their total size', async () => {
    const g = new E.Generator(5);
    const first = await readNumbers(g.bits([3]));
    const second = await readNumbers(g.bits([4]));
    expect(g.position).toBe(7);
    expect([...first, ...second]).toEqual(await readNumbers(new E.Generator(5).bits([7])));
  });

  it('manualSeed resets key and position', async () => {
    const g = new E.Generator(1);
    const a = await readNumbers(g.bits([5]));
    g.bits([9]);
    g.manualSeed(1);
    expect(g.position).toBe(0);
    expect(await readNumbers(g.bits([5]))).toEqual(a);
  });

  it('fork gives reproducible streams that differ from the parent and from each other', async () => {
    const parent = new E.Generator(99);
    const p = await readNumbers(parent.bits([64]));
    const f0 = await readNumbers(new E.Generator(99).fork(0).bits([64]));
    const f1 = await readNumbers(new E.Generator(99).fork(1).bits([64]));
    const f0again = await readNumbers(new E.Generator(99).fork(0).bits([64]));
    expect(f0again).toEqual(f0);
    const overlap = (x: number[], y: number[]) => x.filter((v, i) => v === y[i]).length;
    expect(overlap(f0, p)).toBe(0);
    expect(overlap(f1, p)).toBe(0);
    expect(overlap(f0, f1)).toBe(0);
    // A fork is not the parent shifted by a few counters either.
    const parentLong = await readNumbers(new E.Generator(99).bits([256]));
    expect(f0.some((v) => parentLong.includes(v))).toBe(false);
  });

  it('rejects invalid seeds', () => {
    expect(() => new E.Generator(-1)).toThrow(/seed/);
    expect(() => new E.Generator(1.5)).toThrow(/seed/);
  });
});

describe('distributions (20k samples)', () => {
  const N = 20_000;

  it('uniform [0, 1): mean 1/2 and variance 1/12', async () => {
    const xs = await readNumbers(new E.Generator(2024).uniform([N]));
    const { mean, variance } = meanVar(xs);
    // Standard errors: sqrt(1/12/N) ≈ 0.0020 for the mean, sqrt((1/80 − 1/144)/N) ≈ 0.00053 for the variance.
    expect(Math.abs(mean - 0.5)).toBeLessThan(5 * 0.00204);
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(5 * 0.00053);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    // Each tenth of [0, 1) gets 2000 ± 42 samples.
    const bins = new Array<number>(10).fill(0);
    for (const v of xs) bins[Math.floor(v * 10)]++;
    for (const b of bins) expect(Math.abs(b - N / 10)).toBeLessThan(5 * Math.sqrt(N * 0.1 * 0.9));
  });

  it('normal(2, 3): mean, variance and the mass within one sigma', async () => {
    const xs = await readNumbers(new E.Generator(77).normal([N], 2, 3));
    const { mean, variance } = meanVar(xs);
    // Standard errors: 3/sqrt(N) ≈ 0.021 for the mean, 9·sqrt(2/N) ≈ 0.090 for the variance.
    expect(Math.abs(mean - 2)).toBeLessThan(5 * 0.0213);
    expect(Math.abs(variance - 9)).toBeLessThan(5 * 0.09);
    expect(xs.every(Number.isFinite)).toBe(true);
    // P(|z| < 1) = 0.6827 for a Gaussian (a uniform of the same variance gives 0.577).
    const within = xs.filter((v) => Math.abs(v - 2) < 3).length / N;
    expect(Math.abs(within - 0.6827)).toBeLessThan(5 * Math.sqrt((0.6827 * 0.3173) / N));
    // Symmetric: as many samples above the mean as below.
    const above = xs.filter((v) => v > 2).length / N;
    expect(Math.abs(above - 0.5)).toBeLessThan(5 * Math.sqrt(0.25 / N));
  });

  it('bernoulli(p) gives 0/1 values at rate p', async () => {
    for (const p of [0, 0.3, 1]) {
      const xs = await readNumbers(new E.Generator(3).bernoulli([N], p));
      expect(xs.every((v) => v === 0 || v === 1)).toBe(true);
      const rate = xs.reduce((s, v) => s + v, 0) / N;
      expect(Math.abs(rate - p)).toBeLessThanOrEqual(5 * Math.sqrt((p * (1 - p)) / N));
    }
    expect(() => new E.Generator(3).bernoulli([2], 1.5)).toThrow(/bernoulli/);
  });

  it('randint(lo, hi) stays in range (i32) and is roughly uniform', async () => {
    const lo = -3;
    const hi = 7;
    const t = new E.Generator(8).randint([N], lo, hi);
    expect(t.dtype).toBe('i32');
    const xs = await readNumbers(t);
    expect(xs.every((v) => Number.isInteger(v) && v >= lo && v < hi)).toBe(true);
    const counts = new Array<number>(hi - lo).fill(0);
    for (const v of xs) counts[v - lo]++;
    const expected = N / (hi - lo);
    for (const c of counts) expect(Math.abs(c - expected)).toBeLessThan(5 * Math.sqrt(expected * 0.9));
    // A wide range reaches its top half too (a 16-bit bug would not).
    const wide = await readNumbers(new E.Generator(8).randint([2000], 0, 2 ** 31 - 1));
    expect(wide.every((v) => v >= 0 && v < 2 ** 31 - 1)).toBe(true);
    expect(wide.filter((v) => v >= 2 ** 30).length).toBeGreaterThan(800);
    expect(() => new E.Generator(1).randint([2], 5, 5)).toThrow(/randint/);
  });

  it('randint over the whole i32 range [−2^31, 2^31) covers both signs; wider ranges are rejected', async () => {
    const xs = await readNumbers(new E.Generator(21).randint([4000], -(2 ** 31), 2 ** 31));
    const negative = xs.filter((v) => v < 0).length;
    expect(Math.abs(negative - 2000)).toBeLessThan(5 * Math.sqrt(1000));
    expect(new Set(xs).size).toBeGreaterThan(3990);
    const quarter = xs.filter((v) => v >= 2 ** 30).length;
    expect(Math.abs(quarter - 1000)).toBeLessThan(5 * Math.sqrt(750));
    expect(() => new E.Generator(1).randint([2], 0, 2 ** 31 + 1)).toThrow(/randint/);
    expect(() => new E.Generator(1).randint([2], -(2 ** 31) - 1, 0)).toThrow(/randint/);
  });
});

describe('permutation', () => {
  for (const n of [1, 2, 7, 1000]) {
    it(`permutation(${n}) is a permutation of 0..${n - 1}, reproducible from the seed`, async () => {
      const t = new E.Generator(31).permutation(n);
      expect(t.dtype).toBe('i32');
      expect(t.shape).toEqual([n]);
      const p = await readNumbers(t);
      expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
      expect(await readNumbers(new E.Generator(31).permutation(n))).toEqual(p);
      if (n === 1000) {
        expect(await readNumbers(new E.Generator(32).permutation(n))).not.toEqual(p);
        // Not the identity, and well mixed: few fixed points (about 1 expected).
        expect(p.filter((v, i) => v === i).length).toBeLessThan(8);
      }
    });
  }

  it('permutation(0) is empty', async () => {
    const t = new E.Generator(1).permutation(0);
    expect(t.shape).toEqual([0]);
    expect(await readNumbers(t)).toEqual([]);
  });

  it('the first position is roughly uniform over many seeds', async () => {
    const counts = new Array<number>(4).fill(0);
    for (let s = 0; s < 400; s++) counts[(await readNumbers(new E.Generator(s).permutation(4)))[0]]++;
    for (const c of counts) expect(Math.abs(c - 100)).toBeLessThan(5 * Math.sqrt(100 * 0.75));
  });
});
