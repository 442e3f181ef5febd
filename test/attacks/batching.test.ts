// Attacks split large inputs into batches; samples never interact (eval mode), and the random
// start is drawn from one counter stream, so batching must not change any result.

import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import type { Classifier } from '../../src/attacks/classifier.js';
import { deepfool } from '../../src/attacks/deepfool.js';
import { fgsm } from '../../src/attacks/fgsm.js';
import { pgd } from '../../src/attacks/pgd.js';
import { randomProblem } from './fixtures.js';

async function expectSame(a: E.Tensor, b: E.Tensor): Promise<void> {
  expect(a.shape).toEqual(b.shape);
  const [da, db] = [await a.data(), await b.data()];
  da.forEach((v, i) => expect(Math.abs(v - db[i]), `element ${i}`).toBeLessThanOrEqual(1e-6));
}

describe('attack batching', () => {
  it('PGD gives the same images in batches of 2 as in one batch', async () => {
    const p = randomProblem('cnn', 77, 5);
    const whole = pgd(p.classifier, p.x, p.y, { steps: 3, generator: new E.Generator(4) });
    const split = pgd(p.classifier, p.x, p.y, { steps: 3, generator: new E.Generator(4), batchSize: 2 });
    await expectSame(split, whole);
    for (const t of [whole, split]) t.dispose();
    p.dispose();
  });

  it('DeepFool gives the same images and distances in batches of 2 as in one batch', async () => {
    const p = randomProblem('linear', 78, 5);
    const whole = await deepfool(p.classifier, p.x, p.y, { steps: 5 });
    const split = await deepfool(p.classifier, p.x, p.y, { steps: 5, batchSize: 2 });
    await expectSame(split.xAdv, whole.xAdv);
    await expectSame(split.distance, whole.distance);
    for (const t of [whole.xAdv, whole.distance, split.xAdv, split.distance]) t.dispose();
    p.dispose();
  });

  it('DeepFool drops stopped samples from its batch, and each sample ends as if attacked alone', async () => {
    const p = randomProblem('cnn', 80, 8);
    const sizes: number[] = [];
    const counting: Classifier = {
      numClasses: p.classifier.numClasses,
      logits: (x) => {
        sizes.push(x.shape[0]);
        return p.classifier.logits(x);
      },
    };
    const whole = await deepfool(counting, p.x, p.y, { steps: 20 });
    // Steps run on fewer and fewer samples (labels are the model's own, so all start running).
    expect(sizes[0]).toBe(8);
    expect(sizes.length).toBeGreaterThan(1);
    for (let i = 1; i < sizes.length; i++) expect(sizes[i]).toBeLessThanOrEqual(sizes[i - 1]);
    expect(sizes[sizes.length - 1]).toBeLessThan(8);
    const alone = await deepfool(p.classifier, p.x, p.y, { steps: 20, batchSize: 1 });
    await expectSame(whole.xAdv, alone.xAdv);
    await expectSame(whole.distance, alone.distance);
    for (const t of [whole.xAdv, whole.distance, alone.xAdv, alone.distance]) t.dispose();
    p.dispose();
  });

  it('inputs are checked and named', () => {
    const p = randomProblem('linear', 79, 2);
    E.scope(() => {
      expect(() => fgsm(p.classifier, E.zeros([2, 32]), p.y)).toThrow(/fgsm: expected f32 images \[N, C, H, W\], got f32 \[2, 32\]/);
      expect(() => fgsm(p.classifier, p.x, E.zeros([2]))).toThrow(/fgsm: expected i32 labels \[2\], got f32 \[2\]/);
      expect(() => pgd(p.classifier, p.x, p.y, { batchSize: 0 })).toThrow(/batchSize must be a positive integer/);
    });
    p.dispose();
  });
});
