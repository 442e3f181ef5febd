import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';

/**
 * A 4-class problem on 1×12×12 images: each class lights a different quadrant, plus noise.
 * Separable, but only by looking at where the signal is, so the conv stack has to learn it.
 */
function makeData(gen: E.Generator, n: number): { x: E.Tensor; y: E.Tensor } {
  return E.scope(() => {
    const labels = gen.randint([n], 0, 4);
    const masks: number[] = [];
    for (let q = 0; q < 4; q++)
      for (let i = 0; i < 12; i++)
        for (let j = 0; j < 12; j++) masks.push(((i < 6 ? 0 : 2) + (j < 6 ? 0 : 1)) === q ? 1 : 0);
    const quadrant = E.tensor(masks, [4, 144]);
    const signal = E.reshape(E.indexSelect(quadrant, 0, labels), [n, 1, 12, 12]);
    const x = E.add(E.mul(signal, 0.6), gen.uniform([n, 1, 12, 12], 0, 0.4));
    return { x, y: labels };
  });
}

async function accuracy(model: E.Module, x: E.Tensor, y: E.Tensor): Promise<number> {
  const pred = E.noGrad(() => E.scope(() => E.argmax(model.eval().forward(x), 1)));
  const [p, t] = [await pred.data(), await y.data()];
  pred.dispose();
  let ok = 0;
  p.forEach((v, i) => (ok += v === t[i] ? 1 : 0));
  return ok / p.length;
}

function trainStep(model: E.Module, opt: E.SGD, x: E.Tensor, y: E.Tensor): E.Tensor {
  return E.scope(() => {
    model.train();
    const loss = E.crossEntropy(model.forward(x), y);
    opt.step(E.grad(loss, opt.params));
    return E.detach(loss);
  });
}

describe('training', () => {
  it('SmallCNN learns a separable synthetic problem to >= 95% accuracy', async () => {
    const gen = new E.Generator(7);
    const model = new E.SmallCNN({ width: 0.5, imageSize: 12, numClasses: 4, generator: gen });
    const opt = new E.SGD(model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
    const train = makeData(gen, 512);
    const test = makeData(gen, 256);
    const batch = 64;
    let first = NaN;
    let last = NaN;
    for (let epoch = 0; epoch < 6; epoch++) {
      const perm = gen.permutation(512);
      for (let b = 0; b < 512 / batch; b++) {
        const idx = E.slice(perm, 0, b * batch, (b + 1) * batch);
        const xb = E.indexSelect(train.x, 0, idx);
        const yb = E.indexSelect(train.y, 0, idx);
        const loss = trainStep(model, opt, xb, yb);
        const v = await loss.item();
        if (Number.isNaN(first)) first = v;
        last = v;
        for (const t of [idx, xb, yb, loss]) t.dispose();
      }
      perm.dispose();
    }
    expect(last).toBeLessThan(first);
    expect(await accuracy(model, test.x, test.y)).toBeGreaterThanOrEqual(0.95);
    for (const t of [train.x, train.y, test.x, test.y]) t.dispose();
    opt.dispose();
    model.dispose();
  });

  it('200 training steps leave no live tensors, buffers or pooled bytes behind', async () => {
    const gen = new E.Generator(11);
    const model = new E.SmallCNN({ width: 0.25, imageSize: 12, numClasses: 4, generator: gen });
    const opt = new E.SGD(model.parameters(), { lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 1e-4 });
    const data = makeData(gen, 32);
    const step = () => trainStep(model, opt, data.x, data.y);
    // Warm up: the first steps fill the pool and create momentum buffers.
    for (let i = 0; i < 5; i++) step().dispose();
    await E.runtime().sync();
    const tensors0 = E.liveTensorCount();
    const pool0 = E.runtime().pool.snapshot();
    for (let i = 0; i < 200; i++) {
      const loss = step();
      if (i % 50 === 49) expect(Number.isFinite(await loss.item())).toBe(true);
      loss.dispose();
    }
    await E.runtime().sync();
    const pool1 = E.runtime().pool.snapshot();
    expect(E.liveTensorCount()).toBe(tensors0);
    expect(pool1.liveBuffers).toBe(pool0.liveBuffers);
    expect(pool1.liveBytes).toBe(pool0.liveBytes);
    expect(pool1.pooledBytes).toBeLessThanOrEqual(pool0.pooledBytes);
    expect(pool1.created).toBe(pool0.created);
    data.x.dispose();
    data.y.dispose();
    opt.dispose();
    model.dispose();
  });
});
