// Classifiers: the ensemble combiners of algorithms.md §0 against float64 host arithmetic, and the
// module wrapper's eval-mode contract (attacks see BN running statistics; modes come back as they
// were, submodule by submodule).

import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { averageEnsemble, maxEnsemble, moduleClassifier, type Classifier } from '../../src/attacks/classifier.js';
import { pgd } from '../../src/attacks/pgd.js';
import { mulberry32 } from '../reference/ndarray.js';
import { makeModel } from './fixtures.js';

/** A classifier that ignores its input's values and returns fixed logits (x only sets the batch). */
function fixedLogits(values: number[][]): Classifier {
  const t = E.tensor(values.flat(), [values.length, values[0].length]).keep();
  return { numClasses: values[0].length, logits: (x) => E.add(E.mul(E.reshape(E.sum(x, [1, 2, 3]), [-1, 1]), 0), t) };
}

const softmax = (z: number[]) => {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

function memberLogits(seed: number, members: number, n: number, c: number): number[][][] {
  const rng = mulberry32(seed);
  const out = Array.from({ length: members }, () => Array.from({ length: n }, () => Array.from({ length: c }, () => 6 * rng() - 3)));
  // One very confident member: its softmax underflows to 0 for most classes, even in float64.
  out[0][0] = Array.from({ length: c }, (_, k) => (k === 0 ? 400 : 0));
  return out;
}

async function combine(combiner: (m: Classifier[]) => Classifier, logits: number[][][]): Promise<number[][]> {
  const members = logits.map(fixedLogits);
  const n = logits[0].length;
  const x = E.zeros([n, 1, 1, 1]);
  const z = combiner(members).logits(x);
  const flat = Array.from(await z.data());
  const c = logits[0][0].length;
  x.dispose();
  z.dispose();
  return Array.from({ length: n }, (_, s) => flat.slice(s * c, (s + 1) * c));
}

describe('ensemble combiners', () => {
  it('average: z_ens = log(max(1e-40, mean_i softmax(z_i)))', async () => {
    const logits = memberLogits(5, 3, 4, 5);
    const got = await combine(averageEnsemble, logits);
    got.forEach((row, s) => {
      const probs = logits.map((m) => softmax(m[s]));
      row.forEach((v, k) => {
        const mean = probs.reduce((a, p) => a + p[k], 0) / probs.length;
        expect(v).toBeCloseTo(Math.log(Math.max(1e-40, mean)), 4);
      });
    });
    // With other members keeping every class above 1e-40 the floor is not reached; a lone
    // confident member reaches it (its other probabilities are ~e^−400).
    const lone = await combine(averageEnsemble, [[[400, 0, 0]]]);
    expect(lone[0][1]).toBeCloseTo(Math.log(1e-40), 4);
    expect(lone[0][0]).toBeCloseTo(0, 6);
  });

  it('max: z_ens = log(max_i softmax(z_i)), elementwise and not renormalised', async () => {
    const logits = memberLogits(9, 3, 4, 5);
    const got = await combine(maxEnsemble, logits);
    got.forEach((row, s) => {
      const probs = logits.map((m) => softmax(m[s]));
      row.forEach((v, k) => {
        const best = Math.max(...probs.map((p) => p[k]));
        expect(v).toBeCloseTo(Math.log(best), 4);
      });
      // Not renormalised: the probabilities add up to more than 1 when members disagree.
      expect(row.reduce((a, v) => a + Math.exp(v), 0)).toBeGreaterThan(1);
    });
  });

  it('members must agree on the class count', () => {
    expect(() => averageEnsemble([fixedLogits([[0, 0]]), fixedLogits([[0, 0, 0]])])).toThrow(/disagree on the class count/);
    expect(() => maxEnsemble([])).toThrow(/at least one member/);
  });

  it('an ensemble of identical members is attacked like the member itself (gradients flow through)', async () => {
    const { model } = makeModel('linear', 4);
    const single = moduleClassifier(model);
    const ens = averageEnsemble([single, single]);
    const gen = new E.Generator(3);
    const x = E.scope(() => gen.uniform([3, 2, 4, 4])).keep();
    const y = E.tensor([0, 1, 2], [3], 'i32');
    // log-mean-softmax of identical members is log-softmax, so CE and its gradient are unchanged.
    const a = pgd(single, x, y, { steps: 5, generator: new E.Generator(8) });
    const b = pgd(ens, x, y, { steps: 5, generator: new E.Generator(8) });
    const [da, db] = [Array.from(await a.data()), Array.from(await b.data())];
    const differing = da.filter((v, i) => Math.abs(v - db[i]) > 1e-6).length;
    expect(differing).toBeLessThanOrEqual(da.length / 100); // sign flips of near-zero gradients only
    const clean = Array.from(await x.data());
    expect(da.some((v, i) => v !== clean[i]), 'the attack moved the images').toBe(true);
    for (const t of [x, y, a, b]) t.dispose();
    model.dispose();
  });
});

describe('moduleClassifier', () => {
  it('evaluates with BN running statistics and restores every submodule mode', async () => {
    const { model } = makeModel('cnn', 12);
    const cnn = model as E.SmallCNN;
    // Non-trivial running statistics, so train- and eval-mode outputs differ.
    E.scope(() => {
      cnn.bn1.runningMean.assign(E.full([cnn.bn1.numFeatures], 0.3));
      cnn.bn1.runningVar.assign(E.full([cnn.bn1.numFeatures], 2));
    });
    cnn.train();
    cnn.bn2.training = false; // a mixed state must survive as it was
    const x = E.scope(() => new E.Generator(2).uniform([4, 1, 8, 8])).keep();
    const clf = moduleClassifier(model);
    expect(clf.numClasses).toBe(4);
    const z = clf.logits(x);
    expect(cnn.training).toBe(true);
    expect(cnn.bn1.training).toBe(true);
    expect(cnn.bn2.training).toBe(false);
    const zEval = E.scope(() => {
      model.eval();
      return model.forward(x);
    });
    expect(Array.from(await z.data())).toEqual(Array.from(await zEval.data()));
    // An attack leaves the modes alone too.
    model.train();
    const y = E.tensor([0, 1, 2, 3], [4], 'i32');
    const adv = pgd(clf, x, y, { steps: 2 });
    expect(model.namedModules().every(([, m]) => m.training)).toBe(true);
    for (const t of [x, z, zEval, y, adv]) t.dispose();
    model.dispose();
  });

  it('reads the class count from the last Linear layer, or asks for it', () => {
    const { model } = makeModel('linear', 1);
    expect(moduleClassifier(model).numClasses).toBe(4);
    const conv = new E.Conv2d(1, 2, 3);
    expect(() => moduleClassifier(conv)).toThrow(/no Linear layer.*pass numClasses/);
    expect(moduleClassifier(conv, 7).numClasses).toBe(7);
    model.dispose();
    conv.dispose();
  });
});
