// Importance scores (src/pruning/{prunable,scores,nis,infFs,ase}.ts) against hand computations and,
// for ASE, against a float64 brute-force second-order Taylor computation.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { aseKfacScores, aseScores, aseTaylorTerms } from '../../src/pruning/ase.js';
import { infFsAffinity, infFsImportance, solveSymmetricPositive, spectralRadius } from '../../src/pruning/infFs.js';
import { nisScores } from '../../src/pruning/nis.js';
import { prunableLayers } from '../../src/pruning/prunable.js';
import { bnsfScores, ermScores, normaliseScores } from '../../src/pruning/scores.js';
import { hostValues, tinyCnn } from './fixtures.js';

/** conv(1→2, 1×1) → BN(2) → ReLU → global pool → linear(2→2), with hand-set weights. */
function handModel(): E.Sequential {
  const m = new E.Sequential(new E.Conv2d(1, 2, 1), new E.BatchNorm2d(2), new E.ReLU(), new E.GlobalAvgPool2d(), new E.Linear(2, 2));
  const values: Record<string, [number[], number[]]> = {
    '0.weight': [[0.5, -4], [2, 1, 1, 1]],
    '1.weight': [[2, -1], [2]],
    '1.running_var': [[3, 0.25], [2]],
    '4.weight': [[1, -2, 3, 0.5], [2, 2]],
  };
  const src = new Map(Object.entries(values).map(([k, [v, s]]) => [k, E.tensor(v, s)]));
  m.loadStateDict(src, { strict: false });
  E.dispose([...src.values()]);
  return m;
}

const close = (a: ArrayLike<number>, b: number[], tol = 1e-5) => {
  expect(a.length).toBe(b.length);
  b.forEach((v, i) => expect(Math.abs(a[i] - v)).toBeLessThan(tol * Math.max(1, Math.abs(v))));
};

describe('prunable layers', () => {
  it('enumerates every conv and linear weight and pairs each conv with its BN', () => {
    const small = tinyCnn();
    expect(prunableLayers(small).map((l) => [l.name, l.followingBn?.path ?? null, l.fanIn])).toEqual([
      ['conv1', 'bn1', 9],
      ['conv2', 'bn2', 72],
      ['conv3', 'bn3', 144],
      ['linear', null, 32 * 2 * 2], // the flattened 2×2 map of an 8×8 input
    ]);
    small.dispose();
    const resnet = new E.ResNet18({ width: 1 / 16, inChannels: 1, numClasses: 4 });
    const r = prunableLayers(resnet);
    expect(r.length).toBe(21);
    const pairs = new Map(r.map((l) => [l.name, l.followingBn?.path ?? null]));
    expect(pairs.get('layer2.0.conv2')).toBe('layer2.0.bn2');
    expect(pairs.get('layer2.0.shortcut.0')).toBe('layer2.0.shortcut.1');
    expect(pairs.get('linear')).toBe(null);
    resnet.dispose();
    const vgg = new E.VGG16Net({ width: 1 / 32, inChannels: 1, numClasses: 4 });
    const v = prunableLayers(vgg);
    expect(v.length).toBe(14);
    expect(v.slice(0, 3).map((l) => [l.name, l.followingBn?.path])).toEqual([
      ['features.0', 'features.1'],
      ['features.3', 'features.4'],
      ['features.7', 'features.8'],
    ]);
    vgg.dispose();
  });
});

describe('ERM and BNSF', () => {
  it('ERM is η·w/max|w| with η = sqrt(6/fan_in); BNSF is |γ|·|w|/sqrt(var + ε)', async () => {
    const m = handModel();
    const erm = await ermScores(m);
    close(erm.get('0')!, [Math.sqrt(6) * (0.5 / 4), Math.sqrt(6) * -1]);
    close(erm.get('4')!, [1, -2, 3, 0.5].map((w) => (Math.sqrt(6 / 2) * w) / 3));
    const bnsf = await bnsfScores(m);
    close(bnsf.get('0')!, [(2 * 0.5) / Math.sqrt(3 + 1e-5), (1 * 4) / Math.sqrt(0.25 + 1e-5)]);
    close(bnsf.get('4')!, [1, 2, 3, 0.5]);
    // §4.5 maps every metric to ERM's scale and leaves ERM as it is.
    const norm = normaliseScores(m, bnsf);
    const top = Math.max(...bnsf.get('0')!);
    close(norm.get('0')!, [...bnsf.get('0')!].map((v) => (Math.sqrt(6) * v) / top));
    close(normaliseScores(m, erm).get('4')!, [...erm.get('4')!]);
    m.dispose();
  });
});

describe('NIS', () => {
  it('propagates |W|ᵀ·s through linear, pool, ReLU, BN and conv (uniform FRL), by hand', async () => {
    const m = handModel();
    const s = await nisScores(m, [], { frl: 'uniform' });
    close(s.get('4')!, [1, 2, 3, 0.5]); // |w_cj|·1: uniform logit importance
    // s_FRL = |W|ᵀ·1 = [4, 2.5] → [1, 0.625]; BN: ·|γ|/sqrt(var + ε); rescale to max 1.
    const pre = [(1 * 2) / Math.sqrt(3 + 1e-5), (0.625 * 1) / Math.sqrt(0.25 + 1e-5)];
    const top = Math.max(...pre);
    close(s.get('0')!, [0.5 * (pre[0] / top), 4 * (pre[1] / top)]);
    m.dispose();
  });

  it('Inf-FS solves (I − rA)z = 1 exactly and feeds the FRL', async () => {
    const a = Float64Array.from([4, 1, 2, 1, 3, 0, 2, 0, 5]);
    const z = solveSymmetricPositive(a, Float64Array.from([1, 2, 3]), 3);
    const back = [0, 1, 2].map((i) => a[i * 3] * z[0] + a[i * 3 + 1] * z[1] + a[i * 3 + 2] * z[2]);
    close(back, [1, 2, 3], 1e-12);
    // Two features: A = [[p, q], [q, p]] gives s = Σ_j [(I − rA)⁻¹ − I]_ij = 1/(1 − r(p+q)) − 1.
    const x = Float64Array.from([0, 0, 1, 3, 2, 1, 3, 2]); // 4 samples × 2 features
    const s = infFsImportance(x, 4, 2);
    expect(s[0]).toBeGreaterThan(0);
    expect(s[0]).toBeCloseTo(s[1], 12); // symmetric features: equal importance
    expect(s[0]).toBeCloseTo(1 / (1 - 0.9) - 1, 9); // r = 0.9/ρ and ρ = p + q for this A

    const cnn = tinyCnn(11);
    const gen = new E.Generator(12);
    const batches = [{ x: gen.uniform([16, 1, 8, 8]), y: gen.randint([16], 0, 4) }];
    const nis = await nisScores(cnn, batches);
    for (const l of prunableLayers(cnn)) {
      const v = nis.get(l.name)!;
      expect(v.length).toBe(l.weight.size);
      expect(v.every((t) => Number.isFinite(t) && t >= 0)).toBe(true);
    }
    E.dispose(batches);
    cnn.dispose();
  });
});

/** Gaussian elimination with partial pivoting: the reference for the conjugate-gradient solve. */
function solveByElimination(m: Float64Array, b: Float64Array, d: number): Float64Array {
  const a = m.slice();
  const z = b.slice();
  for (let col = 0; col < d; col++) {
    let pivot = col;
    for (let r = col + 1; r < d; r++) if (Math.abs(a[r * d + col]) > Math.abs(a[pivot * d + col])) pivot = r;
    for (let c = 0; c < d; c++) [a[col * d + c], a[pivot * d + c]] = [a[pivot * d + c], a[col * d + c]];
    [z[col], z[pivot]] = [z[pivot], z[col]];
    for (let r = col + 1; r < d; r++) {
      const f = a[r * d + col] / a[col * d + col];
      for (let c = col; c < d; c++) a[r * d + c] -= f * a[col * d + c];
      z[r] -= f * z[col];
    }
  }
  for (let r = d - 1; r >= 0; r--) {
    let s = z[r];
    for (let c = r + 1; c < d; c++) s -= a[r * d + c] * z[c];
    z[r] = s / a[r * d + r];
  }
  return z;
}

describe('Inf-FS numerics (conjugate gradients, early-stopped power iteration, blocked correlations)', () => {
  const samples = fc
    .record({ n: fc.integer({ min: 3, max: 24 }), d: fc.integer({ min: 1, max: 13 }), seed: fc.integer({ min: 1, max: 2 ** 30 }) })
    .map(({ n, d, seed }) => {
      let s = seed;
      const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
      // ReLU-like features with ties (zeros), some constant columns.
      const x = Float64Array.from({ length: n * d }, (_, k) => (k % d === d - 1 && d > 3 ? 0.5 : Math.max(0, next() - 0.3)));
      return { n, d, x };
    });

  it('gives the affinity of the plain pairwise definition', () => {
    fc.assert(
      fc.property(samples, ({ n, d, x }) => {
        const a = infFsAffinity(x, n, d);
        const col = (j: number) => Array.from({ length: n }, (_, i) => x[i * d + j]);
        const scaled = (c: number[]) => {
          const [lo, hi] = [Math.min(...c), Math.max(...c)];
          return c.map((v) => (hi > lo ? (v - lo) / (hi - lo) : 0));
        };
        const rank = (c: number[]) => c.map((v) => c.filter((w) => w < v).length + (c.filter((w) => w === v).length + 1) / 2);
        const centredOf = (c: number[]) => {
          const m = c.reduce((p, q) => p + q, 0) / c.length;
          return c.map((v) => v - m);
        };
        const norm = (c: number[]) => Math.sqrt(c.reduce((p, q) => p + q * q, 0));
        for (let i = 0; i < d; i++)
          for (let j = 0; j < d; j++) {
            const [si, sj] = [scaled(col(i)), scaled(col(j))];
            const [ri, rj] = [centredOf(rank(si)), centredOf(rank(sj))];
            const spearman = ri.reduce((p, v, t) => p + v * rj[t], 0) / (norm(ri) * norm(rj));
            const std = (c: number[]) => norm(centredOf(c)) / Math.sqrt(n);
            const v = 0.5 * Math.max(std(si), std(sj)) + 0.5 * (1 - Math.abs(spearman));
            expect(a[i * d + j]).toBeCloseTo(Number.isFinite(v) ? v : 0, 12);
          }
      }),
      { numRuns: 60 },
    );
  });

  it('solves (I − rA)z = 1 as elimination does, and stops the power iteration at the same radius', () => {
    fc.assert(
      fc.property(samples, ({ n, d, x }) => {
        const a = infFsAffinity(x, n, d);
        const rho = spectralRadius(a, d);
        expect(rho).toBeCloseTo(spectralRadius(a, d, 5000, 0), 10);
        if (!(rho > 0)) return;
        const m = a.map((v, k) => (Math.floor(k / d) === k % d ? 1 : 0) - (0.9 / rho) * v);
        const ones = new Float64Array(d).fill(1);
        const z = solveSymmetricPositive(m, ones, d);
        const reference = solveByElimination(m, ones, d);
        for (let i = 0; i < d; i++) expect(z[i]).toBeCloseTo(reference[i], 9);
        const s = infFsImportance(x, n, d);
        for (let i = 0; i < d; i++) expect(s[i]).toBeCloseTo(reference[i] - 1, 9);
      }),
      { numRuns: 60 },
    );
  });
});

describe('NIS through SmallCNN\'s flattened classifier input', () => {
  it('gives conv3 channel j the sum of its H·W flattened features\' scores, times its BN factor', async () => {
    // tinyCnn: conv3 has 32 channels of 2×2, the classifier reads 128 flattened features. With the
    // uniform FRL s_feat[k] = Σ_c |W_lin[c, k]|; channel j gets Σ_{pos} s_feat[4j + pos] (rescaled),
    // bn3 multiplies by |γ_j|/√(var_j + ε), and conv3's weight score is |w|·that.
    const cnn = tinyCnn(31);
    const [wLin, gamma, variance, w3] = await Promise.all([cnn.linear.weight, cnn.bn3.weight, cnn.bn3.runningVar, cnn.conv3.weight].map(hostValues));
    const stats = new Map<string, E.Tensor>([
      ['bn3.weight', E.Tensor.fromArray(Float32Array.from(gamma, (_, j) => 0.2 + (j % 5) * 0.3), [32])],
      ['bn3.running_var', E.Tensor.fromArray(Float32Array.from(variance, (_, j) => 0.5 + (j % 3)), [32])],
    ]);
    cnn.loadStateDict(stats, { strict: false });
    const g = await hostValues(stats.get('bn3.weight')!);
    const v = await hostValues(stats.get('bn3.running_var')!);
    const [classes, features, per] = [4, 128, 4];
    const feat = Array.from({ length: features }, (_, k) => {
      let a = 0;
      for (let c = 0; c < classes; c++) a += Math.abs(wLin[c * features + k]);
      return a;
    });
    const channel = Array.from({ length: 32 }, (_, j) => feat.slice(j * per, (j + 1) * per).reduce((a, b) => a + b, 0));
    const sOut = channel.map((s, j) => (Math.abs(g[j]) / Math.sqrt(v[j] + 1e-5)) * s);
    const nis = await nisScores(cnn, [], { frl: 'uniform' });
    const conv3 = nis.get('conv3')!;
    const perFilter = w3.length / 32;
    // Scores are defined up to the per-layer rescaling: compare ratios to channel 0's.
    const ratio = (j: number) => conv3[j * perFilter] / Math.abs(w3[j * perFilter]);
    for (let j = 1; j < 32; j++) expect(ratio(j) / ratio(0)).toBeCloseTo(sOut[j] / sOut[0], 6);
    E.dispose([...stats.values()]);
    cnn.dispose();
  });
});

// ---- ASE against float64 brute force on a two-layer MLP -------------------------------------

interface Mlp {
  w1: Float64Array; b1: Float64Array; w2: Float64Array; b2: Float64Array;
}
const [IN, HID, OUT, N] = [16, 5, 3, 4];

/** Mean CE of the MLP and its gradients w.r.t. W1 and W2, in float64. */
function mlpLossAndGrad(p: Mlp, x: Float64Array, y: Int32Array): { loss: number; g1: Float64Array; g2: Float64Array } {
  const g1 = new Float64Array(HID * IN);
  const g2 = new Float64Array(OUT * HID);
  let loss = 0;
  for (let n = 0; n < N; n++) {
    const h = Array.from({ length: HID }, (_, j) => p.b1[j] + Array.from({ length: IN }, (_, k) => p.w1[j * IN + k] * x[n * IN + k]).reduce((a, b) => a + b, 0));
    const a = h.map((v) => Math.max(0, v));
    const z = Array.from({ length: OUT }, (_, c) => p.b2[c] + a.reduce((acc, v, j) => acc + p.w2[c * HID + j] * v, 0));
    const zMax = Math.max(...z);
    const lse = zMax + Math.log(z.reduce((acc, v) => acc + Math.exp(v - zMax), 0));
    loss += (lse - z[y[n]]) / N;
    const dz = z.map((v, c) => (Math.exp(v - lse) - (c === y[n] ? 1 : 0)) / N);
    for (let c = 0; c < OUT; c++) for (let j = 0; j < HID; j++) g2[c * HID + j] += dz[c] * a[j];
    for (let j = 0; j < HID; j++) {
      const dh = h[j] > 0 ? dz.reduce((acc, d, c) => acc + d * p.w2[c * HID + j], 0) : 0;
      for (let k = 0; k < IN; k++) g1[j * IN + k] += dh * x[n * IN + k];
    }
  }
  return { loss, g1, g2 };
}

describe('ASE (exact HVP)', () => {
  it('½·w ⊙ (H_ll·w) equals float64 finite differences of the gradient, and its sum the Taylor term', async () => {
    const gen = new E.Generator(21);
    const model = new E.Sequential(new E.Flatten(), new E.Linear(IN, HID, { generator: gen }), new E.ReLU(), new E.Linear(HID, OUT, { generator: gen }));
    const x = gen.uniform([N, 1, 4, 4]);
    const y = gen.randint([N], 0, OUT);
    const terms = await aseTaylorTerms(model, [{ x, y }]);

    const sd = model.stateDict();
    const read = async (k: string) => Float64Array.from(await sd.get(k)!.data());
    const p: Mlp = { w1: await read('1.weight'), b1: await read('1.bias'), w2: await read('3.weight'), b2: await read('3.bias') };
    const xs = Float64Array.from(await x.data());
    const ys = Int32Array.from(await y.data());
    const scaled = (which: 'w1' | 'w2', t: number): Mlp => ({ ...p, [which]: p[which].map((v) => v * (1 + t)) });

    for (const [name, which, gk] of [['1', 'w1', 'g1'], ['3', 'w2', 'g2']] as const) {
      const w = p[which];
      // H_ll·w_l by central differences of the exact float64 gradient along w_l.
      const h = 1e-5;
      const gPlus = mlpLossAndGrad(scaled(which, h), xs, ys)[gk];
      const gMinus = mlpLossAndGrad(scaled(which, -h), xs, ys)[gk];
      const expected = w.map((v, i) => 0.5 * v * ((gPlus[i] - gMinus[i]) / (2 * h)));
      const got = terms.get(name)!;
      const scale = Math.max(...expected.map(Math.abs));
      expect(scale).toBeGreaterThan(1e-6);
      const worst = Math.max(...expected.map((v, i) => Math.abs(got[i] - v)));
      expect(worst).toBeLessThan(2e-3 * scale);
      // Σ T_l = ½·d²/dt² L(w_l·(1 + t)) at 0: the second-order Taylor term of removing the layer.
      const t = 1e-4;
      const l0 = mlpLossAndGrad(p, xs, ys).loss;
      const taylor = (0.5 * (mlpLossAndGrad(scaled(which, t), xs, ys).loss - 2 * l0 + mlpLossAndGrad(scaled(which, -t), xs, ys).loss)) / (t * t);
      const sum = got.reduce((a, b) => a + b, 0);
      expect(Math.abs(sum - taylor)).toBeLessThan(2e-3 * Math.max(Math.abs(taylor), 1e-3));
    }
    E.dispose([x, y]);
    model.dispose();
  });
});

describe('ASE (K-FAC option) and the PGD path', () => {
  it('K-FAC is ½·G_jj·A_kk·w² with per-example output gradients and input second moments', async () => {
    const gen = new E.Generator(31);
    const model = new E.Sequential(new E.Flatten(), new E.Linear(IN, HID, { generator: gen }), new E.ReLU(), new E.Linear(HID, OUT, { generator: gen }));
    const x = gen.uniform([N, 1, 4, 4]);
    const y = gen.randint([N], 0, OUT);
    const kfac = await aseKfacScores(model, [{ x, y }]);
    const sd = model.stateDict();
    const read = async (k: string) => Float64Array.from(await sd.get(k)!.data());
    const [w1, b1, w2, b2] = [await read('1.weight'), await read('1.bias'), await read('3.weight'), await read('3.bias')];
    const xs = Float64Array.from(await x.data());
    const ys = Int32Array.from(await y.data());
    const a1 = new Float64Array(IN), a2 = new Float64Array(HID), g1 = new Float64Array(HID), g2 = new Float64Array(OUT);
    for (let n = 0; n < N; n++) {
      const h = Array.from({ length: HID }, (_, j) => b1[j] + Array.from({ length: IN }, (_, k) => w1[j * IN + k] * xs[n * IN + k]).reduce((p, q) => p + q, 0));
      const act = h.map((v) => Math.max(0, v));
      const z = Array.from({ length: OUT }, (_, c) => b2[c] + act.reduce((acc, v, j) => acc + w2[c * HID + j] * v, 0));
      const zMax = Math.max(...z);
      const lse = zMax + Math.log(z.reduce((acc, v) => acc + Math.exp(v - zMax), 0));
      const dz = z.map((v, c) => Math.exp(v - lse) - (c === ys[n] ? 1 : 0)); // per example, no 1/N
      for (let k = 0; k < IN; k++) a1[k] += xs[n * IN + k] ** 2 / N;
      for (let j = 0; j < HID; j++) {
        a2[j] += act[j] ** 2 / N;
        const dh = h[j] > 0 ? dz.reduce((acc, d, c) => acc + d * w2[c * HID + j], 0) : 0;
        g1[j] += dh ** 2 / N;
      }
      for (let c = 0; c < OUT; c++) g2[c] += dz[c] ** 2 / N;
    }
    close(kfac.get('1')!, [...w1].map((w, i) => 0.5 * g1[Math.floor(i / IN)] * a1[i % IN] * w * w), 1e-4);
    close(kfac.get('3')!, [...w2].map((w, i) => 0.5 * g2[Math.floor(i / HID)] * a2[i % HID] * w * w), 1e-4);
    E.dispose([x, y]);
    model.dispose();
  });

  it('scores a conv net on PGD examples with either method (finite, non-negative, every weight)', async () => {
    const cnn = tinyCnn(41);
    const gen = new E.Generator(42);
    const batches = [{ x: gen.uniform([4, 1, 8, 8]), y: gen.randint([4], 0, 4) }];
    for (const method of ['hvp', 'kfac'] as const) {
      const s = await aseScores(cnn, batches, { method, pgdSteps: 2, generator: new E.Generator(5) });
      for (const l of prunableLayers(cnn)) {
        const v = s.get(l.name)!;
        expect(v.length).toBe(l.weight.size);
        expect(v.every((t) => Number.isFinite(t) && t >= 0)).toBe(true);
        expect(Math.max(...v)).toBeGreaterThan(0);
      }
    }
    E.dispose(batches);
    cnn.dispose();
  });
});

describe('NIS on the residual and VGG models', () => {
  it('reaches every prunable layer of ResNet18 and VGG16Net', async () => {
    const gen = new E.Generator(51);
    const batches = [{ x: gen.uniform([8, 1, 32, 32]), y: gen.randint([8], 0, 4) }];
    for (const model of [new E.ResNet18({ width: 1 / 16, inChannels: 1, numClasses: 4 }), new E.VGG16Net({ width: 1 / 32, inChannels: 1, numClasses: 4 })]) {
      const s = await nisScores(model, batches, { frl: 'uniform' });
      expect([...s.keys()]).toEqual(prunableLayers(model).map((l) => l.name));
      for (const v of s.values()) expect(Math.max(...v)).toBeGreaterThan(0);
      model.dispose();
    }
    E.dispose(batches);
  });
});

describe('ASE K-FAC on a conv layer', () => {
  it('A_kk is the mean squared input-patch entry over (batch, output positions), zero padding included', async () => {
    // conv(1→2, 3×3, stride 2, pad 1) on 5×5 → 3×3, global pool, linear(2→3).
    const gen = new E.Generator(61);
    const conv = new E.Conv2d(1, 2, 3, { stride: 2, padding: 1, generator: gen });
    const lin = new E.Linear(2, 3, { generator: gen });
    const model = new E.Sequential(conv, new E.GlobalAvgPool2d(), lin);
    const [n, H, Ho] = [3, 5, 3];
    const x = gen.uniform([n, 1, H, H]);
    const y = gen.randint([n], 0, 3);
    const kfac = await aseKfacScores(model, [{ x, y }]);
    const xs = Float64Array.from(await x.data());
    const ys = Int32Array.from(await y.data());
    const w = Float64Array.from(await conv.weight.data());
    const wl = Float64Array.from(await lin.weight.data());
    const bl = Float64Array.from(await lin.bias!.data());
    const A = new Float64Array(9);
    const G = new Float64Array(2);
    for (let s = 0; s < n; s++) {
      const o = new Float64Array(2 * Ho * Ho);
      for (let j = 0; j < 2; j++)
        for (let h = 0; h < Ho; h++)
          for (let v = 0; v < Ho; v++)
            for (let u = 0; u < 3; u++)
              for (let t = 0; t < 3; t++) {
                const [r, c] = [h * 2 + u - 1, v * 2 + t - 1];
                const px = r >= 0 && r < H && c >= 0 && c < H ? xs[s * H * H + r * H + c] : 0;
                o[j * Ho * Ho + h * Ho + v] += w[j * 9 + u * 3 + t] * px;
                if (j === 0) A[u * 3 + t] += (px * px) / (n * Ho * Ho);
              }
      const pooled = [0, 1].map((j) => o.slice(j * Ho * Ho, (j + 1) * Ho * Ho).reduce((p, q) => p + q, 0) / (Ho * Ho));
      const z = [0, 1, 2].map((c) => bl[c] + wl[c * 2] * pooled[0] + wl[c * 2 + 1] * pooled[1]);
      const zMax = Math.max(...z);
      const lse = zMax + Math.log(z.reduce((p, v) => p + Math.exp(v - zMax), 0));
      const dz = z.map((v, c) => Math.exp(v - lse) - (c === ys[s] ? 1 : 0));
      // ∂ℓ/∂o[j, h, v] = (W_linᵀ dz)_j / (Ho·Ho) at every position.
      for (let j = 0; j < 2; j++) G[j] += ((dz.reduce((p, d, c) => p + d * wl[c * 2 + j], 0) / (Ho * Ho)) ** 2) / n;
    }
    close(kfac.get('0')!, [...w].map((v, i) => 0.5 * G[Math.floor(i / 9)] * A[i % 9] * v * v), 1e-4);
    E.dispose([x, y]);
    model.dispose();
  });
});

describe('NIS through a residual block', () => {
  it('the block input gets the sum of the conv path and the identity shortcut', async () => {
    const { BasicBlock } = await import('../../src/nn/models/resnet.js');
    const gen = new E.Generator(71);
    // Default BN (γ = 1, var = 1) scales every channel alike, which the rescaling removes.
    const model = new E.Sequential(
      new E.Conv2d(1, 2, 1, { generator: gen }), new E.BatchNorm2d(2), new E.ReLU(),
      new BasicBlock(2, 2, 1, { generator: gen }), new E.GlobalAvgPool2d(), new E.Linear(2, 2, { generator: gen }),
    );
    const s = await nisScores(model, [], { frl: 'uniform' });
    const sd = model.stateDict();
    const w = async (k: string) => Array.from(await sd.get(k)!.data());
    const [w0, wc1, wc2, wl] = [await w('0.weight'), await w('3.conv1.weight'), await w('3.conv2.weight'), await w('5.weight')];
    const rescale = (v: number[]) => v.map((x) => x / Math.max(...v));
    /** s_in[k] = Σ_j (Σ_t |W[j, k, t]|)·s_out[j] for weights [J, K, T] (T = 1 for linear). */
    const back = (W: number[], s: number[], K: number, T: number) =>
      Array.from({ length: K }, (_, k) => s.reduce((acc, sj, j) => acc + sj * Array.from({ length: T }, (_, t) => Math.abs(W[(j * K + k) * T + t])).reduce((p, q) => p + q, 0), 0));
    const sBlockOut = rescale(back(wl, [1, 1], 2, 1)); // FRL = |W_lin|ᵀ·1
    const sMid = rescale(back(wc2, sBlockOut, 2, 9)); // conv2 → bn1 (uniform) → conv1 output
    const sMain = rescale(back(wc1, sMid, 2, 9));
    const sBlockIn = rescale(sMain.map((v, k) => v + sBlockOut[k]));
    close(s.get('3.conv2')!, wc2.map((v, i) => Math.abs(v) * sBlockOut[Math.floor(i / 18)]));
    close(s.get('3.conv1')!, wc1.map((v, i) => Math.abs(v) * sMid[Math.floor(i / 18)]));
    close(s.get('0')!, w0.map((v, i) => Math.abs(v) * sBlockIn[i]));
    model.dispose();
  });
});
