// Property: whatever the model and the images, every attack returns images in [0, 1] within its
// budget: ‖δ‖∞ ≤ ε for the ℓ∞ attacks, ‖δ‖₂ ≤ ε₂ for DeepFool.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { apgd, apgdTargeted } from '../../src/attacks/apgd.js';
import { autoAttack, standardAttacks } from '../../src/attacks/autoAttack.js';
import { correctOnHost, type Classifier } from '../../src/attacks/classifier.js';
import { deepfool } from '../../src/attacks/deepfool.js';
import { fabTargeted } from '../../src/attacks/fab.js';
import { fgsm } from '../../src/attacks/fgsm.js';
import { cwLinf, pgd } from '../../src/attacks/pgd.js';
import { squareAttack } from '../../src/attacks/square.js';
import { perturbationStats, randomProblem, type ModelKind } from './fixtures.js';

const TOL = 1e-6;

type LinfAttack = (c: Classifier, x: E.Tensor, y: E.Tensor, eps: number, gen: E.Generator, seed: number) => E.Tensor | Promise<E.Tensor>;

const linfAttacks: Record<string, LinfAttack> = {
  fgsm: (c, x, y, eps) => fgsm(c, x, y, { eps }),
  pgd: (c, x, y, eps, generator) => pgd(c, x, y, { eps, stepSize: eps / 3, steps: 5, generator }),
  cwLinf: (c, x, y, eps, generator) => cwLinf(c, x, y, { eps, stepSize: eps / 3, steps: 5, generator }),
  apgdCe: (c, x, y, eps, generator) => apgd(c, x, y, { eps, iterations: 8, generator }),
  apgdT: (c, x, y, eps, generator) => apgdTargeted(c, x, y, { eps, iterations: 6, targetClasses: 2, generator }),
  square: (c, x, y, eps, generator) => squareAttack(c, x, y, { eps, queries: 30, checkEvery: 10, generator }),
  fabT: (c, x, y, eps, generator) => fabTargeted(c, x, y, { eps, iterations: 5, targetClasses: 2, generator }),
  // Restarts (robustRestarts) and batches smaller than the images: the paths AutoAttack's
  // full settings take.
  apgdRestartsBatched: (c, x, y, eps, generator) => apgd(c, x, y, { eps, iterations: 5, restarts: 2, batchSize: 2, generator }),
  apgdDlr: (c, x, y, eps, generator) => apgd(c, x, y, { eps, iterations: 5, loss: 'dlr', generator }),
  squareRestartsBatched: (c, x, y, eps, generator) => squareAttack(c, x, y, { eps, queries: 15, checkEvery: 5, restarts: 2, batchSize: 2, generator }),
  fabRestartsBatched: (c, x, y, eps, generator) => fabTargeted(c, x, y, { eps, iterations: 3, targetClasses: 2, restarts: 2, batchSize: 2, generator }),
  autoAttack: async (c, x, y, eps, _generator, seed) => {
    // The suite seeds its own generators from `seed`.
    const report = await autoAttack(c, x, y, { eps, attacks: standardAttacks({ eps, seed, iterations: 4, targetClasses: 2, queries: 20 }) });
    return report.xAdv;
  },
};

/**
 * An attack that returned x itself would pass the budget checks, so each is also held to what it
 * does return. FGSM, PGD and CW move every image by signed steps to the ball's surface (or a
 * random start in it), so each uses a good part of its budget. APGD, Square, FAB-T and AutoAttack
 * return an adversarial image only where they fooled the model and x elsewhere (as AutoAttack's
 * reference does), so every image they changed must be misclassified.
 */
const MOVES_ALL = new Set(['fgsm', 'pgd', 'cwLinf']);

const caseArb = fc.record({
  kind: fc.constantFrom<ModelKind>('linear', 'cnn'),
  seed: fc.integer({ min: 1, max: 100000 }),
  n: fc.integer({ min: 1, max: 5 }),
  eps: fc.double({ min: 0.001, max: 0.3, noNaN: true }),
});

describe('attack budgets', () => {
  for (const [name, attack] of Object.entries(linfAttacks)) {
    it(`${name} stays within the l-inf ball and [0, 1]`, async () => {
      await fc.assert(
        fc.asyncProperty(caseArb, async ({ kind, seed, n, eps }) => {
          const p = randomProblem(kind, seed, n);
          const live = E.liveTensorCount();
          try {
            const xAdv = await attack(p.classifier, p.x, p.y, eps, new E.Generator(seed), seed);
            expect(xAdv.shape).toEqual(p.x.shape);
            const s = await perturbationStats(p.x, xAdv);
            const fooled = (await correctOnHost(p.classifier, xAdv, p.y)).map((c) => !c);
            xAdv.dispose();
            expect(Math.max(...s.linf)).toBeLessThanOrEqual(eps + TOL);
            if (MOVES_ALL.has(name)) expect(Math.min(...s.linf), `${name} barely moved an image`).toBeGreaterThanOrEqual(0.5 * eps);
            else s.linf.forEach((d, i) => d > 0 && expect(fooled[i], `${name} changed image ${i} without fooling the model`).toBe(true));
            expect(s.min).toBeGreaterThanOrEqual(0);
            expect(s.max).toBeLessThanOrEqual(1);
            expect(E.liveTensorCount(), 'tensors left behind').toBe(live);
          } finally {
            p.dispose();
          }
        }),
        { numRuns: name === 'autoAttack' || name.startsWith('fab') ? 4 : 6 },
      );
    });
  }

  it('deepfool stays within its l2 budget and [0, 1]', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, fc.double({ min: 0.01, max: 2, noNaN: true }), async ({ kind, seed, n }, eps2) => {
        const p = randomProblem(kind, seed, n);
        const live = E.liveTensorCount();
        try {
          const r = await deepfool(p.classifier, p.x, p.y, { eps: eps2, steps: 10 });
          const s = await perturbationStats(p.x, r.xAdv);
          const dist = Array.from(await r.distance.data());
          r.xAdv.dispose();
          r.distance.dispose();
          expect(Math.max(...s.l2)).toBeLessThanOrEqual(eps2 * (1 + 1e-5) + TOL);
          // The projection only shrinks: within the budget the DeepFool point is kept as is.
          s.l2.forEach((d, i) => expect(d).toBeCloseTo(Math.min(dist[i], eps2), 4));
          expect(s.min).toBeGreaterThanOrEqual(0);
          expect(s.max).toBeLessThanOrEqual(1);
          expect(E.liveTensorCount(), 'tensors left behind').toBe(live);
        } finally {
          p.dispose();
        }
      }),
      { numRuns: 6 },
    );
  });
});
