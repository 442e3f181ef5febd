// Madry, TRADES and MART against float64 references written from algorithms.md §2 on a linear model,
// where the one ascent step's gradient sign can be computed by hand: the loss value, and its
// weight gradient against central finite differences of the reference (the attack's sign and
// y' choice are piecewise constant in the weights, so they do not move under a small step).

import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { adversarialLoss, type TrainingMethod } from '../../src/training/adversarialLoss.js';
import { mulberry32 } from '../reference/ndarray.js';

const N = 3; // images
const D = 4; // 1×2×2 pixels
const C = 3; // classes
const EPS = 0.3;
const STEP = 0.3;

const softmax = (z: number[]): number[] => {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};
const logits = (w: number[], b: number[], x: number[]): number[] =>
  Array.from({ length: C }, (_, k) => b[k] + x.reduce((s, v, j) => s + w[k * D + j] * v, 0));
const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);

/** x_adv after one signed step from `start`, where ∂loss/∂z = dz (a linear model: ∂/∂x = Wᵀ dz). */
function step(w: number[], x: number[], start: number[], dz: number[]): number[] {
  return start.map((s, j) => {
    const g = dz.reduce((acc, d, k) => acc + w[k * D + j] * d, 0);
    const moved = s + STEP * Math.sign(g);
    return clamp(clamp(moved, x[j] - EPS, x[j] + EPS), 0, 1);
  });
}

/** The loss of §2 for the whole batch, in float64; `noise` is the N(0, 1) draw of the start. */
function reference(method: 'madry' | 'trades' | 'mart', w: number[], b: number[], xs: number[][], ys: number[], noise: number[][]): number {
  let total = 0;
  for (let n = 0; n < N; n++) {
    const x = xs[n];
    const y = ys[n];
    if (method === 'madry') {
      // PGD: a uniform start in the ε-box (noise holds the U(−ε, ε) draw), one signed CE step; CE on it.
      const start = x.map((v, j) => clamp(v + noise[n][j], 0, 1));
      const q0 = softmax(logits(w, b, start));
      const pAdv = softmax(logits(w, b, step(w, x, start, q0.map((q, k) => q - (k === y ? 1 : 0)))));
      total += -Math.log(pAdv[y]);
      continue;
    }
    const start = x.map((v, j) => clamp(clamp(v + 0.001 * noise[n][j], v - EPS, v + EPS), 0, 1));
    const pNat = softmax(logits(w, b, x));
    const q0 = softmax(logits(w, b, start));
    // TRADES ascends KL(p_nat ‖ p(x')) (∂/∂z = q − p_nat); MART ascends CE (∂/∂z = q − onehot(y)).
    const dz = method === 'trades' ? q0.map((q, k) => q - pNat[k]) : q0.map((q, k) => q - (k === y ? 1 : 0));
    const pAdv = softmax(logits(w, b, step(w, x, start, dz)));
    const kl = pNat.reduce((s, p, k) => s + p * (Math.log(p) - Math.log(pAdv[k])), 0);
    if (method === 'trades') total += -Math.log(pNat[y]) + 6 * kl;
    else {
      let wrong = -1;
      for (let k = 0; k < C; k++) if (k !== y && (wrong < 0 || pAdv[k] > pAdv[wrong])) wrong = k;
      const bce = -Math.log(pAdv[y]) - Math.log(1.0001 - pAdv[wrong] + 1e-12);
      total += bce + 5 * kl * (1.0000001 - pNat[y]);
    }
  }
  return total / N;
}

describe('Madry, TRADES and MART losses (algorithms.md §2)', () => {
  for (const method of ['madry', 'trades', 'mart'] as const) {
    it(`${method}: the value and the weight gradient of one batch match a float64 reference`, async () => {
      const rng = mulberry32({ madry: 10, trades: 11, mart: 12 }[method]);
      const w = Array.from({ length: C * D }, () => 4 * (rng() - 0.5));
      const b = Array.from({ length: C }, () => rng() - 0.5);
      const xs = Array.from({ length: N }, () => Array.from({ length: D }, () => 0.2 + 0.6 * rng()));
      const ys = [0, 2, 1];
      const lin = new E.Linear(D, C);
      const model = new E.Sequential(new E.Flatten(), lin);
      lin.weight.assign(E.tensor(w, [C, D]));
      lin.bias!.assign(E.tensor(b, [C]));
      const x = E.tensor(xs.flat(), [N, 1, 2, 2]);
      const y = E.tensor(ys, [N], 'i32');
      // adversarialLoss draws nothing before the start's noise: a generator of the same seed replays
      // it (Madry's PGD start is U(−ε, ε), TRADES' and MART's N(0, 1)).
      const noiseT = method === 'madry' ? new E.Generator(3).uniform([N, 1, 2, 2], -EPS, EPS) : new E.Generator(3).normal([N, D]);
      const noiseFlat = await noiseT.data();
      const noise = xs.map((_, n) => Array.from(noiseFlat.slice(n * D, (n + 1) * D)));
      noiseT.dispose();
      const [loss, gw] = E.scope(() => {
        const l = adversarialLoss(model, x, y, { method: method as TrainingMethod, eps: EPS, stepSize: STEP, steps: 1, generator: new E.Generator(3) });
        const [g] = E.grad(l, [lin.weight]);
        return [E.detach(l), g] as const;
      });
      const expected = reference(method, w, b, xs, ys, noise);
      // The attack must matter here, or a loss on the clean images would pass unseen.
      const cleanOnly = xs.reduce((s, xn, n) => s - Math.log(softmax(logits(w, b, xn))[ys[n]]), 0) / N;
      expect(Math.abs(expected - cleanOnly)).toBeGreaterThan(0.05);
      expect(await loss.item()).toBeCloseTo(expected, 4);
      const got = await gw.data();
      const h = 1e-5;
      for (let i = 0; i < w.length; i++) {
        const up = w.slice();
        const down = w.slice();
        up[i] += h;
        down[i] -= h;
        const fd = (reference(method, up, b, xs, ys, noise) - reference(method, down, b, xs, ys, noise)) / (2 * h);
        expect(got[i], `∂L/∂w[${i}]`).toBeCloseTo(fd, 3);
      }
      for (const t of [loss, gw, x, y]) t.dispose();
      model.dispose();
    });
  }
});

describe('batch-norm statistics under adversarial training (algorithms.md §0)', () => {
  // With ε = 0 every attack returns x itself, so the training forwards the loss makes are known:
  // Madry one (on x_adv), TRADES and MART two (x and x_adv). Attack steps run in eval mode and
  // must leave the running statistics alone, however many there are.
  const make = () => {
    const gen = new E.Generator(4);
    return new E.Sequential(new E.Conv2d(1, 3, 3, { padding: 1, generator: gen }), new E.BatchNorm2d(3), new E.ReLU(), new E.Flatten(), new E.Linear(3 * 16, 4, { generator: gen }));
  };
  const stats = async (m: E.Module) => {
    const sd = m.stateDict();
    return {
      mean: Array.from(await sd.get('1.running_mean')!.data()),
      variance: Array.from(await sd.get('1.running_var')!.data()),
      tracked: Array.from(await sd.get('1.num_batches_tracked')!.data())[0],
    };
  };
  for (const [method, forwards] of [['madry', 1], ['trades', 2], ['mart', 2]] as const) {
    it(`${method}: ${forwards} train-mode forward(s) per step, none from its 5 attack steps`, async () => {
      const rng = mulberry32(21);
      const x = E.tensor(Array.from({ length: 4 * 16 }, () => rng()), [4, 1, 4, 4]);
      const y = E.tensor([0, 1, 2, 3], [4], 'i32');
      const model = make();
      E.scope(() => void adversarialLoss(model, x, y, { method, eps: 0, stepSize: 0.1, steps: 5, generator: new E.Generator(1) }));
      const expected = make().train();
      for (let i = 0; i < forwards; i++) E.scope(() => void expected.forward(x));
      const [got, want] = [await stats(model), await stats(expected)];
      expect(got.tracked).toBe(forwards);
      expect(want.tracked).toBe(forwards);
      got.mean.forEach((v, i) => expect(v).toBeCloseTo(want.mean[i], 6));
      got.variance.forEach((v, i) => expect(v).toBeCloseTo(want.variance[i], 6));
      for (const t of [x, y]) t.dispose();
      model.dispose();
      expected.dispose();
    });
  }
});
