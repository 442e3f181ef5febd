// The sparse inference path: SparseConv2d (CSR compression) and sparseConv2d (the kernel that skips
// zeros) must equal the dense convolution of the masked weights, on random shapes, strides,
// paddings and sparsities, including output channels with no weights left at all. Every kernel
// variant is forced in turn ('direct' gathers, 'spmm' im2col + CSR × patches, whose output planes
// are padded to multiples of 4 and whose batch is unfolded in chunks, 'grouped' the same patches
// times 64-channel groups with row masks, 'grouped-direct' those groups gathering from the input).
// sparseConv2dFused's epilogue (folded batch norm, shortcut, ReLU) runs inside the grouped kernels
// and as separate ops after the CSR ones; both must give the reference's values. Its gradient in
// the input and the shortcut (the transposed weights through the same kernels, then col2im) must
// match central differences of the reference, and a gradient of the weights must be refused unless
// the caller says the compressed copy is current (trainable): then the weights' (and the bias's)
// gradients must match central differences of the masked conv, zero at pruned weights.

import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { forceSparseConvKernel, forceSparseGradWeight, setSparseColsBudget, sparseConvKernel } from '../../kernels/sparseConv.js';
import type { SparseConvKernelName } from '../../kernels/tuning.js';
import { conv2d } from '../reference/ops.js';
import { checkOp, stopIfTimedOut, expectClose, mulberry32, nd, randomArray, seedArb, toF32, up, type NDArray } from './helpers.js';

/** A 0/1 mask keeping each weight with probability 1 − sparsity; channel `emptyChannel` loses all. */
function randomMask(shape: number[], sparsity: number, rng: () => number, emptyChannel: number | null): NDArray {
  const m = nd(shape);
  const perChannel = m.data.length / shape[0];
  for (let i = 0; i < m.data.length; i++) {
    const co = Math.floor(i / perChannel);
    m.data[i] = co === emptyChannel ? 0 : rng() >= sparsity ? 1 : 0;
  }
  return m;
}

/** The input gradient of conv(x, w) for output gradient r, in float64: Σ w[co, ci, ky, kx]·r[b, co, oy, ox] where oy·sh + ky − ph = iy. */
function transposedConv(r: NDArray, w: NDArray, [h, wd]: [number, number], [sh, sw]: [number, number], [ph, pw]: [number, number]): NDArray {
  const [n, cout, oh, ow] = r.shape;
  const [, cin, kh, kw] = w.shape;
  const gx = nd([n, cin, h, wd]);
  for (let b = 0; b < n; b++)
    for (let co = 0; co < cout; co++)
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++) {
          const g = r.data[((b * cout + co) * oh + oy) * ow + ox];
          for (let ci = 0; ci < cin; ci++)
            for (let ky = 0; ky < kh; ky++)
              for (let kx = 0; kx < kw; kx++) {
                const iy = oy * sh + ky - ph;
                const ix = ox * sw + kx - pw;
                if (iy >= 0 && iy < h && ix >= 0 && ix < wd) gx.data[((b * cin + ci) * h + iy) * wd + ix] += w.data[((co * cin + ci) * kh + ky) * kw + kx] * g;
              }
        }
  return gx;
}

const masked = (w: NDArray, m: NDArray): NDArray => nd(w.shape, Array.from(w.data, (v, i) => v * m.data[i]));

describe('SparseConv2d', () => {
  it('compresses to CSR rows per output channel: the weights the mask keeps (zeros included: they train), else the non-zero ones', async () => {
    const w = new Float32Array([1, 0, 2, 3, /* co 1 */ 0, 0, 0, 0, /* co 2 */ 4, 5, 6, 7]);
    const mask = [1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 0, 1];
    const s = E.SparseConv2d.fromDense(w, [3, 1, 2, 2], mask);
    const unmasked = E.SparseConv2d.fromDense(w, [3, 1, 2, 2]);
    try {
      expect(Array.from(s.rowPtr)).toEqual([0, 3, 5, 7]);
      expect(Array.from(s.cols)).toEqual([0, 1, 2, 1, 2, 1, 3]);
      expect(Array.from(s.values)).toEqual([1, 0, 2, 0, 0, 5, 7]);
      expect(s.nnz).toBe(7);
      expect(s.sparsity).toBeCloseTo(5 / 12);
      // Where each non-zero's gradient goes: co·4 + column.
      expect(Array.from(await s.denseIndexGpu().data())).toEqual([0, 1, 2, 5, 6, 9, 11]);
      expect(Array.from(unmasked.rowPtr)).toEqual([0, 3, 3, 7]);
      expect(Array.from(unmasked.values)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    } finally {
      s.dispose();
      unmasked.dispose();
    }
  });

  it('groups 64 output channels per row mask (two words), values in (row, channel) order', async () => {
    // 67 channels, 2 columns: channel c keeps column 0 when c is even, column 1 when c % 3 == 0.
    const keeps = (c: number, r: number) => (r === 0 ? c % 2 === 0 : c % 3 === 0);
    const w = Float32Array.from({ length: 134 }, (_, i) => (keeps(Math.floor(i / 2), i % 2) ? 100 * Math.floor(i / 2) + (i % 2) + 1 : 0));
    const s = E.SparseConv2d.fromDense(w, [67, 2, 1, 1]);
    try {
      const g = s.channelGroups();
      expect(g.count).toBe(2);
      const words = (r: number, c0: number, c1: number) => {
        const m = [0, 0];
        for (let c = c0; c < c1; c++) if (keeps(c, r)) m[(c - c0) >> 5] |= 1 << ((c - c0) & 31);
        return m.map((v) => v >>> 0);
      };
      expect(Array.from(await g.entries.data())).toEqual([
        0, ...words(0, 0, 64), 0, 1, ...words(1, 0, 64), 0,
        0, ...words(0, 64, 67), 0, 1, ...words(1, 64, 67), 0,
      ]);
      const valuesOf = (c0: number, c1: number) =>
        [0, 1].flatMap((r) => Array.from({ length: c1 - c0 }, (_, i) => c0 + i).filter((c) => keeps(c, r)).map((c) => 100 * c + r + 1));
      const group0 = valuesOf(0, 64);
      expect(Array.from(await g.values.data())).toEqual([...group0, ...valuesOf(64, 67)]);
      expect(Array.from(await g.starts.data())).toEqual([0, 0, 2, group0.length, 4, s.nnz]);
    } finally {
      s.dispose();
    }
    // A row that none of a group's channels uses gets no entry.
    const sparse = E.SparseConv2d.fromDense(new Float32Array([1, 0, 2, 0]), [2, 2, 1, 1]);
    try {
      expect(Array.from(await sparse.channelGroups().entries.data())).toEqual([0, 3, 0, 0]);
    } finally {
      sparse.dispose();
    }
    // The gathering kernel's entries: (ci·H·W, masks, ky·2^16 + kx) for rows (0, 0, 2) and (1, 2, 1).
    const taps = new Float32Array(18);
    taps[2] = 1;
    taps[9 + 2 * 3 + 1] = 2;
    const direct = E.SparseConv2d.fromDense(taps, [1, 2, 3, 3]);
    try {
      expect(Array.from(await direct.groupEntriesFor(5, 7).data())).toEqual([0, 1, 0, 2, 35, 1, 0, (2 << 16) | 1]);
    } finally {
      direct.dispose();
    }
  });

  it('rejects a mask of the wrong size', () => {
    expect(() => E.SparseConv2d.fromDense(new Float32Array(8), [2, 1, 2, 2], [1, 0])).toThrow(/mask has 2 entries/);
  });
});

afterEach(() => {
  forceSparseConvKernel(null);
  forceSparseGradWeight(null);
  setSparseColsBudget(64 * 1024 * 1024);
});

const KERNELS: SparseConvKernelName[] = ['direct', 'spmm', 'grouped', 'grouped-direct', 'auto'];

describe('sparseConv2d', () => {
  it('runs a kernel setting the tuning names', () => {
    expect(KERNELS).toContain(sparseConvKernel());
  });

  for (const kernel of KERNELS)
  it(`[${kernel}] equals the dense convolution of the masked weights`, async (ctx) => {
    const arb = fc.record({
      n: fc.integer({ min: 1, max: 3 }),
      cin: fc.integer({ min: 1, max: 6 }),
      cout: fc.integer({ min: 1, max: 9 }),
      hw: fc.integer({ min: 3, max: 9 }),
      kernel: fc.constantFrom(1, 3),
      stride: fc.constantFrom(1, 2),
      sparsity: fc.constantFrom(0, 0.5, 0.95),
      emptyChannel: fc.boolean(),
      bias: fc.boolean(),
      seed: seedArb,
    });
    await fc.assert(
      fc.asyncProperty(arb, async (p) => {
        stopIfTimedOut(ctx);
        forceSparseConvKernel(kernel);
        // Small budgets unfold the batch one or two items at a time.
        setSparseColsBudget(p.seed % 2 ? 64 * 1024 * 1024 : 1024);
        const rng = mulberry32(p.seed);
        const pad = p.kernel === 3 ? 1 : 0;
        const x = randomArray([p.n, p.cin, p.hw, p.hw], rng);
        const w = randomArray([p.cout, p.cin, p.kernel, p.kernel], rng);
        const m = randomMask(w.shape, p.sparsity, rng, p.emptyChannel ? Math.floor(rng() * p.cout) : null);
        const b = p.bias ? randomArray([p.cout], rng) : undefined;
        const want = conv2d(x, masked(w, m), [p.stride, p.stride], [pad, pad], b);
        const sparse = E.SparseConv2d.fromDense(toF32(w), w.shape, m.data);
        try {
          await E.scopeAsync(async () => {
            const y = E.sparseConv2d(up(x), sparse, b ? up(b) : null, { stride: p.stride, padding: pad });
            expect(y.shape).toEqual(want.shape);
            expectClose(await y.data(), want.data, { rtol: 1e-5, atol: 1e-5, label: `sparse conv ${JSON.stringify(p)}` });
          });
        } finally {
          sparse.dispose();
        }
      }),
      { numRuns: 25 },
    );
  });

  for (const kernel of KERNELS)
  it(`[${kernel}] covers several workgroups of positions, the last one partly filled`, async () => {
    // 3·15·15 = 675 output positions: for 'direct' one full workgroup of 64 × 8 positions and a
    // ragged one; for 'spmm' 3 items of 57 vec4s (225 positions padded to 228), 128 vec4s per workgroup;
    // for 'grouped-direct' one workgroup of 64 lanes × 4 vec4s (169 vec4s: lanes 41–63 clamp their last).
    forceSparseConvKernel(kernel);
    const rng = mulberry32(11);
    const x = randomArray([3, 4, 15, 15], rng);
    const w = randomArray([5, 4, 3, 3], rng);
    const m = randomMask(w.shape, 0.7, rng, null);
    const want = conv2d(x, masked(w, m), [1, 1], [1, 1]);
    const sparse = E.SparseConv2d.fromDense(toF32(w), w.shape, m.data);
    try {
      await E.scopeAsync(async () => {
        const y = E.sparseConv2d(up(x), sparse, null, { padding: 1 });
        expectClose(await y.data(), want.data, { rtol: 1e-5, atol: 1e-5, label: 'sparse conv, 675 positions' });
      });
    } finally {
      sparse.dispose();
    }
  });

  for (const kernel of KERNELS)
  it(`[${kernel}] handles more output channels than one group, the last group partly filled`, async () => {
    forceSparseConvKernel(kernel);
    const rng = mulberry32(23);
    // 2·23·23 = 1058 positions: 265 vec4s, more than one workgroup's 64 × 4 in 'grouped'; 140
    // channels: two full groups of 64 and 12, channel 40 without weights.
    const x = randomArray([2, 5, 23, 23], rng);
    const w = randomArray([140, 5, 3, 3], rng);
    const m = randomMask(w.shape, 0.8, rng, 40);
    const b = randomArray([140], rng);
    const want = conv2d(x, masked(w, m), [1, 1], [1, 1], b);
    const sparse = E.SparseConv2d.fromDense(toF32(w), w.shape, m.data);
    try {
      await E.scopeAsync(async () => {
        const y = E.sparseConv2d(up(x), sparse, up(b), { padding: 1 });
        expectClose(await y.data(), want.data, { rtol: 1e-5, atol: 1e-5, label: 'sparse conv, 140 channels' });
      });
    } finally {
      sparse.dispose();
    }
  });

  for (const kernel of KERNELS)
  it(`[${kernel}] gives the bias alone (or zeros) when every weight is pruned`, async () => {
    forceSparseConvKernel(kernel);
    const rng = mulberry32(7);
    const w = randomArray([4, 3, 3, 3], rng);
    const sparse = E.SparseConv2d.fromDense(toF32(w), w.shape, new Array<number>(w.data.length).fill(0));
    try {
      expect(sparse.nnz).toBe(0);
      await E.scopeAsync(async () => {
        const bias = [0.5, -1, 2, 0];
        const y = E.sparseConv2d(up(randomArray([2, 3, 5, 5], rng)), sparse, E.tensor(bias, [4]), { padding: 1 });
        const d = await y.data();
        for (let i = 0; i < d.length; i++) expect(d[i]).toBe(bias[Math.floor(i / 25) % 4]);
      });
    } finally {
      sparse.dispose();
    }
  });

  for (const kernel of KERNELS)
  it(`[${kernel}] applies scale, shift, residual and ReLU to the outputs as the separate ops would`, async (ctx) => {
    const arb = fc.record({
      n: fc.integer({ min: 1, max: 2 }),
      cin: fc.integer({ min: 1, max: 5 }),
      cout: fc.integer({ min: 1, max: 70 }),
      hw: fc.integer({ min: 3, max: 18 }),
      stride: fc.constantFrom(1, 2),
      scale: fc.boolean(),
      shift: fc.boolean(),
      residual: fc.boolean(),
      relu: fc.boolean(),
      seed: seedArb,
    });
    await fc.assert(
      fc.asyncProperty(arb, async (p) => {
        stopIfTimedOut(ctx);
        forceSparseConvKernel(kernel);
        const rng = mulberry32(p.seed);
        const x = randomArray([p.n, p.cin, p.hw, p.hw], rng);
        const w = randomArray([p.cout, p.cin, 3, 3], rng);
        const m = randomMask(w.shape, 0.8, rng, null);
        const conv = conv2d(x, masked(w, m), [p.stride, p.stride], [1, 1]);
        const scale = p.scale ? randomArray([p.cout], rng) : null;
        const shift = p.shift ? randomArray([p.cout], rng) : null;
        const residual = p.residual ? randomArray(conv.shape, rng) : null;
        const plane = conv.shape[2] * conv.shape[3];
        const want = Array.from(conv.data, (v, i) => {
          const c = Math.floor(i / plane) % p.cout;
          let y = v * (scale ? scale.data[c] : 1) + (shift ? shift.data[c] : 0) + (residual ? residual.data[i] : 0);
          if (p.relu) y = Math.max(y, 0);
          return y;
        });
        const sparse = E.SparseConv2d.fromDense(toF32(w), w.shape, m.data);
        try {
          await E.scopeAsync(async () => {
            const y = E.sparseConv2dFused(
              up(x),
              sparse,
              { scale: scale && up(scale), shift: shift && up(shift), residual: residual && up(residual), relu: p.relu },
              { stride: p.stride, padding: 1 },
            );
            expect(y.shape).toEqual(conv.shape);
            expectClose(await y.data(), want, { rtol: 1e-5, atol: 1e-5, label: `fused sparse conv ${JSON.stringify(p)}` });
          });
        } finally {
          sparse.dispose();
        }
      }),
      { numRuns: 15 },
    );
  });

  it('names the epilogue tensor whose shape is wrong', () => {
    const sparse = E.SparseConv2d.fromDense(new Float32Array(2 * 9), [2, 1, 3, 3]);
    try {
      E.scope(() => {
        const x = E.zeros([1, 1, 4, 4]);
        expect(() => E.sparseConv2dFused(x, sparse, { scale: E.zeros([3]) }, { padding: 1 })).toThrow(/scale \[3\] does not match 2 output channels/);
        expect(() => E.sparseConv2dFused(x, sparse, { residual: E.zeros([1, 2, 2, 2]) }, { padding: 1 })).toThrow(/residual \[1, 2, 2, 2\] does not match the output \[1, 2, 4, 4\]/);
      });
    } finally {
      sparse.dispose();
    }
  });

  for (const kernel of KERNELS)
  it(`[${kernel}] is differentiable in the input and the shortcut (central differences of the reference)`, async (ctx) => {
    const arb = fc.record({
      n: fc.integer({ min: 1, max: 2 }),
      cin: fc.integer({ min: 1, max: 4 }),
      cout: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 60, max: 70 })),
      hw: fc.integer({ min: 3, max: 7 }),
      kernel: fc.constantFrom(1, 3),
      stride: fc.constantFrom(1, 2),
      sparsity: fc.constantFrom(0.5, 0.9),
      scale: fc.boolean(),
      shift: fc.boolean(),
      residual: fc.boolean(),
      relu: fc.boolean(),
      seed: seedArb,
    });
    await fc.assert(
      fc.asyncProperty(arb, async (p) => {
        stopIfTimedOut(ctx);
        forceSparseConvKernel(kernel);
        // A small budget folds the patch gradients back one batch item at a time.
        setSparseColsBudget(p.seed % 2 ? 64 * 1024 * 1024 : 256);
        const rng = mulberry32(p.seed);
        const pad = p.kernel === 3 ? 1 : 0;
        const x = randomArray([p.n, p.cin, p.hw, p.hw], rng);
        const w = randomArray([p.cout, p.cin, p.kernel, p.kernel], rng);
        const m = randomMask(w.shape, p.sparsity, rng, null);
        const wm = masked(w, m);
        const scale = p.scale ? randomArray([p.cout], rng) : null;
        const shift = p.shift ? randomArray([p.cout], rng) : null;
        const conv = (xs: NDArray[]) => conv2d(xs[0], wm, [p.stride, p.stride], [pad, pad]);
        const residual = p.residual ? randomArray(conv([x]).shape, rng) : null;
        const preActivation = (xs: NDArray[]): NDArray => {
          const c = conv(xs);
          const plane = c.shape[2] * c.shape[3];
          return nd(c.shape, Array.from(c.data, (v, i) => {
            const ch = Math.floor(i / plane) % p.cout;
            return v * (scale ? scale.data[ch] : 1) + (shift ? shift.data[ch] : 0) + (p.residual ? xs[1].data[i] : 0);
          }));
        };
        const ref = (xs: NDArray[]): NDArray => {
          const pre = preActivation(xs);
          return p.relu ? nd(pre.shape, Array.from(pre.data, (v) => Math.max(v, 0))) : pre;
        };
        const inputs = residual ? [x, residual] : [x];
        // Central differences are meaningless at ReLU's kink: keep every output away from it.
        if (p.relu) fc.pre(preActivation(inputs).data.every((v) => Math.abs(v) > 1e-4));
        const sparse = E.SparseConv2d.fromDense(toF32(w), w.shape, m.data);
        try {
          await checkOp({
            gpu: (xs) =>
              E.sparseConv2dFused(
                xs[0],
                sparse,
                { scale: scale && up(scale), shift: shift && up(shift), residual: xs[1] ?? null, relu: p.relu },
                { stride: p.stride, padding: pad },
              ),
            ref,
            inputs,
            wrt: residual ? [0, 1] : [0],
            seed: p.seed,
            h: 1e-6,
            label: `sparse conv gradient ${JSON.stringify(p)}`,
          });
        } finally {
          sparse.dispose();
        }
      }),
      { numRuns: 12 },
    );
  });

  for (const kernel of ['grouped-direct', 'spmm'] as const)
  it(`[${kernel}] input gradient with several input-channel groups and workgroups of positions, strided`, async () => {
    forceSparseConvKernel(kernel);
    setSparseColsBudget(64 * 1024);
    const rng = mulberry32(41);
    // 70 input channels: a group of 64 and one of 6; 2·21·21 = 882 input positions, in 4 stride
    // phases of 242, 220, 220 and 200; 5×5 taps, so the phases hold 9, 6, 6 and 4 taps.
    const [n, cin, cout, hw, k, stride, pad] = [2, 70, 12, 21, 5, 2, 2];
    const w = randomArray([cout, cin, k, k], rng);
    const m = randomMask(w.shape, 0.8, rng, 3);
    const wm = masked(w, m);
    const oh = Math.floor((hw + 2 * pad - k) / stride) + 1;
    const r = randomArray([n, cout, oh, oh], rng);
    const want = transposedConv(r, wm, [hw, hw], [stride, stride], [pad, pad]);
    const sparse = E.SparseConv2d.fromDense(toF32(w), w.shape, m.data);
    try {
      await E.scopeAsync(async () => {
        const x = E.variable(up(randomArray([n, cin, hw, hw], rng)));
        const y = E.sparseConv2d(x, sparse, null, { stride, padding: pad });
        const [gx] = E.grad(y, [x], { gradOutput: up(r) });
        expectClose(await gx.data(), want.data, { rtol: 1e-4, atol: 1e-4, label: `${kernel} input gradient, 70 channels` });
      });
    } finally {
      sparse.dispose();
    }
  });

  for (const kernel of ['grouped-direct', 'direct'] as const)
  it(`[${kernel}] input gradient on any stride, kernel and padding (a float64 transposed conv)`, async (ctx) => {
    const arb = fc.record({
      n: fc.integer({ min: 1, max: 2 }),
      cin: fc.integer({ min: 1, max: 5 }),
      cout: fc.integer({ min: 1, max: 6 }),
      h: fc.integer({ min: 1, max: 9 }),
      w: fc.integer({ min: 1, max: 9 }),
      kh: fc.integer({ min: 1, max: 5 }),
      kw: fc.integer({ min: 1, max: 5 }),
      sh: fc.integer({ min: 1, max: 3 }),
      sw: fc.integer({ min: 1, max: 3 }),
      ph: fc.integer({ min: 0, max: 3 }),
      pw: fc.integer({ min: 0, max: 3 }),
      seed: seedArb,
    });
    await fc.assert(
      fc.asyncProperty(arb, async (p) => {
        stopIfTimedOut(ctx);
        const oh = Math.floor((p.h + 2 * p.ph - p.kh) / p.sh) + 1;
        const ow = Math.floor((p.w + 2 * p.pw - p.kw) / p.sw) + 1;
        fc.pre(oh >= 1 && ow >= 1);
        forceSparseConvKernel(kernel);
        const rng = mulberry32(p.seed);
        const w = randomArray([p.cout, p.cin, p.kh, p.kw], rng);
        const m = randomMask(w.shape, 0.5, rng, null);
        const r = randomArray([p.n, p.cout, oh, ow], rng);
        const want = transposedConv(r, masked(w, m), [p.h, p.w], [p.sh, p.sw], [p.ph, p.pw]);
        const sparse = E.SparseConv2d.fromDense(toF32(w), w.shape, m.data);
        try {
          await E.scopeAsync(async () => {
            const x = E.variable(up(randomArray([p.n, p.cin, p.h, p.w], rng)));
            const y = E.sparseConv2d(x, sparse, null, { stride: [p.sh, p.sw], padding: [p.ph, p.pw] });
            const [gx] = E.grad(y, [x], { gradOutput: up(r) });
            expectClose(await gx.data(), want.data, { rtol: 1e-4, atol: 1e-5, label: `input gradient ${JSON.stringify(p)}` });
          });
        } finally {
          sparse.dispose();
        }
      }),
      { numRuns: 30 },
    );
  });

  it('transposes its CSR rows for the input gradient (rows = patch rows, columns = output channels)', () => {
    // Filters [3, 1, 2, 2]: co 0 keeps columns 0, 2; co 1 none; co 2 columns 1, 2, 3.
    const s = E.SparseConv2d.fromDense(new Float32Array([1, 0, 2, 0, 0, 0, 0, 0, 0, 3, 4, 5]), [3, 1, 2, 2]);
    try {
      const t = s.transposed();
      expect(t.shape).toEqual([4, 3, 1, 1]);
      expect(Array.from(t.rowPtr)).toEqual([0, 1, 2, 4, 5]);
      expect(Array.from(t.cols)).toEqual([0, 2, 0, 2, 2]);
      expect(Array.from(t.values)).toEqual([1, 3, 2, 4, 5]);
      expect(s.transposed()).toBe(t);
    } finally {
      s.dispose();
    }
  });

  it('has a differentiable input gradient: its derivative in the output gradient is the sparse conv', async () => {
    const rng = mulberry32(31);
    const w = randomArray([6, 3, 3, 3], rng);
    const m = randomMask(w.shape, 0.7, rng, null);
    const sparse = E.SparseConv2d.fromDense(toF32(w), w.shape, m.data);
    try {
      await E.scopeAsync(async () => {
        const x = E.variable(up(randomArray([2, 3, 6, 6], rng)));
        const gy = E.variable(up(randomArray([2, 6, 3, 3], rng)));
        const u = randomArray([2, 3, 6, 6], rng);
        const [gx] = E.grad(E.sum(E.mul(E.sparseConv2d(x, sparse, null, { stride: 2, padding: 1 }), gy)), [x], { createGraph: true });
        const [ggy] = E.grad(E.sum(E.mul(gx, up(u))), [gy]);
        expectClose(await ggy.data(), conv2d(u, masked(w, m), [2, 2], [1, 1]).data, { rtol: 1e-5, atol: 1e-5, label: 'd(convᵀ)/d(gy)' });
      });
    } finally {
      sparse.dispose();
    }
  });

  for (const path of ['sampled', 'dense'] as const)
  it(`[${path}] trains through the kept weights (trainable): weight and bias gradients match central differences of the masked conv`, async (ctx) => {
    const arb = fc.record({
      n: fc.integer({ min: 1, max: 3 }),
      cin: fc.integer({ min: 1, max: 4 }),
      cout: fc.integer({ min: 1, max: 5 }),
      h: fc.integer({ min: 1, max: 8 }),
      w: fc.integer({ min: 1, max: 8 }),
      k: fc.integer({ min: 1, max: 4 }),
      sh: fc.integer({ min: 1, max: 3 }),
      sw: fc.integer({ min: 1, max: 3 }),
      ph: fc.integer({ min: 0, max: 2 }),
      pw: fc.integer({ min: 0, max: 2 }),
      sparsity: fc.constantFrom(0, 0.5, 0.9),
      bias: fc.boolean(),
      seed: seedArb,
    });
    await fc.assert(
      fc.asyncProperty(arb, async (p) => {
        stopIfTimedOut(ctx);
        const oh = Math.floor((p.h + 2 * p.ph - p.k) / p.sh) + 1;
        const ow = Math.floor((p.w + 2 * p.pw - p.k) / p.sw) + 1;
        fc.pre(oh >= 1 && ow >= 1);
        forceSparseGradWeight(path);
        const rng = mulberry32(p.seed);
        const w = randomArray([p.cout, p.cin, p.k, p.k], rng);
        const m = randomMask(w.shape, p.sparsity, rng, p.cout > 1 ? 0 : null);
        const x = randomArray([p.n, p.cin, p.h, p.w], rng);
        const b = randomArray([p.cout], rng);
        const opts = { stride: [p.sh, p.sw] as [number, number], padding: [p.ph, p.pw] as [number, number] };
        const sparse = E.SparseConv2d.fromDense(toF32(w), w.shape, m.data);
        try {
          await checkOp({
            gpu: (xs) => E.sparseConv2d(xs[0], sparse, p.bias ? xs[2] : null, { ...opts, weight: xs[1], trainable: true }),
            ref: (xs) => conv2d(xs[0], masked(xs[1], m), opts.stride, opts.padding, p.bias ? xs[2] : undefined),
            inputs: p.bias ? [x, w, b] : [x, w],
            wrt: p.bias ? [0, 1, 2] : [0, 1],
            seed: p.seed,
            label: `trainable sparse conv ${JSON.stringify(p)}`,
          });
        } finally {
          sparse.dispose();
        }
      }),
      { numRuns: 25 },
    );
  });

  for (const stride of [1, 2])
  it(`trainable, stride ${stride}: a loss on the input gradient (GAL's) gives the weights the masked dense path's gradient`, async () => {
    const rng = mulberry32(31 + stride);
    const w = randomArray([4, 3, 3, 3], rng);
    const m = randomMask(w.shape, 0.6, rng, 2);
    const x0 = randomArray([2, 3, 7, 7], rng);
    const oh = Math.floor((7 + 2 - 3) / stride) + 1;
    const c = randomArray([2, 4, oh, oh], rng);
    const sparse = E.SparseConv2d.fromDense(toF32(w), w.shape, m.data);
    try {
      await E.scopeAsync(async () => {
        const weight = E.variable(up(w));
        const mask = up(m);
        /** ∂/∂W of ‖∇ₓ Σ c·conv(x, W)²‖²: through convᵀ's weights and through conv's output. */
        const secondOrder = async (conv: (x: E.Tensor) => E.Tensor) => {
          const x = E.variable(up(x0));
          const y = conv(x);
          const [gx] = E.grad(E.sum(E.mul(E.mul(y, y), up(c))), [x], { createGraph: true });
          return E.grad(E.sum(E.mul(gx, gx)), [weight])[0].data();
        };
        const want = await secondOrder((x) => E.maskedConv2d(x, weight, mask, null, { stride, padding: 1 }));
        const got = await secondOrder((x) => E.sparseConv2d(x, sparse, null, { stride, padding: 1, weight, mask, trainable: true }));
        expectClose(got, want, { rtol: 1e-4, atol: 1e-4, label: `second-order weight gradient, stride ${stride}` });
        expect(Array.from(want).some((v) => v !== 0)).toBe(true);
      });
    } finally {
      sparse.dispose();
    }
  });

  it('sampled weight gradient over batch chunks and slices (binding limit) equals mask ⊙ the float64 one', async () => {
    forceSparseGradWeight('sampled');
    setSparseColsBudget(3 * 4 * 10 * 10 * 4);
    const rng = mulberry32(77);
    const [n, cin, cout, hw, k] = [7, 3, 4, 10, 3];
    const w = randomArray([cout, cin, k, k], rng);
    const m = randomMask(w.shape, 0.7, rng, 1);
    const x = randomArray([n, cin, hw, hw], rng);
    const r = randomArray([n, cout, 5, 5], rng);
    // ∂/∂w of Σ r·conv(x, w ⊙ m), stride 2, padding 1, in float64.
    const want = new Float64Array(w.data.length);
    for (let b = 0; b < n; b++)
      for (let co = 0; co < cout; co++)
        for (let oy = 0; oy < 5; oy++)
          for (let ox = 0; ox < 5; ox++)
            for (let ci = 0; ci < cin; ci++)
              for (let ky = 0; ky < k; ky++)
                for (let kx = 0; kx < k; kx++) {
                  const [iy, ix] = [oy * 2 + ky - 1, ox * 2 + kx - 1];
                  const i = ((co * cin + ci) * k + ky) * k + kx;
                  if (iy >= 0 && iy < hw && ix >= 0 && ix < hw && m.data[i])
                    want[i] += r.data[((b * cout + co) * 5 + oy) * 5 + ox] * x.data[((b * cin + ci) * hw + iy) * hw + ix];
                }
    const sparse = E.SparseConv2d.fromDense(toF32(w), w.shape, m.data);
    try {
      await E.scopeAsync(async () => {
        const weight = E.variable(up(w));
        const y = E.sparseConv2d(up(x), sparse, null, { stride: 2, padding: 1, weight, trainable: true });
        const [gw] = E.grad(y, [weight], { gradOutput: up(r) });
        expectClose(await gw.data(), want, { rtol: 1e-4, atol: 1e-5, label: 'chunked weight gradient' });
      });
    } finally {
      sparse.dispose();
    }
  });

  it("trainable: a straight-through mask (HARP's) and the weights get the masked conv's gradients", async () => {
    const rng = mulberry32(17);
    const w = randomArray([5, 3, 3, 3], rng);
    const m = randomMask(w.shape, 0.7, rng, 1);
    const x0 = randomArray([2, 3, 6, 6], rng);
    const r = randomArray([2, 5, 3, 3], rng);
    const sparse = E.SparseConv2d.fromDense(toF32(w), w.shape, m.data);
    try {
      await E.scopeAsync(async () => {
        const weight = E.variable(up(w));
        const mask = E.variable(up(m));
        const x = E.variable(up(x0));
        const grads = (y: E.Tensor) => Promise.all(E.grad(y, [x, weight, mask], { gradOutput: up(r) }).map((g) => g.data()));
        const want = await grads(E.maskedConv2d(x, weight, mask, null, { stride: 2, padding: 1 }));
        const got = await grads(E.sparseConv2d(x, sparse, null, { stride: 2, padding: 1, weight, mask, trainable: true }));
        for (const [k, what] of ['input', 'weight', 'mask'].entries()) expectClose(got[k], want[k], { rtol: 1e-4, atol: 1e-5, label: `${what} gradient` });
        // The mask's gradient is ∂L/∂(w ⊙ M) ⊙ w at every weight, pruned ones included.
        expect(Array.from(want[2]).filter((v, i) => m.data[i] === 0 && v !== 0).length).toBeGreaterThan(0);
      });
    } finally {
      sparse.dispose();
    }
  });

  it('refuses a gradient for the compressed weights or the folded batch norm (constants here)', () => {
    const rng = mulberry32(5);
    const w = randomArray([2, 1, 3, 3], rng);
    const sparse = E.SparseConv2d.fromDense(toF32(w), w.shape);
    try {
      E.scope(() => {
        const x = E.variable(up(randomArray([1, 1, 4, 4], rng)));
        const weight = E.variable(up(w));
        const y = E.sparseConv2d(x, sparse, null, { padding: 1, weight });
        expect(() => E.grad(E.sum(y), [weight])).toThrow(/no gradient for the compressed weights/);
        const scale = E.variable(E.tensor([1, 2], [2]));
        const z = E.sparseConv2dFused(x, sparse, { scale }, { padding: 1 });
        expect(() => E.grad(E.sum(z), [scale])).toThrow(/or the folded batch norm/);
        // A straight-through mask (HARP's scores reach the conv only through it) is refused too.
        const mask = E.variable(E.onesLike(weight));
        expect(() => E.grad(E.sum(E.sparseConv2d(x, sparse, null, { padding: 1, weight, mask })), [mask])).toThrow(/their mask/);
        // Second order: the input gradient depends on the weights, so their derivative of it is refused, not zero.
        const [gx] = E.grad(E.sum(E.mul(E.sparseConv2d(x, sparse, null, { padding: 1, weight }), E.onesLike(y))), [x], { createGraph: true });
        expect(() => E.grad(E.sum(E.mul(gx, gx)), [weight], { allowUnused: true })).toThrow(/no gradient for the compressed weights/);
        const [gxScaled] = E.grad(E.sum(E.sparseConv2dFused(x, sparse, { scale }, { padding: 1 })), [x], { createGraph: true });
        expect(() => E.grad(E.sum(E.mul(gxScaled, gxScaled)), [scale], { allowUnused: true })).toThrow(/folded batch norm/);
        // The input's gradient alone is what an attack asks for.
        expect(E.grad(E.sum(z), [x])[0].shape).toEqual([1, 1, 4, 4]);
        // Trainable: the weights get a gradient, but not a second derivative through it.
        const [gw] = E.grad(E.sum(E.mul(E.sparseConv2d(x, sparse, null, { padding: 1, weight, trainable: true }), E.onesLike(y))), [weight], {
          createGraph: true,
        });
        expect(() => E.grad(E.sum(E.mul(gw, gw)), [x])).toThrow(/no second derivative through the compressed weights/);

      });
    } finally {
      sparse.dispose();
    }
  });
});
