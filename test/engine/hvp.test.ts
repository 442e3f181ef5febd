// Exact Hessian-vector products by double backward (src/engine/hvp.ts) against a float64 reference:
// central differences along v of the float64 reference gradient, itself central differences of the
// float64 reference loss:
//   Hv ≈ (∇L(θ + h·v) − ∇L(θ − h·v)) / 2h,   ∇L by numericGrad (step 1e-5), h = 1e-4.
// In float64 both truncation (h², ~1e-8) and rounding (1e-16/1e-5/1e-4 ≈ 1e-7) errors stay far
// below the float32 tolerances, so the comparison is tight: the relative error of the whole vector
// must be below 1e-2, which a wrong sign or a missing Hessian term breaks by orders of magnitude.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import {
  avgPool2d,
  batchNorm2dTrain,
  conv2d,
  crossEntropy,
  expand,
  gather,
  indexSelect,
  linear,
  matmul,
  maxPool2d,
  permute,
  slice,
  sum,
  unary,
} from '../reference/ops.js';
import {
  distinctArray,
  expectClose,
  mulberry32,
  nd,
  norm,
  numericGrad,
  randomArray,
  readNumbers,
  relativeError,
  seedArb,
  up,
  type NDArray,
} from '../ops/helpers.js';

/** Σ r·y², a loss with a non-trivial Hessian for any op y. */
function refSquareLoss(y: NDArray, r: NDArray): NDArray {
  let s = 0;
  for (let i = 0; i < y.data.length; i++) s += r.data[i] * y.data[i] * y.data[i];
  return nd([], [s]);
}

function gpuSquareLoss(y: Tensor, r: NDArray): Tensor {
  return E.sum(E.mul(E.tensor(Float32Array.from(r.data), y.shape), E.square(y)));
}

const ONE = nd([], [1]);

/** ∇L by central differences of the float64 reference loss. */
function refGrad(loss: (ps: NDArray[]) => NDArray, params: NDArray[], h: number): NDArray[] {
  return params.map((_, i) => numericGrad(loss, params, i, ONE, h));
}

/** Hv by central differences of refGrad along v. */
function refHvp(loss: (ps: NDArray[]) => NDArray, params: NDArray[], v: NDArray[], hOuter = 1e-4, hInner = 1e-5): NDArray[] {
  const shifted = (sign: number) =>
    params.map((p, i) => nd(p.shape, Array.from(p.data, (x, j) => x + sign * hOuter * v[i].data[j])));
  const plus = refGrad(loss, shifted(1), hInner);
  const minus = refGrad(loss, shifted(-1), hInner);
  return plus.map((g, i) => nd(g.shape, Array.from(g.data, (x, j) => (x - minus[i].data[j]) / (2 * hOuter))));
}

interface HvpCase {
  label: string;
  gpuLoss: (ps: Tensor[]) => Tensor;
  refLoss: (ps: NDArray[]) => NDArray;
  params: NDArray[];
  v: NDArray[];
}

async function gpuHvp(c: HvpCase): Promise<number[][]> {
  return E.scopeAsync(async () => {
    const ps = c.params.map((p) => E.variable(up(p)));
    const hv = E.hvp(() => c.gpuLoss(ps), ps, c.v.map(up));
    expect(hv.map((t) => t.shape)).toEqual(c.params.map((p) => p.shape));
    return Promise.all(hv.map(readNumbers));
  });
}

async function checkHvp(c: HvpCase): Promise<void> {
  const want = refHvp(c.refLoss, c.params, c.v).flatMap((a) => Array.from(a.data));
  const got = (await gpuHvp(c)).flat();
  const scale = Math.max(...want.map(Math.abs));
  // A zero Hessian-vector product would make the check vacuous.
  expect(norm(want), `${c.label}: reference Hv is not trivially zero`).toBeGreaterThan(1e-3);
  const rel = relativeError(got, want);
  expect(rel, `${c.label}: relative error of Hv`).toBeLessThan(1e-2);
  expectClose(got, want, { rtol: 1e-2, atol: 2e-3 * scale, label: `${c.label} Hv` });
}

/** Random direction with one entry per parameter element. */
const directions = (params: NDArray[], rng: () => number): NDArray[] => params.map((p) => randomArray(p.shape, rng));

describe('hvp of single ops against the float64 reference', () => {
  it('conv2d: Σ r·conv(x, w)² in (x, w) jointly', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          n: fc.integer({ min: 1, max: 2 }),
          cin: fc.constantFrom(1, 3),
          cout: fc.constantFrom(2, 5),
          h: fc.integer({ min: 3, max: 5 }),
          w: fc.integer({ min: 3, max: 5 }),
          kernel: fc.constantFrom<[number, number]>([1, 1], [3, 3], [2, 3]),
          stride: fc.constantFrom<[number, number]>([1, 1], [2, 2], [2, 1]),
          padding: fc.constantFrom<[number, number]>([0, 0], [1, 1]),
          bias: fc.boolean(),
        }),
        seedArb,
        async (p, seed) => {
          const rng = mulberry32(seed);
          const params = [randomArray([p.n, p.cin, p.h, p.w], rng), randomArray([p.cout, p.cin, ...p.kernel], rng)];
          if (p.bias) params.push(randomArray([p.cout], rng));
          const outShape = conv2d(params[0], params[1], p.stride, p.padding).shape;
          const r = randomArray(outShape, rng);
          await checkHvp({
            label: `conv2d ${JSON.stringify(p)}`,
            gpuLoss: ([x, w, b]) => gpuSquareLoss(E.conv2d(x, w, b ?? null, { stride: p.stride, padding: p.padding }), r),
            refLoss: ([x, w, b]) => refSquareLoss(conv2d(x, w, p.stride, p.padding, b), r),
            params,
            v: directions(params, rng),
          });
        },
      ),
      { numRuns: 8 },
    );
  });

  it('maxPool2d: Σ r·maxPool(x)² (distinct values, with and without padding)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<{ k: [number, number]; s: [number, number]; pad: [number, number] }>(
          { k: [2, 2], s: [2, 2], pad: [0, 0] },
          { k: [3, 3], s: [1, 1], pad: [1, 1] },
          { k: [3, 2], s: [2, 1], pad: [1, 0] },
        ),
        fc.integer({ min: 3, max: 6 }),
        seedArb,
        async (g, size, seed) => {
          const rng = mulberry32(seed);
          const x = distinctArray([2, 2, size, size + 1], rng, 0.05, 0.2);
          const r = randomArray(maxPool2d(x, g.k, g.s, g.pad).shape, rng);
          await checkHvp({
            label: `maxPool2d ${JSON.stringify(g)}`,
            gpuLoss: ([t]) => gpuSquareLoss(E.maxPool2d(t, g.k, { stride: g.s, padding: g.pad }), r),
            refLoss: ([t]) => refSquareLoss(maxPool2d(t, g.k, g.s, g.pad), r),
            params: [x],
            v: directions([x], rng),
          });
        },
      ),
      { numRuns: 6 },
    );
  });

  it('batchNorm2d (training): Σ r·bn(x; w, b)² in (x, w, b) jointly', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 2, max: 3 }),
        seedArb,
        async (n, c, hw, seed) => {
          const rng = mulberry32(seed);
          const params = [randomArray([n, c, hw, hw], rng, -2, 2), randomArray([c], rng, 0.5, 1.5), randomArray([c], rng)];
          const r = randomArray(params[0].shape, rng);
          await checkHvp({
            label: `batchNorm2d [${n}, ${c}, ${hw}, ${hw}]`,
            gpuLoss: ([x, w, b]) => gpuSquareLoss(E.batchNorm2d(x, null, null, w, b, { training: true }), r),
            refLoss: ([x, w, b]) => refSquareLoss(batchNorm2dTrain(x, w, b), r),
            params,
            v: directions(params, rng),
          });
        },
      ),
      { numRuns: 6 },
    );
  });

  it('batchNorm2d (training): the plain Σ r·bn(x) has a Hessian in x through the batch statistics', async () => {
    const rng = mulberry32(5);
    const x = randomArray([2, 2, 3, 3], rng, -2, 2);
    const r = randomArray(x.shape, rng);
    const refLoss = ([t]: NDArray[]) => sum(nd(t.shape, batchNorm2dTrain(t, nd([2], [1, 1]), nd([2])).data.map((v, i) => v * r.data[i])));
    await checkHvp({
      label: 'batchNorm2d linear loss',
      gpuLoss: ([t]) => E.sum(E.mul(E.batchNorm2d(t, null, null, null, null, { training: true }), up(r))),
      refLoss,
      params: [x],
      v: directions([x], rng),
    });
  });

  it('crossEntropy in the logits (mean and sum, with and without label smoothing)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 2, max: 6 }),
        fc.constantFrom<'mean' | 'sum'>('mean', 'sum'),
        fc.constantFrom(0, 0.2),
        seedArb,
        async (n, c, reduction, labelSmoothing, seed) => {
          const rng = mulberry32(seed);
          const labels = Array.from({ length: n }, () => Math.floor(rng() * c));
          const logits = randomArray([n, c], rng, -2, 2);
          await checkHvp({
            label: `crossEntropy [${n}, ${c}] ${reduction} ε=${labelSmoothing}`,
            gpuLoss: ([z]) => E.crossEntropy(z, E.tensor(labels, [n], 'i32'), { reduction, labelSmoothing }),
            refLoss: ([z]) => crossEntropy(z, labels, reduction, labelSmoothing),
            params: [logits],
            v: directions([logits], rng),
          });
        },
      ),
      { numRuns: 8 },
    );
  });

  it('matmul: Σ r·(a·b)² in (a, b) jointly, 2-D and batched with a shared operand', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<[number[], number[]]>([[3, 4], [4, 5]], [[2, 3, 4], [4, 2]], [[1, 5], [5, 1]], [[3, 2, 2], [3, 2, 3]]),
        seedArb,
        async ([sa, sb], seed) => {
          const rng = mulberry32(seed);
          const params = [randomArray(sa, rng), randomArray(sb, rng)];
          const r = randomArray(matmul(params[0], params[1]).shape, rng);
          await checkHvp({
            label: `matmul ${JSON.stringify(sa)}·${JSON.stringify(sb)}`,
            gpuLoss: ([a, b]) => gpuSquareLoss(E.matmul(a, b), r),
            refLoss: ([a, b]) => refSquareLoss(matmul(a, b), r),
            params,
            v: directions(params, rng),
          });
        },
      ),
      { numRuns: 8 },
    );
  });

  // Linear ops whose backward is another op (adjoint pairs): double backward must differentiate
  // the adjoint, or Σ r·f(x)² would get a zero Hessian.
  it('elementwise ops differentiated twice by GAL (sqrt, exp, log, div, maximum) differentiate again', async () => {
    const rng = mulberry32(77);
    const n = 6;
    const positive = () => nd([n], Array.from({ length: n }, () => 0.5 + rng()));
    const x = positive();
    // y differs from x by at least 0.2 everywhere, so maximum has no tie within the differences.
    const y = nd([n], Array.from(x.data, (v, i) => v + (i % 2 ? 0.3 : -0.3) * (1 + rng())));
    const r = randomArray([n], rng);
    const R = () => E.tensor(Float32Array.from(r.data), [n]);
    const refSum = (f: (i: number) => number) => nd([], [Array.from(r.data).reduce((acc, ri, i) => acc + ri * f(i), 0)]);
    const cases: HvpCase[] = [
      { label: 'sqrt', gpuLoss: ([a]) => E.sum(E.mul(R(), E.sqrt(a))), refLoss: ([a]) => refSum((i) => Math.sqrt(a.data[i])), params: [x], v: directions([x], rng) },
      { label: 'exp', gpuLoss: ([a]) => E.sum(E.mul(R(), E.exp(a))), refLoss: ([a]) => refSum((i) => Math.exp(a.data[i])), params: [x], v: directions([x], rng) },
      { label: 'log', gpuLoss: ([a]) => E.sum(E.mul(R(), E.log(a))), refLoss: ([a]) => refSum((i) => Math.log(a.data[i])), params: [x], v: directions([x], rng) },
      {
        label: 'div',
        gpuLoss: ([a, b]) => E.sum(E.mul(R(), E.div(a, b))),
        refLoss: ([a, b]) => refSum((i) => a.data[i] / b.data[i]),
        params: [x, positive()],
        v: directions([x, x], rng),
      },
      {
        label: 'maximum (squared)',
        gpuLoss: ([a, b]) => E.sum(E.mul(R(), E.square(E.maximum(a, b)))),
        refLoss: ([a, b]) => refSum((i) => Math.max(a.data[i], b.data[i]) ** 2),
        params: [x, y],
        v: directions([x, y], rng),
      },
    ];
    for (const c of cases) await checkHvp(c);
  });

  it('adjoint pairs (avgPool2d, indexSelect, gather, slice, permute, expand, sum) differentiate again', async () => {
    const rng = mulberry32(9);
    const x = randomArray([2, 3, 4, 5], rng);
    const idx = [2, 0, 2, 1];
    const gidx = nd([2, 3, 4, 2], Array.from({ length: 48 }, () => Math.floor(rng() * 5)));
    const cases: Array<{ name: string; gpu: (t: Tensor) => Tensor; ref: (a: NDArray) => NDArray }> = [
      {
        name: 'avgPool2d',
        gpu: (t) => E.avgPool2d(t, 3, { stride: 1, padding: 1 }),
        ref: (a) => avgPool2d(a, [3, 3], [1, 1], [1, 1]),
      },
      { name: 'indexSelect', gpu: (t) => E.indexSelect(t, 2, E.tensor(idx, [4], 'i32')), ref: (a) => indexSelect(a, 2, idx) },
      {
        name: 'gather',
        gpu: (t) => E.gather(t, 3, E.tensor(Array.from(gidx.data), gidx.shape, 'i32')),
        ref: (a) => gather(a, 3, gidx),
      },
      { name: 'slice', gpu: (t) => E.slice(t, 3, 1, 4), ref: (a) => slice(a, 3, 1, 4) },
      { name: 'permute', gpu: (t) => E.permute(t, [3, 1, 0, 2]), ref: (a) => permute(a, [3, 1, 0, 2]) },
      {
        name: 'expand(sum)',
        gpu: (t) => E.expand(E.sum(t, 1, { keepDims: true }), [2, 2, 4, 5]),
        ref: (a) => expand(sum(a, [1], true), [2, 2, 4, 5]),
      },
    ];
    for (const c of cases) {
      const r = randomArray(c.ref(x).shape, rng);
      await checkHvp({
        label: c.name,
        gpuLoss: ([t]) => gpuSquareLoss(c.gpu(t), r),
        refLoss: ([t]) => refSquareLoss(c.ref(t), r),
        params: [x],
        v: directions([x], rng),
      });
    }
  });
});

// ---------------------------------------------------------------------------------------------

interface Net {
  x: NDArray;
  labels: number[];
  params: NDArray[]; // conv w, conv b, bn w, bn b, linear w, linear b
}

const N = 2;
const CIN = 2;
const C = 3;
const HW = 4;
const CLASSES = 4;
const FEATURES = C * (HW / 2) * (HW / 2);

function makeNet(seed: number): Net {
  const rng = mulberry32(seed);
  return {
    x: randomArray([N, CIN, HW, HW], rng),
    labels: Array.from({ length: N }, () => Math.floor(rng() * CLASSES)),
    params: [
      randomArray([C, CIN, 3, 3], rng, -0.5, 0.5),
      randomArray([C], rng, -0.2, 0.2),
      randomArray([C], rng, 0.5, 1.5),
      randomArray([C], rng, -0.3, 0.3),
      randomArray([CLASSES, FEATURES], rng, -0.6, 0.6),
      randomArray([CLASSES], rng, -0.2, 0.2),
    ],
  };
}

/** conv(3×3, pad 1) → batchNorm (train) → ReLU → maxPool 2 → flatten → linear → cross-entropy. */
function refNetParts(x: NDArray, ps: NDArray[], labels: number[]): { pre: NDArray; act: NDArray; loss: NDArray } {
  const [cw, cb, bw, bb, lw, lb] = ps;
  const pre = batchNorm2dTrain(conv2d(x, cw, [1, 1], [1, 1], cb), bw, bb);
  const act = unary('relu', pre);
  const pooled = maxPool2d(act, [2, 2], [2, 2]);
  const logits = linear(nd([N, FEATURES], pooled.data), lw, lb);
  return { pre, act, loss: crossEntropy(logits, labels) };
}

function gpuNet(x: Tensor, ps: Tensor[], labels: number[]): Tensor {
  const [cw, cb, bw, bb, lw, lb] = ps;
  const pre = E.batchNorm2d(E.conv2d(x, cw, cb, { padding: 1 }), null, null, bw, bb, { training: true });
  const pooled = E.maxPool2d(E.relu(pre), 2);
  return E.crossEntropy(E.linear(E.flatten(pooled, 1), lw, lb), E.tensor(labels, [N], 'i32'));
}

/**
 * Distance of the network from its kinks: the smallest |pre-activation|, and the smallest gap
 * between the winner and the runner-up of any pooling window whose winner is positive.
 */
function kinkMargin(x: NDArray, ps: NDArray[], labels: number[]): number {
  const { pre, act } = refNetParts(x, ps, labels);
  let margin = Math.min(...Array.from(pre.data, Math.abs));
  for (let plane = 0; plane < N * C; plane++) {
    for (let oy = 0; oy < HW / 2; oy++) {
      for (let ox = 0; ox < HW / 2; ox++) {
        const w: number[] = [];
        for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) w.push(act.data[plane * HW * HW + (2 * oy + dy) * HW + 2 * ox + dx]);
        w.sort((a, b) => b - a);
        if (w[0] > 0) margin = Math.min(margin, w[0] - w[1]);
      }
    }
  }
  return margin;
}

describe('hvp of a tiny conv → BN → ReLU → pool → linear → CE network', () => {
  // Seeds whose network sits at least 0.005 from every ReLU/max-pool kink (checked below), so the
  // finite differences (steps ≤ 1e-4 along v) never cross one.
  const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
    .filter((s) => {
      const net = makeNet(s);
      return kinkMargin(net.x, net.params, net.labels) > 0.005;
    })
    .slice(0, 4);

  it('has enough kink-free seeds', () => {
    expect(SEEDS.length).toBe(4);
  });

  it('the gradient matches finite differences of the reference (parameters and input)', async () => {
    for (const seed of SEEDS) {
      const net = makeNet(seed);
      const all = [net.x, ...net.params];
      const refLoss = (ps: NDArray[]) => refNetParts(ps[0], ps.slice(1), net.labels).loss;
      const want = refGrad(refLoss, all, 1e-5);
      await E.scopeAsync(async () => {
        const vs = all.map((p) => E.variable(up(p)));
        const loss = gpuNet(vs[0], vs.slice(1), net.labels);
        expectClose([await loss.item()], refLoss(all).data, { rtol: 1e-5, label: `seed ${seed} loss` });
        const gs = E.grad(loss, vs);
        for (let i = 0; i < all.length; i++) {
          expectClose(await readNumbers(gs[i]), want[i].data, { rtol: 1e-3, atol: 1e-4, label: `seed ${seed} grad ${i}` });
        }
      });
    }
  });

  it('hvp in all parameters and the input matches the float64 reference', async () => {
    for (const seed of SEEDS) {
      const net = makeNet(seed);
      const all = [net.x, ...net.params];
      const rng = mulberry32(1000 + seed);
      await checkHvp({
        label: `network seed ${seed}`,
        gpuLoss: (ps) => gpuNet(ps[0], ps.slice(1), net.labels),
        refLoss: (ps) => refNetParts(ps[0], ps.slice(1), net.labels).loss,
        params: all,
        v: directions(all, rng),
      });
    }
  });

  it('hvp in the parameters only (input fixed) matches too, and the Hessian is symmetric: u·Hv = v·Hu', async () => {
    const net = makeNet(SEEDS[0]);
    const rng = mulberry32(77);
    const u = directions(net.params, rng);
    const v = directions(net.params, rng);
    const refLoss = (ps: NDArray[]) => refNetParts(net.x, ps, net.labels).loss;
    await checkHvp({
      label: 'network, parameters only',
      gpuLoss: (ps) => gpuNet(up(net.x), ps, net.labels),
      refLoss,
      params: net.params,
      v,
    });
    const [hv, hu] = await E.scopeAsync(async () => {
      const ps = net.params.map((p) => E.variable(up(p)));
      const x = up(net.x);
      const a = E.hvp(() => gpuNet(x, ps, net.labels), ps, v.map(up));
      const b = E.hvp(() => gpuNet(x, ps, net.labels), ps, u.map(up));
      return [(await Promise.all(a.map(readNumbers))).flat(), (await Promise.all(b.map(readNumbers))).flat()];
    });
    const dot = (p: number[], q: NDArray[]) => {
      const flat = q.flatMap((t) => Array.from(t.data));
      return p.reduce((s, x, i) => s + x * flat[i], 0);
    };
    const uHv = dot(hv, u);
    const vHu = dot(hu, v);
    expect(Math.abs(uHv)).toBeGreaterThan(1e-3);
    expectClose([uHv], [vHu], { rtol: 1e-3, atol: 1e-5, label: 'u·Hv vs v·Hu' });
  });
});

describe('hvp API', () => {
  it('frees its intermediates and returns one tensor per parameter', async () => {
    const w = E.variable(E.tensor([0.5, -1, 2]));
    const start = E.liveTensorCount();
    const [hv] = E.hvp(() => E.sum(E.pow(w, 3)), [w], [E.tensor([1, 1, 1])]);
    // the vector upload stays (it was created outside hvp), plus the result
    expect(E.liveTensorCount()).toBe(start + 2);
    expectClose(await readNumbers(hv), [3, -6, 12], { rtol: 1e-6 }); // 6·w·v
  });

  it('accepts a vector of another shape with the same size; rejects mismatched counts and sizes', async () => {
    const w = E.variable(E.tensor([1, 2, 3, 4], [2, 2]));
    const [hv] = E.hvp(() => E.sum(E.square(w)), [w], [E.tensor([1, 2, 3, 4])]);
    expect(hv.shape).toEqual([2, 2]);
    expect(await readNumbers(hv)).toEqual([2, 4, 6, 8]);
    expect(() => E.hvp(() => E.sum(w), [w], [])).toThrow(/vectors/);
    expect(() => E.hvp(() => E.sum(w), [w], [E.zeros([3])])).toThrow(/elements/);
  });

  it('a parameter the loss is linear in gets a zero second derivative along itself', async () => {
    const a = E.variable(E.tensor([1, 2]));
    const b = E.variable(E.tensor([3, -1]));
    // L = Σ a·b + Σ b² → H = [[0, I], [I, 2I]]; H·(va, vb) = (vb, va + 2vb)
    const [ha, hb] = E.hvp(() => E.add(E.sum(E.mul(a, b)), E.sum(E.square(b))), [a, b], [E.tensor([1, 0]), E.tensor([0, 1])]);
    expect(await readNumbers(ha)).toEqual([0, 1]);
    expect(await readNumbers(hb)).toEqual([1, 2]);
  });
});
