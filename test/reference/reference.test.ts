// Tests of the float64 references themselves: the GPU op tests trust them, so each is checked
// against an independent formulation, a hand-computed value, or a published known answer.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectClose, numericGrad } from './gradcheck.js';
import { mulberry32, nd, randomArray, type NDArray } from './ndarray.js';
import {
  argmax,
  avgPool2d,
  binary,
  concat,
  conv2d,
  convOutSize,
  crossEntropy,
  expand,
  gather,
  indexSelect,
  klDiv,
  linear,
  logSoftmax,
  matmul,
  maxPool2d,
  permute,
  slice,
  softmax,
  sum,
  unary,
  variance,
  where,
} from './ops.js';
import { threefry2x32, uniformFromBits } from './threefry.js';

describe('threefry2x32 (20 rounds)', () => {
  // Random123 examples/kat_vectors, lines "threefry2x32 20 <ctr0> <ctr1> <key0> <key1> <out0> <out1>".
  const vectors: Array<{ key: [number, number]; ctr: [number, number]; out: [number, number] }> = [
    { key: [0, 0], ctr: [0, 0], out: [0x6b200159, 0x99ba4efe] },
    { key: [0xffffffff, 0xffffffff], ctr: [0xffffffff, 0xffffffff], out: [0x1cb996fc, 0xbb002be7] },
    { key: [0x13198a2e, 0x03707344], ctr: [0x243f6a88, 0x85a308d3], out: [0xc4923a9c, 0x483df7a0] },
  ];
  for (const { key, ctr, out } of vectors) {
    it(`matches the known answer for key ${key.map((k) => k.toString(16))}`, () => {
      expect(threefry2x32(key, ctr)).toEqual(out);
    });
  }

  it('maps bits to [0, 1) on a 2^-24 grid', () => {
    expect(uniformFromBits(0)).toBe(0);
    expect(uniformFromBits(0xffffffff)).toBe(1 - 2 ** -24);
    expect(uniformFromBits(0x80000000)).toBe(0.5);
  });
});

/** conv2d recomputed as im2col followed by one matrix product, a different loop structure. */
function conv2dViaIm2col(
  x: NDArray,
  w: NDArray,
  stride: [number, number],
  padding: [number, number],
  bias: NDArray,
): NDArray {
  const [n, cin, h, wd] = x.shape;
  const [cout, , kh, kw] = w.shape;
  const oh = convOutSize(h, kh, stride[0], padding[0]);
  const ow = convOutSize(wd, kw, stride[1], padding[1]);
  const patch = cin * kh * kw;
  const cols = nd([n, oh * ow, patch]);
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        for (let ci = 0; ci < cin; ci++) {
          for (let ky = 0; ky < kh; ky++) {
            for (let kx = 0; kx < kw; kx++) {
              const iy = oy * stride[0] - padding[0] + ky;
              const ix = ox * stride[1] - padding[1] + kx;
              if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
              cols.data[(b * oh * ow + oy * ow + ox) * patch + (ci * kh + ky) * kw + kx] =
                x.data[((b * cin + ci) * h + iy) * wd + ix];
            }
          }
        }
      }
    }
  }
  // [N, OH·OW, patch] · [Cout, patch]ᵀ → [N, OH·OW, Cout] → [N, Cout, OH, OW]
  const flat = linear(cols, nd([cout, patch], w.data), bias);
  return permute(nd([n, oh, ow, cout], flat.data), [0, 3, 1, 2]);
}

describe('conv2d', () => {
  it('agrees with im2col + matmul on random small shapes', () => {
    const params = fc
      .record({
        n: fc.integer({ min: 1, max: 2 }),
        cin: fc.integer({ min: 1, max: 3 }),
        cout: fc.integer({ min: 1, max: 3 }),
        h: fc.integer({ min: 1, max: 6 }),
        w: fc.integer({ min: 1, max: 6 }),
        kh: fc.integer({ min: 1, max: 3 }),
        kw: fc.integer({ min: 1, max: 3 }),
        sh: fc.integer({ min: 1, max: 3 }),
        sw: fc.integer({ min: 1, max: 3 }),
        ph: fc.integer({ min: 0, max: 2 }),
        pw: fc.integer({ min: 0, max: 2 }),
        seed: fc.integer({ min: 0, max: 0x7fffffff }),
      })
      .filter((p) => p.kh <= p.h + 2 * p.ph && p.kw <= p.w + 2 * p.pw);
    fc.assert(
      fc.property(params, (p) => {
        const rng = mulberry32(p.seed);
        const x = randomArray([p.n, p.cin, p.h, p.w], rng);
        const w = randomArray([p.cout, p.cin, p.kh, p.kw], rng);
        const bias = randomArray([p.cout], rng);
        const stride: [number, number] = [p.sh, p.sw];
        const padding: [number, number] = [p.ph, p.pw];
        const got = conv2d(x, w, stride, padding, bias);
        const want = conv2dViaIm2col(x, w, stride, padding, bias);
        expect(got.shape).toEqual(want.shape);
        expectClose(got.data, want.data, { rtol: 1e-12, atol: 1e-12 });
      }),
      { numRuns: 60 },
    );
  });

  it('computes floor((H + 2p − k)/s) + 1 outputs', () => {
    const y = conv2d(nd([1, 1, 7, 6]), nd([2, 1, 3, 2]), [2, 3], [1, 0]);
    expect(y.shape).toEqual([1, 2, 4, 2]);
  });
});

describe('softmax and log-softmax', () => {
  it('softmax rows sum to 1 along any axis', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x7fffffff }), fc.integer({ min: 0, max: 2 }), (seed, axis) => {
        const x = randomArray([2, 3, 4], mulberry32(seed), -20, 20);
        const totals = sum(softmax(x, axis), [axis]);
        expectClose(totals.data, new Array<number>(totals.data.length).fill(1), { rtol: 0, atol: 1e-12 });
      }),
      { numRuns: 30 },
    );
  });

  it('log-softmax stays finite and exact for inputs of 1000', () => {
    const y = logSoftmax(nd([1, 3], [1000, 1000, 1000]));
    expectClose(y.data, [-Math.log(3), -Math.log(3), -Math.log(3)], { rtol: 1e-14, atol: 0 });
    const z = logSoftmax(nd([2], [1000, 0]));
    expectClose(z.data, [0, -1000], { rtol: 1e-14, atol: 1e-14 });
  });
});

describe('losses', () => {
  // logits [[1, 2, 3], [0.5, −1, 2]], labels [2, 1]: loss_i = logsumexp(row_i) − row_i[label_i]
  // = 3 + log(1 + e^-1 + e^-2) − 3 and 2 + log(1 + e^-1.5 + e^-3) + 1.
  const logits = nd([2, 3], [1, 2, 3, 0.5, -1, 2]);
  const labels = [2, 1];

  it('cross-entropy matches a hand-computed 2×3 example', () => {
    expectClose(crossEntropy(logits, labels, 'none').data, [0.4076059644443806, 3.241311296657157], { rtol: 1e-12 });
    const mean = crossEntropy(logits, labels, 'mean');
    expect(mean.shape).toEqual([]);
    expectClose(mean.data, [1.8244586305507688], { rtol: 1e-12 });
    expectClose(crossEntropy(logits, labels, 'sum').data, [3.6489172611015377], { rtol: 1e-12 });
  });

  it('label smoothing uses the target (1 − ε)·onehot + ε/C', () => {
    expectClose(crossEntropy(logits, labels, 'mean', 0.1).data, [1.799458630550769], { rtol: 1e-12 });
  });

  it('kl_div ignores p = 0 terms even where logQ = −∞ and divides batchmean by N', () => {
    const logQ = nd([2, 2], [Math.log(0.5), -Infinity, Math.log(0.25), Math.log(0.75)]);
    const p = nd([2, 2], [1, 0, 0.5, 0.5]);
    const pointwise = [Math.log(2), 0, 0.5 * Math.log(2), 0.5 * Math.log(2 / 3)];
    const total = pointwise.reduce((a, b) => a + b, 0);
    expectClose(klDiv(logQ, p, 'none').data, pointwise, { rtol: 1e-12 });
    expectClose(klDiv(logQ, p, 'sum').data, [total], { rtol: 1e-12 });
    expectClose(klDiv(logQ, p, 'batchmean').data, [total / 2], { rtol: 1e-12 });
    expectClose(klDiv(logQ, p, 'mean').data, [total / 4], { rtol: 1e-12 });
  });
});

describe('numericGrad', () => {
  it('differentiates x² to 2x, weighted by the cotangent', () => {
    const x = nd([4], [-1.5, -0.25, 0.5, 3]);
    const cot = nd([4], [1, 2, -1, 0.5]);
    const g = numericGrad(([a]) => unary('square', a), [x], 0, cot);
    expectClose(g.data, [-3 * 1, -0.5 * 2, 1 * -1, 6 * 0.5], { rtol: 1e-8, atol: 1e-8 });
    expect(Array.from(x.data)).toEqual([-1.5, -0.25, 0.5, 3]); // input untouched
  });

  it('differentiates with respect to the chosen input of a broadcasting op', () => {
    const a = nd([2, 2], [1, 2, 3, 4]);
    const b = nd([2], [5, 7]);
    // d/db sum(a·b) sums a over the broadcast axis.
    const g = numericGrad(([p, q]) => binary('mul', p, q), [a, b], 1, nd([2, 2], [1, 1, 1, 1]));
    expectClose(g.data, [4, 6], { rtol: 1e-8, atol: 1e-8 });
  });
});

describe('broadcasting', () => {
  it('combines [3, 1] and [1, 4] into [3, 4]', () => {
    const y = binary('add', nd([3, 1], [0, 10, 20]), nd([1, 4], [1, 2, 3, 4]));
    expect(y.shape).toEqual([3, 4]);
    expect(Array.from(y.data)).toEqual([1, 2, 3, 4, 11, 12, 13, 14, 21, 22, 23, 24]);
  });

  it('aligns trailing dimensions of different ranks', () => {
    const y = binary('sub', nd([2, 1, 3], [1, 2, 3, 4, 5, 6]), nd([3], [1, 1, 1]));
    expect(y.shape).toEqual([2, 1, 3]);
    expect(binary('gt', nd([2, 3]), nd([4, 1, 1])).shape).toEqual([4, 2, 3]);
    expect(binary('mul', nd([]), nd([2, 2])).shape).toEqual([2, 2]);
  });

  it('rejects incompatible shapes', () => {
    expect(() => binary('add', nd([3]), nd([4]))).toThrow(/broadcast/);
    expect(() => binary('add', nd([2, 3]), nd([3, 2]))).toThrow(/broadcast/);
  });

  it('where broadcasts condition and both branches', () => {
    const y = where(nd([2, 1], [1, 0]), nd([3], [1, 2, 3]), nd([], [-1]));
    expect(y.shape).toEqual([2, 3]);
    expect(Array.from(y.data)).toEqual([1, 2, 3, -1, -1, -1]);
  });

  it('expand repeats size-1 and new leading axes', () => {
    const y = expand(nd([2, 1], [1, 2]), [3, 2, -1]);
    expect(y.shape).toEqual([3, 2, 1]);
    expect(Array.from(expand(nd([1, 2], [1, 2]), [2, 2]).data)).toEqual([1, 2, 1, 2]);
  });
});

describe('pooling', () => {
  // 3×3 input, 2×2 window, stride 2, padding 1 → 2×2 output whose windows are
  // {x00}, {x01, x02}, {x10, x20}, {x11, x12, x21, x22}.
  it('max pool treats padding as −∞, not 0', () => {
    const x = nd([1, 1, 3, 3], [-1, -2, -3, -4, -5, -6, -7, -8, -9]);
    const y = maxPool2d(x, [2, 2], [2, 2], [1, 1]);
    expect(y.shape).toEqual([1, 1, 2, 2]);
    expect(Array.from(y.data)).toEqual([-1, -2, -4, -5]);
  });

  it('avg pool with padding divides by kh·kw', () => {
    const x = nd([1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const y = avgPool2d(x, [2, 2], [2, 2], [1, 1]);
    expect(Array.from(y.data)).toEqual([1 / 4, (2 + 3) / 4, (4 + 7) / 4, (5 + 6 + 8 + 9) / 4]);
  });
});

describe('reductions, shapes and indexing', () => {
  const x = nd([2, 3], [1, 5, 5, 7, -2, 7]);

  it('reduces over negative and multiple axes', () => {
    expect(Array.from(sum(x, [-1]).data)).toEqual([11, 12]);
    expect(sum(x, [0], true).shape).toEqual([1, 3]);
    expect(sum(x).shape).toEqual([]);
    expectClose(variance(x, [1], false).data, [32 / 9, 18], { rtol: 1e-12 });
    expectClose(variance(x, [1], true).data, [16 / 3, 27], { rtol: 1e-12 });
  });

  it('argmax returns the first maximum on ties', () => {
    expect(Array.from(argmax(x, 1).data)).toEqual([1, 0]);
    expect(Array.from(argmax(x, 0).data)).toEqual([1, 0, 1]);
  });

  it('slices, concatenates and selects', () => {
    expect(Array.from(slice(x, 1, 1, 3).data)).toEqual([5, 5, -2, 7]);
    expect(Array.from(slice(x, -1, -1, 10).data)).toEqual([5, 7]);
    const c = concat([x, nd([2, 1], [0, 9])], 1);
    expect(c.shape).toEqual([2, 4]);
    expect(Array.from(c.data)).toEqual([1, 5, 5, 0, 7, -2, 7, 9]);
    expect(Array.from(indexSelect(x, 1, [2, 0, 2]).data)).toEqual([5, 1, 5, 7, 7, 7]);
    expect(Array.from(gather(x, 1, nd([2, 2], [2, 0, 1, 1])).data)).toEqual([5, 1, -2, -2]);
    expect(Array.from(permute(x, [1, 0]).data)).toEqual([1, 7, 5, -2, 5, 7]);
  });

  it('matmul handles a shared right operand and linear adds the bias', () => {
    const a = nd([2, 1, 2], [1, 2, 3, 4]);
    const b = nd([2, 2], [1, 0, 0, 2]);
    expect(Array.from(matmul(a, b).data)).toEqual([1, 4, 3, 8]);
    expect(Array.from(linear(nd([1, 2], [1, 2]), nd([1, 2], [3, 4]), nd([1], [0.5])).data)).toEqual([11.5]);
  });

  it('pow treats negative bases with integer exponents like real math', () => {
    expect(Array.from(unary('pow', nd([3], [-2, -0.5, 4]), 3).data)).toEqual([-8, -0.125, 64]);
    expect(Number.isNaN(unary('pow', nd([1], [-2]), 0.5).data[0])).toBe(true);
  });
});

describe('expectClose', () => {
  it('reports the worst element', () => {
    expect(() => expectClose([1, 2, 3], [1, 2.5, 3.1], { atol: 0.01, rtol: 0, label: 'demo' })).toThrow(
      /demo: 2 of 3 elements differ; worst at index 1/,
    );
  });

  it('rejects length mismatches, stray NaN and wrong infinities', () => {
    expect(() => expectClose([1], [1, 2])).toThrow(/length/);
    expect(() => expectClose([NaN], [1])).toThrow();
    expect(() => expectClose([5], [Infinity])).toThrow();
    expect(() => expectClose([NaN, Infinity], [NaN, Infinity])).not.toThrow();
  });
});
