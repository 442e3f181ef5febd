// The failure matrix of §6 from real attacks on small classifiers.

import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import type { Classifier } from '../../src/attacks/classifier.js';
import { pgd } from '../../src/attacks/pgd.js';
import { memberFailures } from '../../src/ensemble/memberFailures.js';

/** A linear classifier on flattened [N, 1, 2, 2] images, counting the rows it evaluates. */
function linear(weights: number[], bias: number[]): Classifier & { calls: number; dispose(): void } {
  const w = E.tensor(weights, [2, 4]).keep();
  const b = E.tensor(bias, [2]).keep();
  const c = {
    numClasses: 2,
    calls: 0,
    logits: (x: E.Tensor) => {
      c.calls += 1;
      return E.linear(E.reshape(x, [x.shape[0], 4]), w, b);
    },
    dispose: () => {
      w.dispose();
      b.dispose();
    },
  };
  return c;
}

describe('memberFailures', () => {
  let x: E.Tensor;
  let y: E.Tensor;
  // a: class 0 when the top row is brighter; b: always class 1.
  let a: ReturnType<typeof linear>;
  let b: ReturnType<typeof linear>;
  beforeAll(() => {
    x = E.tensor([0.9, 0.9, 0.1, 0.1, 0.1, 0.1, 0.9, 0.9, 0.52, 0.5, 0.5, 0.5], [3, 1, 2, 2]).keep();
    y = E.tensor([0, 1, 0], [3], 'i32').keep();
    a = linear([1, 1, -1, -1, -1, -1, 1, 1], [0, 0]);
    b = linear([0, 0, 0, 0, 0, 0, 0, 0], [0, 1]);
  });

  it('without an attack, failures are the clean misclassifications', async () => {
    const m = await memberFailures([a, b], x, y, (_c, xb) => E.clone(xb), { batchSize: 2 });
    expect([0, 1, 2].map((n) => m.failed(0, n))).toEqual([false, false, false]);
    expect([0, 1, 2].map((n) => m.failed(1, n))).toEqual([true, false, true]);
    expect(Array.from(m.failureCounts)).toEqual([0, 2]);
  });

  it('a PGD attack against each member alone flips the near-boundary sample of member a', async () => {
    const attack = (c: Classifier, xb: E.Tensor, yb: E.Tensor) => pgd(c, xb, yb, { eps: 0.05, stepSize: 0.02, steps: 5, randomStart: false });
    const m = await memberFailures([a, b], x, y, attack);
    expect([0, 1, 2].map((n) => m.failed(0, n))).toEqual([false, false, true]);
    expect(Array.from(m.failureCounts)).toEqual([1, 2]);
  });

  it("'pool' mode crafts one input per sample against the average ensemble", async () => {
    const seen: Classifier[] = [];
    const m = await memberFailures([a, b], x, y, (c, xb) => {
      seen.push(c);
      return E.clone(xb);
    }, { mode: 'pool' });
    expect(seen.length).toBe(1); // one batch, one attack for the whole pool
    expect(seen[0] === a || seen[0] === b).toBe(false); // crafted against the ensemble, not a member
    expect(Array.from(m.failureCounts)).toEqual([0, 2]); // then judged by each member
  });
});
