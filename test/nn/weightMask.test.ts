import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';

describe('layer weight masks', () => {
  it('Conv2d and Linear with weightMask compute with w ⊙ M and give pruned weights zero gradient', async () => {
    const gen = new E.Generator(4);
    const conv = new E.Conv2d(3, 4, 3, { padding: 1, generator: gen });
    const lin = new E.Linear(4 * 5 * 5, 6, { generator: gen });
    const x = gen.uniform([2, 3, 5, 5]);
    const run = () => lin.forward(E.flatten(E.relu(conv.forward(x)), 1));
    const convMask = gen.bernoulli([4, 3, 3, 3], 0.5);
    const linMask = gen.bernoulli([6, 100], 0.5);
    // Reference: the same network with the weights multiplied by the masks.
    const wc = conv.weight;
    const wl = lin.weight;
    const ref = E.scope(() => {
      const yc = E.conv2d(x, E.mul(wc, convMask), conv.bias, { padding: 1 });
      return E.linear(E.flatten(E.relu(yc), 1), E.mul(wl, linMask), lin.bias ?? undefined);
    });
    conv.weightMask = convMask;
    lin.weightMask = linMask;
    const { y, gc, gl } = E.scope(() => {
      const out = run();
      const [gc, gl] = E.grad(E.sum(E.square(out)), [wc, wl]);
      return { y: E.detach(out), gc, gl };
    });
    const [a, b] = [await y.data(), await ref.data()];
    a.forEach((v, i) => expect(v).toBeCloseTo(b[i], 4));
    const [hgc, hcm, hgl, hlm] = [await gc.data(), await convMask.data(), await gl.data(), await linMask.data()];
    hcm.forEach((m, i) => m === 0 && expect(Math.abs(hgc[i])).toBe(0));
    hlm.forEach((m, i) => m === 0 && expect(Math.abs(hgl[i])).toBe(0));
    expect(hgc.some((v, i) => hcm[i] === 1 && v !== 0)).toBe(true);
    conv.weightMask = null;
    lin.weightMask = null;
    for (const t of [x, convMask, linMask, ref, y, gc, gl]) t.dispose();
    conv.dispose();
    lin.dispose();
  });
});
