// Small models and inputs for the attack tests: a linear classifier on 2×4×4 images and a
// quarter-width SmallCNN on 1×8×8 images, both with 4 classes, and images with pixels exactly at
// 0 and 1 so the [0, 1] clamp is exercised.

import * as E from '../../src/index.js';
import { moduleClassifier, type Classifier } from '../../src/attacks/classifier.js';
import { mulberry32 } from '../reference/ndarray.js';

export interface Problem {
  classifier: Classifier;
  model: E.Module;
  x: E.Tensor;
  y: E.Tensor;
  dispose(): void;
}

export type ModelKind = 'linear' | 'cnn';

export function makeModel(kind: ModelKind, seed: number): { model: E.Module; shape: [number, number, number] } {
  const generator = new E.Generator(seed);
  if (kind === 'linear') return { model: new E.Sequential(new E.Flatten(), new E.Linear(32, 4, { generator })), shape: [2, 4, 4] };
  return { model: new E.SmallCNN({ width: 0.25, imageSize: 8, inChannels: 1, numClasses: 4, generator }), shape: [1, 8, 8] };
}

/**
 * A random model of `kind` and n random images, labelled with the model's own predictions: every
 * point starts correctly classified, so every attack works on all of them.
 */
export function randomProblem(kind: ModelKind, seed: number, n: number): Problem {
  const { model, shape } = makeModel(kind, seed);
  const classifier = moduleClassifier(model);
  const gen = new E.Generator(seed + 1);
  const x = E.scope(() => E.clamp(E.affine(gen.uniform([n, ...shape]), 1.4, -0.2), 0, 1)).keep();
  const y = E.scope(() => E.noGrad(() => E.argmax(classifier.logits(x), 1))).keep();
  return {
    classifier,
    model,
    x,
    y,
    dispose() {
      x.dispose();
      y.dispose();
      model.dispose();
    },
  };
}

/** max_i |a_i − b_i| per sample, and the smallest and largest value of b. */
export async function perturbationStats(x: E.Tensor, xAdv: E.Tensor): Promise<{ linf: number[]; l2: number[]; min: number; max: number }> {
  const [a, b] = [await x.data(), await xAdv.data()];
  const n = x.shape[0];
  const per = a.length / n;
  const linf: number[] = [];
  const l2: number[] = [];
  for (let s = 0; s < n; s++) {
    let m = 0;
    let q = 0;
    for (let i = s * per; i < (s + 1) * per; i++) {
      const d = b[i] - a[i];
      m = Math.max(m, Math.abs(d));
      q += d * d;
    }
    linf.push(m);
    l2.push(Math.sqrt(q));
  }
  let min = Infinity;
  let max = -Infinity;
  for (const v of b) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  return { linf, l2, min, max };
}

/** Fraction of samples the classifier gets right. */
export async function accuracy(classifier: Classifier, x: E.Tensor, y: E.Tensor): Promise<number> {
  const pred = E.scope(() => E.noGrad(() => E.argmax(classifier.logits(x), 1)));
  const [p, t] = [await pred.data(), await y.data()];
  pred.dispose();
  let ok = 0;
  p.forEach((v, i) => (ok += v === t[i] ? 1 : 0));
  return ok / p.length;
}

/**
 * A linear classifier z = W·flatten(x) + b with known weights, for closed-form checks: on it the
 * ℓ∞ worst case of each class pair is a corner of the box around x.
 */
export interface LinearModel {
  w: number[][];
  b: number[];
  dim: number;
  classifier: Classifier;
  dispose(): void;
}

export function linearModel(seed: number, classes: number, dim: number): LinearModel {
  const rng = mulberry32(seed);
  const w = Array.from({ length: classes }, () => Array.from({ length: dim }, () => Math.fround(2 * rng() - 1)));
  const b = Array.from({ length: classes }, () => Math.fround(0.5 * (rng() - 0.5)));
  const W = E.tensor(w.flat(), [classes, dim]).keep();
  const B = E.tensor(b, [classes]).keep();
  return {
    w,
    b,
    dim,
    classifier: { numClasses: classes, logits: (x) => E.linear(E.flatten(x, 1), W, B) },
    dispose: () => {
      W.dispose();
      B.dispose();
    },
  };
}

/** z_y − z_o at the point of the ℓ∞ ball (radius r, within [0, 1]) that minimises it. */
export function worstPairMargin(m: LinearModel, x: readonly number[], y: number, o: number, r: number): number {
  let v = m.b[y] - m.b[o];
  for (let i = 0; i < m.dim; i++) {
    const d = m.w[y][i] - m.w[o][i];
    v += d * (d > 0 ? Math.max(x[i] - r, 0) : Math.min(x[i] + r, 1));
  }
  return v;
}

/** Smallest over other classes of worstPairMargin: negative iff some point within r is misclassified. */
export function worstMargin(m: LinearModel, x: readonly number[], y: number, r: number): number {
  let best = Infinity;
  for (let o = 0; o < m.w.length; o++) if (o !== y) best = Math.min(best, worstPairMargin(m, x, y, o, r));
  return best;
}

/** The smallest ℓ∞ radius at which the worst margin against class o reaches 0 (bisection; Infinity if never). */
export function minimalPairDistance(m: LinearModel, x: readonly number[], y: number, o: number): number {
  if (worstPairMargin(m, x, y, o, 0) <= 0) return 0;
  if (worstPairMargin(m, x, y, o, 1) > 0) return Infinity;
  let lo = 0;
  let hi = 1;
  for (let k = 0; k < 60; k++) {
    const mid = (lo + hi) / 2;
    if (worstPairMargin(m, x, y, o, mid) > 0) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** Images with pixels exactly at 0 and 1 and within ε of them, flattened per sample. */
export function edgyImages(seed: number, n: number, dim: number): number[][] {
  const rng = mulberry32(seed);
  return Array.from({ length: n }, () =>
    Array.from({ length: dim }, () => {
      const u = rng();
      return Math.fround(u < 0.1 ? 0 : u < 0.2 ? 1 : u < 0.3 ? rng() * 0.02 : u < 0.4 ? 1 - rng() * 0.02 : rng());
    }),
  );
}

/** The predicted class of each sample under the linear model (host arithmetic). */
export function linearPredict(m: LinearModel, x: readonly number[]): number {
  let best = -Infinity;
  let arg = 0;
  m.w.forEach((row, k) => {
    const z = row.reduce((s, v, i) => s + v * x[i], m.b[k]);
    if (z > best) {
      best = z;
      arg = k;
    }
  });
  return arg;
}
