// PGD one step at a time, so the page can show every iterate. The update is pgd()'s
// (src/attacks/pgd.ts: random start in the ε-box, then K signed-gradient steps of the
// cross-entropy, each projected onto the ε-box ∩ [0, 1]) with a read-back after each step; pgd()
// itself runs all K steps without reading anything back.

import {
  add,
  argmax,
  crossEntropyLoss,
  Generator,
  inputGradient,
  linfProject,
  linfStep,
  noGrad,
  scope,
  Tensor,
  type Classifier,
} from './engine.js';

export interface AttackOptions {
  eps: number;
  stepSize: number;
  steps: number;
  /** Seed of the random start. */
  seed: number;
}

export interface AttackStep {
  /** 0 is the clean image. */
  step: number;
  prediction: number;
  /** The iterate, CHW in [0, 1]. */
  image: Float32Array;
  /** ‖x_k − x‖∞. */
  linf: number;
}

async function predict(classifier: Classifier, x: Tensor): Promise<number> {
  const p = scope(() => noGrad(() => argmax(classifier.logits(x), 1)));
  try {
    return (await p.data())[0];
  } finally {
    p.dispose();
  }
}

function linfDistance(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Yields the clean image (step 0), then each PGD iterate of one image. */
export async function* pgdSteps(
  classifier: Classifier,
  image: Float32Array,
  shape: readonly [number, number, number],
  label: number,
  opts: AttackOptions,
): AsyncGenerator<AttackStep> {
  const x0 = Tensor.fromArray(image, [1, ...shape]);
  const y = Tensor.fromArray([label], [1], 'i32');
  let xk: Tensor | null = null;
  try {
    yield { step: 0, prediction: await predict(classifier, x0), image, linf: 0 };
    const gen = new Generator(opts.seed);
    xk = scope(() => linfProject(add(x0, gen.uniform(x0.shape, -opts.eps, opts.eps)), x0, opts.eps));
    for (let k = 1; k <= opts.steps; k++) {
      const current: Tensor = xk;
      xk = scope(() => linfStep(current, inputGradient(classifier, current, (z) => crossEntropyLoss(z, y)).grad, x0, opts.eps, opts.stepSize));
      current.dispose();
      const values = (await xk.data()) as Float32Array;
      yield { step: k, prediction: await predict(classifier, xk), image: values, linf: linfDistance(values, image) };
    }
  } finally {
    xk?.dispose();
    x0.dispose();
    y.dispose();
  }
}
