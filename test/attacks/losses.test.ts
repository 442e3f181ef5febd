// The attacks' per-sample losses (src/attacks/losses.ts) against float64 references written from
// their definitions [C:fra31/auto-attack, intellisec/harp]: values and gradients (central
// differences). Logits are drawn distinct, so the top-k order and the largest other class do not
// change under the differences' small steps.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { cwLoss, dlrLoss, dlrTargetedLoss, marginLoss, topClasses } from '../../src/attacks/losses.js';
import { checkOp, distinctArray, mulberry32, nd, seedArb, type NDArray } from '../ops/helpers.js';

const row = (z: NDArray, n: number): number[] => Array.from(z.data.slice(n * z.shape[1], (n + 1) * z.shape[1]));
/** Class indices by logit, largest first (ties to the lower index). */
const order = (r: number[]): number[] => r.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).map(([, i]) => i);
const otherMax = (r: number[], y: number): number => Math.max(...r.filter((_, i) => i !== y));

const refs = {
  margin: (r: number[], y: number) => r[y] - otherMax(r, y),
  cw: (r: number[], y: number) => -Math.max(r[y] - otherMax(r, y) + 50, 0),
  dlr: (r: number[], y: number) => {
    const p = order(r);
    return -(r[y] - otherMax(r, y)) / (r[p[0]] - r[p[2]] + 1e-12);
  },
  dlrTargeted: (r: number[], y: number, t: number) => {
    const p = order(r);
    return -(r[y] - r[t]) / (r[p[0]] - 0.5 * (r[p[2]] + r[p[3]]) + 1e-12);
  },
};

const caseArb = fc.record({ n: fc.integer({ min: 1, max: 4 }), c: fc.integer({ min: 4, max: 10 }), seed: seedArb });

describe('attack losses', () => {
  for (const name of ['margin', 'cw', 'dlr', 'dlrTargeted'] as const)
    it(`${name}: values and gradients match the float64 reference`, async () => {
      await fc.assert(
        fc.asyncProperty(caseArb, async ({ n, c, seed }) => {
          const rng = mulberry32(seed);
          // Spread logits (distinct by at least 0.05 after scaling); κ = 50 keeps C&W's hinge active.
          const z = distinctArray([n, c], rng, 0.05);
          const labels = Array.from({ length: n }, () => Math.floor(rng() * c));
          const targets = labels.map((y) => (y + 1 + Math.floor(rng() * (c - 1))) % c);
          const gpu = ([zt]: E.Tensor[]) => {
            const y = E.tensor(labels, [n], 'i32');
            if (name === 'margin') return marginLoss(zt, y);
            if (name === 'cw') return cwLoss(zt, y, 50);
            if (name === 'dlr') return dlrLoss(zt, y);
            return dlrTargetedLoss(zt, y, E.tensor(targets, [n], 'i32'));
          };
          const ref = ([zr]: NDArray[]) =>
            nd(
              [n],
              labels.map((y, i) => (name === 'dlrTargeted' ? refs.dlrTargeted(row(zr, i), y, targets[i]) : refs[name](row(zr, i), y))),
            );
          await checkOp({ label: name, gpu, ref, inputs: [z], wrt: [0], seed, fwd: { rtol: 1e-5, atol: 1e-5 } });
        }),
        { numRuns: 15 },
      );
    });

  it('topClasses lists the k largest logits, largest first, ties to the lower index', async () => {
    const z = E.tensor([1, 5, 3, 5, -2, 0, 0, 7, 0, 1], [2, 5]);
    const top = topClasses(z, 4);
    expect(await Promise.all(top.map(async (t) => Array.from(await t.data())))).toEqual([
      [1, 2],
      [3, 4],
      [2, 0],
      [0, 1],
    ]);
    for (const t of [z, ...top]) t.dispose();
    expect(() => topClasses(E.zeros([1, 3]), 4)).toThrow(/k = 4 for 3 classes/);
  });
});
