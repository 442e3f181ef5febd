// FAB-T: its ℓ∞ hyperplane projection against an independent bisection, and the attack on linear
// classifiers, where the smallest ℓ∞ distance to each other class is known: FAB must find a
// misclassified point barely beyond it (η = 1.05 overshoot) and count it only within ε.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import type { Classifier } from '../../src/attacks/classifier.js';
import { fabTargeted } from '../../src/attacks/fab.js';
import { byRoom, projectLinf } from '../../src/attacks/fabProjection.js';
import { mulberry32 } from '../reference/ndarray.js';
import { edgyImages, linearModel, linearPredict, minimalPairDistance, perturbationStats, type LinearModel } from './fixtures.js';

const SHAPE = [2, 4, 4];

/** Change of w·x when every coordinate moves by min(λ, room) in its w-lowering direction. */
function reachAt(t: number[], w: number[], lambda: number): number {
  return t.reduce((s, ti, i) => s - Math.abs(w[i]) * Math.min(lambda, w[i] < 0 ? 1 - ti : ti), 0);
}

describe('FAB l-inf projection onto a hyperplane within [0, 1]', () => {
  it('lands on the hyperplane, inside the box, with the smallest l-inf step (bisection check)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 0x7fffffff }), fc.integer({ min: 1, max: 40 }), (seed, n) => {
        const rng = mulberry32(seed);
        const t = Array.from({ length: n }, () => rng());
        const w = Array.from({ length: n }, () => (rng() < 0.1 ? 0 : 2 * rng() - 1));
        const wt = w.reduce((s, v, i) => s + v * t[i], 0);
        // A target the box can reach: some fraction of the largest possible change, on either side.
        const side = rng() < 0.5 ? 1 : -1;
        const wFlip = w.map((v) => side * v);
        const reach = reachAt(t, wFlip, 1);
        const b = side * (side * wt + reach * rng() * 0.999);
        const d = projectLinf(t, w, b);
        const x = t.map((ti, i) => ti + d[i]);
        for (const v of x) {
          expect(v).toBeGreaterThanOrEqual(-1e-12);
          expect(v).toBeLessThanOrEqual(1 + 1e-12);
        }
        expect(x.reduce((s, v, i) => s + v * w[i], 0)).toBeCloseTo(b, 9);
        // Minimal radius: bisection on the monotone reach function.
        const need = side * b - side * wt;
        let lo = 0;
        let hi = 1;
        for (let k = 0; k < 80; k++) {
          const mid = (lo + hi) / 2;
          if (reachAt(t, wFlip, mid) > need) lo = mid;
          else hi = mid;
        }
        const radius = Math.max(0, ...d.map(Math.abs));
        expect(radius).toBeCloseTo(hi, 9);
      }),
      { numRuns: 200 },
    );
  });

  it('returns the closest corner when the hyperplane is out of reach', () => {
    const t = [0.2, 0.7];
    const w = [1, -1];
    // min of w·x over the box is −1 at (0, 1); b = −3 cannot be reached.
    const d = projectLinf(t, w, -3);
    expect(Array.from(d).map((v, i) => v + t[i])).toEqual([0, 1]);
  });

  it('ignores coordinates the hyperplane does not depend on', () => {
    const d = projectLinf([0.5, 0.5, 0.5], [1, 0, 1], 0.5);
    expect(d[1]).toBe(0);
    expect(d[0]).toBeCloseTo(-0.25, 12);
    expect(d[2]).toBeCloseTo(-0.25, 12);
  });
});

async function runFab(m: LinearModel, xs: number[][], eps: number, targetClasses: number, iterations = 20) {
  const ys = xs.map((x) => linearPredict(m, x));
  const x = E.tensor(xs.flat(), [xs.length, ...SHAPE]);
  const y = E.tensor(ys, [ys.length], 'i32');
  const adv = await fabTargeted(m.classifier as Classifier, x, y, { eps, iterations, targetClasses });
  const flat = Array.from(await adv.data());
  const { linf } = await perturbationStats(x, adv);
  for (const t of [x, y, adv]) t.dispose();
  return { ys, linf, fooled: xs.map((_, s) => linearPredict(m, flat.slice(s * m.dim, (s + 1) * m.dim)) !== ys[s]) };
}

describe('byRoom (the projection\'s sort)', () => {
  it('orders indices by value, ties by index, exactly as a stable comparator sort does', () => {
    // Values on a coarse grid (many ties), values closer than the 2^-32 quantisation of the fast
    // path, and the box edges 0 and 1.
    const valueArb = fc.oneof(
      fc.integer({ min: 0, max: 8 }).map((k) => k / 8),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.integer({ min: 0, max: 5 }).map((k) => 0.5 + k * 2 ** -40),
    );
    fc.assert(
      fc.property(fc.array(valueArb, { minLength: 0, maxLength: 300 }), (p) => {
        const want = Array.from({ length: p.length }, (_, i) => i).sort((i, j) => p[i] - p[j]);
        expect(Array.from(byRoom(p))).toEqual(want);
      }),
    );
  });
});

describe('FAB-T', () => {
  it('finds the minimal l-inf distance to the other class of a linear binary classifier, within the overshoot', async () => {
    const m = linearModel(51, 2, 32);
    const xs = edgyImages(52, 8, 32);
    const { ys, linf, fooled } = await runFab(m, xs, 1, 1);
    xs.forEach((x, s) => {
      const lambda = minimalPairDistance(m, x, ys[s], 1 - ys[s]);
      expect(fooled[s], `sample ${s}`).toBe(true);
      expect(linf[s]).toBeGreaterThanOrEqual(lambda * (1 - 1e-4));
      expect(linf[s]).toBeLessThanOrEqual(lambda * 1.05 * (1 + 1e-4) + 1e-6);
    });
    m.dispose();
  });

  it('counts a point as fooled only within eps, trying every other class of a 4-class model', async () => {
    const m = linearModel(61, 4, 32);
    const xs = edgyImages(62, 16, 32);
    const closestClass = (x: number[], y: number) =>
      Math.min(...[0, 1, 2, 3].filter((o) => o !== y).map((o) => minimalPairDistance(m, x, y, o)));
    // ε at the median distance, so about half the points can be fooled.
    const distances = xs.map((x) => closestClass(x, linearPredict(m, x))).sort((a, b) => a - b);
    const eps = Math.fround(distances[8]);
    const { ys, linf, fooled } = await runFab(m, xs, eps, 3);
    let judged = 0;
    let vulnerable = 0;
    xs.forEach((x, s) => {
      const closest = closestClass(x, ys[s]);
      expect(linf[s]).toBeLessThanOrEqual(eps + 1e-6);
      if (closest > eps / 1.1 && closest < eps * 1.1) return; // the overshoot decides these
      judged++;
      if (closest <= eps) vulnerable++;
      expect(fooled[s], `sample ${s} (closest class at ${closest.toFixed(4)})`).toBe(closest <= eps);
    });
    expect(vulnerable).toBeGreaterThan(2);
    expect(judged - vulnerable).toBeGreaterThan(2);
    m.dispose();
  });
});
