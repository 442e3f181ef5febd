import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';

/** torch.optim.SGD's update rule on host numbers, for comparison. */
function referenceSgd(
  p: number[],
  grads: number[][],
  o: { lr: number; momentum: number; dampening: number; weightDecay: number; nesterov: boolean },
): number[] {
  const w = [...p];
  let buf: number[] | null = null;
  for (const g of grads) {
    const d = g.map((gi, i) => gi + o.weightDecay * w[i]);
    let step = d;
    if (o.momentum) {
      buf = buf ? buf.map((b, i) => o.momentum * b + (1 - o.dampening) * d[i]) : [...d];
      step = o.nesterov ? d.map((di, i) => di + o.momentum * buf![i]) : buf;
    }
    step.forEach((s, i) => (w[i] -= o.lr * s));
  }
  return w;
}

describe('SGD', () => {
  const cases = [
    { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false },
    { lr: 0.05, momentum: 0.9, dampening: 0, weightDecay: 5e-4, nesterov: false },
    { lr: 0.05, momentum: 0.9, dampening: 0, weightDecay: 1e-2, nesterov: true },
    { lr: 0.02, momentum: 0.5, dampening: 0.3, weightDecay: 0, nesterov: false },
  ];
  for (const o of cases) {
    it(`matches torch.optim.SGD (${JSON.stringify(o)})`, async () => {
      const p0 = [0.5, -1.25, 2, 0.125];
      const grads = [
        [0.1, -0.2, 0.3, 0.4],
        [-0.5, 0.25, 0.1, 0],
        [0.3, 0.3, -0.3, 1],
      ];
      const p = E.tensor(p0).keep();
      p.requiresGrad = true;
      const opt = new E.SGD([p], o);
      for (const g of grads) {
        const gt = E.tensor(g);
        opt.step([gt]);
        gt.dispose();
      }
      const got = await p.data();
      const want = referenceSgd(p0, grads, o);
      got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));
      opt.dispose();
      p.dispose();
    });
  }

  it('uses .grad from backward() and zeroGrad() clears it', async () => {
    const p = E.variable(E.tensor([1, 2]));
    const opt = new E.SGD([p], { lr: 0.5 });
    E.scope(() => E.backward(E.sum(E.mul(p, p))));
    expect(await p.grad!.data()).toEqual(new Float32Array([2, 4]));
    opt.step();
    expect(await p.data()).toEqual(new Float32Array([0, 0]));
    opt.zeroGrad();
    expect(p.grad).toBeNull();
  });

  it('rejects invalid settings', () => {
    expect(() => new E.SGD([], { lr: 0 })).toThrow(/lr must be > 0/);
    expect(() => new E.SGD([], { lr: 0.1, nesterov: true })).toThrow(/Nesterov/);
  });
});

describe('learning-rate schedules', () => {
  it('MultiStepLR decays by gamma at each milestone', () => {
    const s = new E.MultiStepLR(0.1, [2, 4], 0.5);
    expect([0, 1, 2, 3, 4, 9].map((e) => s.at(e))).toEqual([0.1, 0.1, 0.05, 0.05, 0.025, 0.025]);
  });
  it('CosineAnnealingLR follows the half cosine from base to etaMin', () => {
    const s = new E.CosineAnnealingLR(0.1, 10, 0.001);
    expect(s.at(0)).toBeCloseTo(0.1, 10);
    expect(s.at(5)).toBeCloseTo(0.0505, 10);
    expect(s.at(10)).toBeCloseTo(0.001, 10);
    expect(s.at(3)).toBeGreaterThan(s.at(4));
  });
  it('StagedLR switches at equal fractions of the stage', () => {
    const s = new E.StagedLR([0.1, 0.02, 0.004], 9);
    expect([0, 2, 3, 5, 6, 8].map((e) => s.at(e))).toEqual([0.1, 0.1, 0.02, 0.02, 0.004, 0.004]);
  });
});
