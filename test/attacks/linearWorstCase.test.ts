// On a linear binary classifier the ℓ∞ worst case is known in closed form: the cross-entropy
// grows as the margin (w_y − w_o)·x + (b_y − b_o) shrinks, so every pixel moves by ε against
// sign(w_y − w_o), clipped to [0, 1]. PGD, C&W-ℓ∞ and FGSM must all reach that point, and DeepFool
// must step exactly onto the (overshot) decision boundary.

import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import type { Classifier } from '../../src/attacks/classifier.js';
import { deepfool } from '../../src/attacks/deepfool.js';
import { fgsm } from '../../src/attacks/fgsm.js';
import { cwLinf, pgd } from '../../src/attacks/pgd.js';
import { mulberry32 } from '../reference/ndarray.js';

const D = 8; // images [N, 2, 2, 2]
const SHAPE = [2, 2, 2];
const EPS = 8 / 255;

interface LinearBinary {
  w: number[][];
  b: number[];
  classifier: Classifier;
  dispose(): void;
}

function linearBinary(seed: number): LinearBinary {
  const rng = mulberry32(seed);
  // Every weight difference is clearly non-zero, so every pixel has a worst direction.
  const w = [Array.from({ length: D }, () => Math.fround(rng() - 0.5)), new Array<number>(D).fill(0)];
  w[1] = w[0].map((v) => Math.fround(v + (rng() < 0.5 ? -1 : 1) * (0.3 + rng())));
  const b = [Math.fround(rng() - 0.5), Math.fround(rng() - 0.5)];
  const W = E.tensor(w.flat(), [2, D]).keep();
  const B = E.tensor(b, [2]).keep();
  return {
    w,
    b,
    classifier: { numClasses: 2, logits: (x) => E.linear(E.flatten(x, 1), W, B) },
    dispose: () => {
      W.dispose();
      B.dispose();
    },
  };
}

function images(seed: number, n: number): number[][] {
  const rng = mulberry32(seed);
  // Some pixels within ε of 0 or 1, so the worst case is clipped there.
  return Array.from({ length: n }, () => Array.from({ length: D }, () => Math.fround(rng() < 0.25 ? rng() * 0.02 : rng() < 0.33 ? 1 - rng() * 0.02 : rng())));
}

function margin(m: LinearBinary, x: number[], y: number): number {
  const o = 1 - y;
  return x.reduce((s, xi, i) => s + (m.w[y][i] - m.w[o][i]) * xi, 0) + m.b[y] - m.b[o];
}

/** softplus(−margin): the binary cross-entropy. */
const crossEntropyOfMargin = (mg: number) => Math.log1p(Math.exp(-mg));

function worstCase(m: LinearBinary, x: number[], y: number): number[] {
  const o = 1 - y;
  return x.map((xi, i) => Math.min(Math.max(xi - EPS * Math.sign(m.w[y][i] - m.w[o][i]), 0), 1));
}

async function run(attack: (c: Classifier, x: E.Tensor, y: E.Tensor) => E.Tensor | Promise<E.Tensor>, seed: number) {
  const m = linearBinary(seed);
  const xs = images(seed + 1, 6);
  const ys = xs.map((_, i) => i % 2);
  const x = E.tensor(xs.flat(), [xs.length, ...SHAPE]);
  const y = E.tensor(ys, [ys.length], 'i32');
  const adv = await attack(m.classifier, x, y);
  const got = Array.from(await adv.data());
  for (const t of [x, y, adv]) t.dispose();
  m.dispose();
  return { m, xs, ys, got: xs.map((_, s) => got.slice(s * D, (s + 1) * D)) };
}

async function expectWorstCase(attack: (c: Classifier, x: E.Tensor, y: E.Tensor) => E.Tensor | Promise<E.Tensor>) {
  for (const seed of [3, 17, 99]) {
    const { m, xs, ys, got } = await run(attack, seed);
    xs.forEach((x, s) => {
      const best = worstCase(m, x, ys[s]);
      got[s].forEach((v, i) => expect(v, `sample ${s} pixel ${i}`).toBeCloseTo(best[i], 6));
      const lossAt = crossEntropyOfMargin(margin(m, got[s], ys[s]));
      const maxLoss = crossEntropyOfMargin(margin(m, best, ys[s]));
      expect(Math.abs(lossAt - maxLoss)).toBeLessThanOrEqual(1e-5 * Math.max(1, maxLoss));
      // ... and it is an ascent: never below the clean loss.
      expect(lossAt).toBeGreaterThanOrEqual(crossEntropyOfMargin(margin(m, x, ys[s])) - 1e-6);
    });
  }
}

describe('attacks on a linear binary classifier reach the analytic l-inf worst case', () => {
  it('PGD-20 (random start, 2/255 steps)', async () => {
    await expectWorstCase((c, x, y) => pgd(c, x, y, { eps: EPS, stepSize: 2 / 255, steps: 20, generator: new E.Generator(5) }));
  });

  it('C&W-linf (PGD on the margin loss, kappa 50)', async () => {
    await expectWorstCase((c, x, y) => cwLinf(c, x, y, { eps: EPS, generator: new E.Generator(6) }));
  });

  it('FGSM (one step of eps is optimal for a linear binary model)', async () => {
    await expectWorstCase((c, x, y) => fgsm(c, x, y, { eps: EPS }));
  });

  it('PGD with too few steps falls short of it (the check can fail)', async () => {
    const { m, xs, ys, got } = await run((c, x, y) => pgd(c, x, y, { eps: EPS, stepSize: 0.5 / 255, steps: 2, randomStart: false }), 3);
    const gaps = xs.map((x, s) => crossEntropyOfMargin(margin(m, worstCase(m, x, ys[s]), ys[s])) - crossEntropyOfMargin(margin(m, got[s], ys[s])));
    expect(Math.max(...gaps)).toBeGreaterThan(1e-3);
  });

  it('DeepFool lands on the overshot boundary: distance 1.02·(|f| + 1e-4)/‖w‖₂', async () => {
    const m = linearBinary(23);
    // Mid-range pixels, so the DeepFool point is not clipped.
    const rng = mulberry32(4);
    const xs = Array.from({ length: 5 }, () => Array.from({ length: D }, () => Math.fround(0.4 + 0.2 * rng())));
    const ys = xs.map((x) => (margin(m, x, 0) > 0 ? 0 : 1)); // correctly classified
    const x = E.tensor(xs.flat(), [xs.length, ...SHAPE]);
    const y = E.tensor(ys, [ys.length], 'i32');
    const r = await deepfool(m.classifier, x, y, { eps: 100 });
    const dist = Array.from(await r.distance.data());
    const adv = Array.from(await r.xAdv.data());
    const pred = E.scope(() => E.argmax(m.classifier.logits(r.xAdv), 1));
    const flipped = Array.from(await pred.data());
    xs.forEach((xv, s) => {
      const wd = m.w[1 - ys[s]].map((v, i) => v - m.w[ys[s]][i]);
      const norm = Math.hypot(...wd);
      expect(dist[s]).toBeCloseTo((1.02 * (Math.abs(margin(m, xv, ys[s])) + 1e-4)) / norm, 4);
      // The step is along w_o − w_y.
      const step = adv.slice(s * D, (s + 1) * D).map((v, i) => v - xv[i]);
      const cos = step.reduce((acc, v, i) => acc + v * wd[i], 0) / (Math.hypot(...step) * norm);
      expect(cos).toBeGreaterThan(0.9999);
      expect(flipped[s]).toBe(1 - ys[s]);
    });
    for (const t of [x, y, r.xAdv, r.distance, pred]) t.dispose();
    m.dispose();
  });
});
