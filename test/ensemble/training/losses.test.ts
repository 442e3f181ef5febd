import { describe, expect, it } from 'vitest';
import * as E from '../../../src/index.js';
import type { Tensor } from '../../../src/index.js';
import { awayFrom, checkOp, expectClose, mulberry32, nd, randomArray, up, type NDArray } from '../../ops/helpers.js';
import { adpRef, maskedWeightL1Ref, robustnessRef, scalarNd, soeRef } from './reference.js';

const labelsOf = (n: number, c: number, seed: number): number[] => {
  const rng = mulberry32(seed);
  return Array.from({ length: n }, () => Math.floor(rng() * c));
};
const labelTensor = (labels: number[]) => E.tensor(labels, [labels.length], 'i32');

function randomLogits(members: number, n: number, c: number, seed: number, scale = 2): NDArray[] {
  const rng = mulberry32(seed);
  return Array.from({ length: members }, () => randomArray([n, c], rng, -scale, scale));
}

describe('L_R (eq. 15)', () => {
  for (const regType of [1, 0] as const) {
    for (const seed of [1, 2, 3]) {
      it(`regType ${regType}, seed ${seed}: value and gradient match the float64 reference`, async () => {
        const [m, n, c] = [3, 6, 5];
        const logits = randomLogits(m, n, c, seed);
        const labels = labelsOf(n, c, seed + 100);
        const y = labelTensor(labels);
        await checkOp({
          label: `L_R regType ${regType}`,
          gpu: (zs) => E.robustnessLoss(zs, y, regType),
          ref: (zs) => scalarNd(robustnessRef(zs, labels, regType)),
          inputs: logits,
          wrt: [0, 1, 2],
          fwd: { rtol: 1e-5, atol: 1e-6 },
        });
        y.dispose();
      });
    }
  }

  it('is zero when the ensemble classifies every sample correctly, and clips at 0.99', async () => {
    const [m, n, c] = [2, 4, 3];
    const labels = [0, 1, 2, 1];
    const right = Array.from({ length: m }, () => {
      const z = nd([n, c]);
      labels.forEach((yy, r) => (z.data[r * c + yy] = 3));
      return z;
    });
    const y = labelTensor(labels);
    const zero = E.robustnessLoss(right.map(up), y);
    expect(await zero.item()).toBe(0);
    // Every member confidently wrong: the max probability exceeds 0.99 and is clipped.
    const wrong = right.map(() => {
      const z = nd([n, c]);
      labels.forEach((yy, r) => (z.data[r * c + ((yy + 1) % c)] = 20));
      return z;
    });
    const l = E.robustnessLoss(wrong.map(up), y);
    expect(await l.item()).toBeCloseTo(robustnessRef(wrong, labels, 1), 5);
    expect(await l.item()).toBeCloseTo(-Math.log(0.01), 4);
    E.dispose([zero, l, y]);
  });
});

describe('L_C terms', () => {
  it('L_W averages |w| over unpruned weights only; changing the mask changes the value as the reference does', async () => {
    const rng = mulberry32(7);
    const ws = [awayFrom(randomArray([4, 3], rng), 0, 0.01), awayFrom(randomArray([5], rng), 0, 0.01)];
    const maskA = nd([4, 3], Array.from({ length: 12 }, (_, k) => (k % 3 === 0 ? 1 : 0)));
    const maskB = nd([4, 3], Array.from({ length: 12 }, (_, k) => (k % 2 === 0 ? 1 : 0)));
    for (const masks of [[maskA, null], [maskB, null], [null, null]] as (NDArray | null)[][]) {
      const mt = masks.map((mk) => (mk ? up(mk) : null));
      await checkOp({
        label: 'L_W',
        gpu: (xs) => E.maskedWeightL1(xs, mt),
        ref: (xs) => scalarNd(maskedWeightL1Ref(xs, masks)),
        inputs: ws,
        wrt: [0, 1],
      });
      E.dispose(mt);
    }
    expect(maskedWeightL1Ref(ws, [maskA, null])).not.toBeCloseTo(maskedWeightL1Ref(ws, [maskB, null]), 3);
  });

  it('memberWeightL1 reads the layers’ masks: pruned weights neither count nor get a gradient', async () => {
    const model = new E.SmallCNN({ width: 0.25, imageSize: 8, numClasses: 4, generator: new E.Generator(2) });
    const layers = E.prunableLayers(model);
    const masks = new Map<string, Tensor>();
    for (const l of layers) masks.set(`${l.name}.weight`, E.scope(() => E.cast(E.gt(new E.Generator(9).uniform(l.weight.shape), 0.5), 'f32')));
    E.applyMasks(model, masks);
    const hostW = await Promise.all(layers.map(async (l) => nd(l.weight.shape, Array.from(await l.weight.data()))));
    const hostM = await Promise.all(layers.map(async (l) => nd(l.weight.shape, Array.from(await l.layer.weightMask!.data()))));
    await E.scopeAsync(async () => {
      const v = E.memberWeightL1(model);
      expect(await v.item()).toBeCloseTo(maskedWeightL1Ref(hostW, hostM), 6);
      const gs = E.grad(v, layers.map((l) => l.weight));
      for (let i = 0; i < gs.length; i++) {
        const g = await gs[i].data();
        hostM[i].data.forEach((mk, k) => {
          if (mk === 0) expect(g[k]).toBe(0);
        });
      }
    });
    E.disposeSubModel(model);
  });

  it('L_A is the mean |a| over all activation tensors (gradient by finite differences) and the density counts non-zeros', async () => {
    const rng = mulberry32(3);
    const acts = [awayFrom(randomArray([2, 3, 2], rng), 0, 0.01), awayFrom(randomArray([2, 5], rng), 0, 0.01)];
    const ref = (xs: NDArray[]) => {
      let s = 0;
      let n = 0;
      for (const a of xs) for (const v of a.data) (s += Math.abs(v)), n++;
      return scalarNd(s / n);
    };
    await checkOp({ label: 'L_A', gpu: (xs) => E.activationL1(xs), ref, inputs: acts, wrt: [0, 1] });
    const relu = acts.map((a) => up(nd(a.shape, Array.from(a.data, (v) => Math.max(v, 0)))));
    const d = E.activationDensity(relu);
    const nonZero = acts.reduce((k, a) => k + Array.from(a.data).filter((v) => v > 0).length, 0);
    expect(await d.item()).toBeCloseTo(nonZero / 22, 6);
    E.dispose([relu, d]);
  });
});

describe('Appendix-C diversity losses', () => {
  for (const m of [2, 3]) {
    it(`ADP regulariser with ${m} members: value and gradient match the float64 reference`, async () => {
      const [n, c] = [5, 4];
      const logits = randomLogits(m, n, c, 40 + m, 1.5);
      const labels = labelsOf(n, c, 9);
      const y = labelTensor(labels);
      await checkOp({
        label: 'ADP',
        gpu: (zs) => E.adpRegularizer(zs, y, { alpha: 2, beta: 0.5 }),
        ref: (zs) => scalarNd(adpRef(zs, labels, 2, 0.5)),
        inputs: logits,
        wrt: logits.map((_, i) => i),
        fwd: { rtol: 1e-4, atol: 1e-4 },
        grad: { rtol: 2e-2, atol: 2e-3 },
      });
      y.dispose();
    });
  }

  it('SoE: each sample trains only its best member; value and gradient match the reference', async () => {
    const [n, c] = [8, 3];
    const logits = randomLogits(3, n, c, 77);
    const labels = labelsOf(n, c, 5);
    const y = labelTensor(labels);
    await checkOp({
      label: 'SoE',
      gpu: (zs) => E.soeLoss(zs, y),
      ref: (zs) => scalarNd(soeRef(zs, labels)),
      inputs: logits,
      wrt: [0, 1, 2],
    });
    y.dispose();
  });

  it('GAL: value and weight gradients of linear members match a float64 reference of eq. 33', async () => {
    // Linear members z_k = W_k·x + b_k: ∂CE/∂x = W_kᵀ(p_k − ỹ)/N in closed form, so the reference
    // has the input gradients exactly and the engine's double backward (through W_kᵀ and p_k) is
    // checked per weight against central differences.
    const [n, d, c, m] = [3, 4, 3, 3];
    const rng = mulberry32(33);
    const xs = Array.from({ length: n }, () => Array.from({ length: d }, () => rng()));
    const labels = labelsOf(n, c, 5);
    const biases = Array.from({ length: m }, () => Array.from({ length: c }, () => rng() - 0.5));
    const o = { lambda: 0.5, kappa: 0.5, labelSmoothing: 0.1 };
    const softmaxRow = (z: number[]) => {
      const mx = Math.max(...z);
      const e = z.map((v) => Math.exp(v - mx));
      const t = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / t);
    };
    const H = (p: number[]) => -p.reduce((s2, v) => s2 + v * Math.log(v + 1e-20), 0);
    const ref = (ws: NDArray[]): NDArray => {
      let ce = 0;
      let align = 0;
      let jsd = 0;
      for (let i = 0; i < n; i++) {
        const target = Array.from({ length: c }, (_, k) => (k === labels[i] ? 1 - o.labelSmoothing : 0) + o.labelSmoothing / c);
        const ps = ws.map((w, k) => softmaxRow(Array.from({ length: c }, (_, j) => biases[k][j] + xs[i].reduce((a, v, q) => a + w.data[j * d + q] * v, 0))));
        ps.forEach((p) => (ce += -p.reduce((a, v, k) => a + target[k] * Math.log(v), 0) / (n * m)));
        const grads = ws.map((w, k) => Array.from({ length: d }, (_, q) => ps[k].reduce((a, v, j) => a + w.data[j * d + q] * (v - target[j]), 0) / n));
        const norm = (g: number[]) => Math.sqrt(g.reduce((a, v) => a + v * v, 0));
        let pairSum = 0;
        for (let a = 0; a < m; a++)
          for (let b = a + 1; b < m; b++)
            pairSum += Math.exp(grads[a].reduce((t, v, q) => t + v * grads[b][q], 0) / Math.max(norm(grads[a]) * norm(grads[b]), 1e-8));
        align += Math.log(pairSum + 1e-20) / n;
        const avg = Array.from({ length: c }, (_, j) => ps.reduce((a, p) => a + p[j], 0) / m);
        jsd += (H(avg) - ps.reduce((a, p) => a + H(p), 0) / m) / n;
      }
      return nd([], [ce + o.lambda * align - o.kappa * jsd]);
    };
    const x = E.tensor(xs.flat(), [n, d]);
    const y = labelTensor(labels);
    const bs = biases.map((b) => E.tensor(b, [c]));
    await checkOp({
      label: 'GAL',
      gpu: (ws) => E.galLoss(ws.map((w, k) => (xx: Tensor) => E.linear(xx, w, bs[k])), x, y, o),
      ref,
      inputs: Array.from({ length: m }, () => randomArray([c, d], rng, -2, 2)),
      wrt: [0, 1, 2],
      fwd: { rtol: 1e-5, atol: 1e-5 },
    });
    E.dispose([x, y, bs]);
  });

  it('GAL: the double-backward gradient matches central finite differences on a tiny two-member model', async () => {
    const rng = mulberry32(21);
    const [n, d, h, c] = [4, 5, 3, 3];
    const x = up(randomArray([n, d], rng, 0, 1));
    const y = labelTensor(labelsOf(n, c, 2));
    // Member k: logits = W2·(W1·x)² + W1-dependent, so its input gradient depends on both weights.
    const params = [0, 1].flatMap(() => [E.variable(up(randomArray([h, d], rng, -1, 1))), E.variable(up(randomArray([c, h], rng, -1, 1)))]);
    const lossAt = (ps: Tensor[]) =>
      E.galLoss(
        [0, 1].map((k) => (xx: Tensor) => E.linear(E.square(E.linear(xx, ps[2 * k])), ps[2 * k + 1])),
        x,
        y,
        { lambda: 0.5, kappa: 0.5, labelSmoothing: 0.1 },
      );
    const dirs = params.map((p) => up(randomArray([...p.shape], rng, -1, 1)));
    const analytic = await E.scopeAsync(async () => {
      const gs = E.grad(lossAt(params), params);
      let dot = 0;
      for (let i = 0; i < gs.length; i++) {
        const [g, v] = [await gs[i].data(), await dirs[i].data()];
        for (let k = 0; k < g.length; k++) dot += g[k] * v[k];
      }
      return dot;
    });
    const step = 1e-2;
    const at = async (sgn: number) =>
      // Not under noGrad: the loss itself contains an input gradient, which needs the graph.
      E.scopeAsync(async () => lossAt(params.map((p, i) => E.add(p, E.mul(dirs[i], sgn * step)))).item());
    const numeric = ((await at(1)) - (await at(-1))) / (2 * step);
    expectClose([analytic], [numeric], { rtol: 2e-2, atol: 2e-3, label: 'GAL directional derivative' });
    E.dispose([x, y, params, dirs]);
  });
});

describe('DVERGE diversity term (eq. 34)', () => {
  it('is Σ_i Σ_{j≠i} CE(F_i(x̃_j), y_s): every member on every other member\'s distilled images, with the source labels', async () => {
    const [n, d, c, m] = [3, 4, 3, 3];
    const rng = mulberry32(44);
    const ws = Array.from({ length: m }, () => Array.from({ length: c * d }, () => 2 * rng() - 1));
    const bs = Array.from({ length: m }, () => Array.from({ length: c }, () => rng() - 0.5));
    const distilled = Array.from({ length: m }, () => Array.from({ length: n * d }, () => rng()));
    const labels = labelsOf(n, c, 6);
    const ce = (k: number, xs: number[]) => {
      let total = 0;
      for (let i = 0; i < n; i++) {
        const z = Array.from({ length: c }, (_, j) => bs[k][j] + xs.slice(i * d, (i + 1) * d).reduce((a, v, q) => a + ws[k][j * d + q] * v, 0));
        const mx = Math.max(...z);
        total += mx + Math.log(z.reduce((a, v) => a + Math.exp(v - mx), 0)) - z[labels[i]];
      }
      return total / n;
    };
    let expected = 0;
    for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) if (j !== i) expected += ce(i, distilled[j]);
    const members = ws.map((w, k) => {
      const lin = new E.Linear(d, c);
      lin.weight.assign(E.tensor(w, [c, d]));
      lin.bias!.assign(E.tensor(bs[k], [c]));
      return lin;
    });
    const xs = distilled.map((x) => E.tensor(x, [n, d]));
    const y = labelTensor(labels);
    const w0 = { adpAlpha: 2, adpBeta: 0.5, galLambda: 0.5, galKappa: 0, galSmoothing: 0 };
    const term = E.scope(() => E.detach(E.diversityTerm('dverge', members, { xSource: xs[0], ySource: y, distilled: xs, adversarial: [] }, w0)));
    expect(await term.item()).toBeCloseTo(expected, 4);
    E.dispose([term, xs, y]);
    for (const l of members) l.dispose();
  });
});

describe('SoE diversity term (eq. 35) on a binding limit', () => {
  it('forwards each source batch on its own, so the pooled batch never has to fit one binding', async () => {
    const rt = E.runtime();
    const gen = new E.Generator(8);
    const member = () => new E.Sequential(new E.Conv2d(1, 4, 3, { padding: 1, generator: gen }), new E.BatchNorm2d(4), new E.ReLU(), new E.Flatten(), new E.Linear(4 * 64, 3, { generator: gen })).train();
    const members = [member(), member()];
    const rng = mulberry32(5);
    const batch = () => E.tensor(Array.from({ length: 4 * 64 }, () => rng()), [4, 1, 8, 8]);
    const distilled = [batch(), batch()];
    const adversarial = [batch(), batch()];
    const y = E.tensor([0, 1, 2, 0], [4], 'i32');
    // One source's conv output is 4·4·64·4 B = 4 KiB; the four sources pooled would be 16 KiB.
    const limit = rt.limits.maxStorageBufferBindingSize;
    rt.limits.maxStorageBufferBindingSize = 8192;
    try {
      const inputs = { xSource: distilled[0], ySource: y, distilled, adversarial };
      const w = { adpAlpha: 2, adpBeta: 0.5, galLambda: 0.5, galKappa: 0, galSmoothing: 0 };
      const [got, want] = E.scope(() => {
        const term = E.diversityTerm('soe', members, inputs, w);
        const sources = [...distilled, ...adversarial];
        const reference = E.soeLoss(
          members.map((m) => E.concat(sources.map((x) => m.forward(x)), 0)),
          E.concat(sources.map(() => y), 0),
        );
        return [E.detach(term), E.detach(reference)];
      });
      const [a, b] = [await got.item(), await want.item()];
      expect(Number.isFinite(a)).toBe(true);
      expect(a).toBeCloseTo(b, 5);
      got.dispose();
      want.dispose();
    } finally {
      rt.limits.maxStorageBufferBindingSize = limit;
      for (const t of [...distilled, ...adversarial, y]) t.dispose();
      for (const m of members) m.dispose();
    }
  });
});
