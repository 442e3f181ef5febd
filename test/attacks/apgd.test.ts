// APGD: the step-size rule at its checkpoints, and on linear classifiers, where whether a point
// can be misclassified within ε is known in closed form, APGD-CE and APGD-T must fool exactly the
// points that can be fooled (points within a whisker of the boundary are not judged).

import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { apgd, apgdRun, apgdTargeted } from '../../src/attacks/apgd.js';
import { squareAttack } from '../../src/attacks/square.js';
import { apgdCheckpoints } from '../../src/attacks/apgdSchedule.js';
import type { Classifier } from '../../src/attacks/classifier.js';
import { crossEntropyLoss } from '../../src/attacks/losses.js';
import { edgyImages, linearModel, linearPredict, perturbationStats, worstMargin, type LinearModel } from './fixtures.js';

const EPS = 8 / 255;
const SHAPE = [2, 4, 4];

async function fooledSet(
  m: LinearModel,
  xs: number[][],
  attack: (c: Classifier, x: E.Tensor, y: E.Tensor) => Promise<E.Tensor>,
): Promise<{ fooled: boolean[]; linf: number[] }> {
  const ys = xs.map((x) => linearPredict(m, x));
  const x = E.tensor(xs.flat(), [xs.length, ...SHAPE]);
  const y = E.tensor(ys, [ys.length], 'i32');
  const adv = await attack(m.classifier, x, y);
  const flat = Array.from(await adv.data());
  const { linf } = await perturbationStats(x, adv);
  for (const t of [x, y, adv]) t.dispose();
  const fooled = xs.map((_, s) => linearPredict(m, flat.slice(s * m.dim, (s + 1) * m.dim)) !== ys[s]);
  return { fooled, linf };
}

/** Compares attack success with the closed form, skipping points whose worst margin is within `slack` of 0. */
function expectExactlyTheVulnerable(m: LinearModel, xs: number[][], fooled: boolean[], slack: number): void {
  let judged = 0;
  let vulnerable = 0;
  xs.forEach((x, s) => {
    const wm = worstMargin(m, x, linearPredict(m, x), EPS);
    if (Math.abs(wm) < slack) return;
    judged++;
    if (wm < 0) vulnerable++;
    expect(fooled[s], `sample ${s} (worst margin ${wm.toFixed(4)})`).toBe(wm < 0);
  });
  // The data must make the test bite both ways.
  expect(vulnerable).toBeGreaterThan(2);
  expect(judged - vulnerable).toBeGreaterThan(2);
}

describe('APGD', () => {
  it('halves the step size of a sample whose loss stops rising, at every checkpoint', async () => {
    // A loss that does not depend on x: no step raises it, so test (i) fires at each checkpoint.
    const flat: Classifier = { numClasses: 3, logits: (x) => E.affine(E.reshape(E.slice(E.flatten(x, 1), 1, 0, 3), [-1, 3]), 0, 0) };
    const x = E.full([2, 1, 2, 2], 0.5);
    const y = E.tensor([0, 1], [2], 'i32');
    const seen: [number, E.Tensor][] = [];
    const r = apgdRun(flat, x, y, (z) => crossEntropyLoss(z, y), {
      eps: EPS,
      iterations: 30,
      rho: 0.75,
      generator: new E.Generator(1),
      onCheckpoint: (it, step) => seen.push([it, E.clone(step)]),
    });
    expect(seen.map(([it]) => it)).toEqual(apgdCheckpoints(30).map((c) => c.iteration));
    for (let j = 0; j < seen.length; j++) {
      const want = Math.fround(2 * EPS) / 2 ** (j + 1);
      expect(Array.from(await seen[j][1].data())).toEqual([want, want]);
    }
    for (const t of [x, y, r.xAdv, r.robust, ...seen.map(([, t]) => t)]) t.dispose();
  });

  it('keeps the step while the loss rises, and halves it when the best loss stalls (test ii)', async () => {
    // A scripted loss (logit 1 of the k-th evaluation, whatever x is), 100 iterations, checkpoints
    // 22, 41, 57, 70, …: rising by 1 up to k = 22 (no halving: 22 rises of 22, and (ii) never fires
    // at the first check); then a drop to −100 and rises of 1 that stay below the best (18 rises of
    // 19: (i) does not fire, (ii) does: not halved last time and no new best); rising in 14 of the
    // third interval's 16 steps (above ρ·16 = 12, so not halved: (ii) does not fire right after a
    // halving); flat from k = 58 ((i) fires at every later check).
    let k = 0;
    const rising = (i: number) => -100 + (i - 23) - (i >= 50 ? 1 : 0) - (i >= 51 ? 1 : 0);
    const script = (i: number) => (i <= 22 ? i : rising(Math.min(i, 57)));
    const scripted: Classifier = {
      numClasses: 3,
      logits: (x) => {
        const v = script(k++);
        return E.add(E.affine(E.reshape(E.slice(E.flatten(x, 1), 1, 0, 3), [-1, 3]), 0, 0), E.tensor([0, v, 0, 0, v, 0], [2, 3]));
      },
    };
    const x = E.full([2, 1, 2, 2], 0.5);
    const y = E.tensor([0, 1], [2], 'i32');
    const seen: E.Tensor[] = [];
    const r = apgdRun(scripted, x, y, (z) => E.reshape(E.slice(z, 1, 1, 2), [-1]), {
      eps: EPS,
      iterations: 100,
      rho: 0.75,
      generator: new E.Generator(2),
      onCheckpoint: (_it, step) => void seen.push(E.clone(step)),
    });
    expect(k).toBe(101);
    const steps = await Promise.all(seen.map(async (t) => Array.from(await t.data())));
    const e = Math.fround(2 * EPS);
    const want = [e, e / 2, e / 2, e / 4, e / 8, e / 16, e / 32, e / 64];
    expect(steps.map((st) => st[0])).toEqual(want.map((v) => Math.fround(v)));
    expect(steps.map((st) => st[1])).toEqual(want.map((v) => Math.fround(v)));
    for (const t of [x, y, r.xAdv, r.robust, ...seen]) t.dispose();
  });

  it('APGD-CE fools exactly the points of a linear binary classifier that can be fooled', async () => {
    const m = linearModel(31, 2, 32);
    const xs = edgyImages(32, 24, 32);
    const { fooled, linf } = await fooledSet(m, xs, (c, x, y) => apgd(c, x, y, { eps: EPS, iterations: 40 }));
    expectExactlyTheVulnerable(m, xs, fooled, 1e-3);
    expect(Math.max(...linf)).toBeLessThanOrEqual(EPS + 1e-6);
    m.dispose();
  });

  it('APGD-T (targeted DLR over the other classes) does so on a 4-class linear classifier', async () => {
    const m = linearModel(41, 4, 32);
    const xs = edgyImages(42, 24, 32);
    const { fooled, linf } = await fooledSet(m, xs, (c, x, y) => apgdTargeted(c, x, y, { eps: EPS, iterations: 40 }));
    expectExactlyTheVulnerable(m, xs, fooled, 1e-2);
    expect(Math.max(...linf)).toBeLessThanOrEqual(EPS + 1e-6);
    m.dispose();
  });

  it('APGD-T refuses classifiers with fewer than 4 classes (the DLR-T denominator needs π4)', async () => {
    const m = linearModel(1, 3, 32);
    const x = E.full([1, ...SHAPE], 0.5);
    const y = E.tensor([0], [1], 'i32');
    await expect(apgdTargeted(m.classifier, x, y)).rejects.toThrow(/at least 4 classes/);
    for (const t of [x, y]) t.dispose();
    m.dispose();
  });
});

describe('Square', () => {
  it('fools exactly the vulnerable points of a linear binary classifier whose worst case its windows can reach', async () => {
    // Square's windows carry one sign per channel and, as in the reference (randint's exclusive
    // bound), small windows never touch the last row and column; so the weight difference here has
    // one sign per channel, which makes the whole-image windows of the first queries the worst case.
    const m = linearModel(51, 2, 32);
    const channelSign = [1, -1];
    m.w[1] = m.w[0].map((v, i) => Math.fround(v - channelSign[Math.floor(i / 16)] * (0.2 + Math.abs(m.w[1][i]))));
    m.dispose();
    const W = E.tensor(m.w.flat(), [2, 32]).keep();
    const B = E.tensor(m.b, [2]).keep();
    const model = { ...m, classifier: { numClasses: 2, logits: (x: E.Tensor) => E.linear(E.flatten(x, 1), W, B) }, dispose: () => E.dispose([W, B]) };
    const xs = edgyImages(52, 24, 32);
    const { fooled, linf } = await fooledSet(model, xs, (c, x, y) => squareAttack(c, x, y, { eps: EPS, queries: 200, generator: new E.Generator(5) }));
    expectExactlyTheVulnerable(model, xs, fooled, 1e-3);
    expect(Math.max(...linf)).toBeLessThanOrEqual(EPS + 1e-6);
    model.dispose();
  });
});
