// On a trained model the attacks must actually hurt, and in the expected order: a linear
// classifier trained on a separable synthetic problem loses accuracy under every attack, and
// AutoAttack (per-point worst case over four attacks, one of them APGD-CE with more steps) is at
// least as strong as PGD-20.

import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { autoAttack, standardAttacks } from '../../src/attacks/autoAttack.js';
import { moduleClassifier, type Classifier } from '../../src/attacks/classifier.js';
import { deepfool } from '../../src/attacks/deepfool.js';
import { fgsm } from '../../src/attacks/fgsm.js';
import { cwLinf, pgd } from '../../src/attacks/pgd.js';
import { squareAttack } from '../../src/attacks/square.js';
import { accuracy } from './fixtures.js';

const EPS = 8 / 255;

/** Four classes, each a random mean image in [0.4, 0.6]^32 plus uniform noise of ±0.1. */
function makeData(gen: E.Generator, means: E.Tensor, n: number): { x: E.Tensor; y: E.Tensor } {
  return E.scope(() => {
    const y = gen.randint([n], 0, 4);
    const x = E.clamp(E.add(E.reshape(E.indexSelect(means, 0, y), [n, 2, 4, 4]), gen.uniform([n, 2, 4, 4], -0.1, 0.1)), 0, 1);
    return { x, y };
  });
}

let model: E.Module;
let classifier: Classifier;
let test: { x: E.Tensor; y: E.Tensor };
let clean = 0;
let pgdAccuracy = 0;

beforeAll(async () => {
  const gen = new E.Generator(2024);
  const means = E.scope(() => gen.uniform([4, 32], 0.4, 0.6)).keep();
  const train = makeData(gen, means, 256);
  test = makeData(gen, means, 64);
  for (const t of [train.x, train.y, test.x, test.y]) t.keep();
  model = new E.Sequential(new E.Flatten(), new E.Linear(32, 4, { generator: gen }));
  const opt = new E.SGD(model.parameters(), { lr: 0.5, momentum: 0.9 });
  for (let step = 0; step < 60; step++)
    E.scope(() => {
      const loss = E.crossEntropy(model.train().forward(train.x), train.y);
      opt.step(E.grad(loss, opt.params));
    });
  classifier = moduleClassifier(model);
  clean = await accuracy(classifier, test.x, test.y);
  const adv = pgd(classifier, test.x, test.y, { eps: EPS, generator: new E.Generator(1) });
  pgdAccuracy = await accuracy(classifier, adv, test.y);
  for (const t of [adv, means, train.x, train.y]) t.dispose();
  opt.dispose();
});

afterAll(() => {
  test.x.dispose();
  test.y.dispose();
  model.dispose();
});

describe('attacks on a trained model', () => {
  it('the model learned the problem, and PGD-20 lowers its accuracy without destroying it', () => {
    expect(clean).toBeGreaterThanOrEqual(0.9);
    expect(pgdAccuracy).toBeLessThan(clean);
    expect(pgdAccuracy).toBeGreaterThan(0); // so that "at least as strong as PGD" below can bite
  });

  it('FGSM, C&W-linf, Square and DeepFool all lower it too', async () => {
    const results: Record<string, number> = {};
    const fg = fgsm(classifier, test.x, test.y, { eps: EPS });
    results.fgsm = await accuracy(classifier, fg, test.y);
    const cw = cwLinf(classifier, test.x, test.y, { eps: EPS, generator: new E.Generator(2) });
    results.cw = await accuracy(classifier, cw, test.y);
    const sq = await squareAttack(classifier, test.x, test.y, { eps: EPS, queries: 300 });
    results.square = await accuracy(classifier, sq, test.y);
    const df = await deepfool(classifier, test.x, test.y, { eps: 0.15 });
    results.deepfool = await accuracy(classifier, df.xAdv, test.y);
    for (const [name, acc] of Object.entries(results)) expect(acc, name).toBeLessThan(clean);
    // FGSM is a single step of what PGD iterates.
    expect(pgdAccuracy).toBeLessThanOrEqual(results.fgsm);
    for (const t of [fg, cw, sq, df.xAdv, df.distance]) t.dispose();
  });

  it('AutoAttack is at least as strong as PGD-20 and reports a non-increasing sequence', async () => {
    const report = await autoAttack(classifier, test.x, test.y, {
      eps: EPS,
      attacks: standardAttacks({ eps: EPS, iterations: 30, targetClasses: 3, queries: 200 }),
    });
    expect(report.cleanAccuracy).toBeCloseTo(clean, 12);
    expect(report.robustAccuracy).toBeLessThanOrEqual(pgdAccuracy);
    const seq = [report.cleanAccuracy, ...report.steps.map((s) => s.robustAccuracy)];
    for (let k = 1; k < seq.length; k++) expect(seq[k]).toBeLessThanOrEqual(seq[k - 1]);
    // Its images really are adversarial within the budget, and as accurate as reported.
    expect(await accuracy(classifier, report.xAdv, test.y)).toBeCloseTo(report.robustAccuracy, 12);
    const gap = E.scope(() => E.max(E.abs(E.sub(report.xAdv, test.x))));
    expect(await gap.item()).toBeLessThanOrEqual(EPS + 1e-6);
    gap.dispose();
    report.xAdv.dispose();
  });
});
