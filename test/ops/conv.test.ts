// conv2d (src/ops/conv.ts, kernels/conv2d.ts): NCHW cross-correlation against the float64
// reference for strides 1 and 2, 1×1 / 3×3 / non-square kernels, padding 0 and 1, channel counts
// that are not multiples of the kernels' 4-wide tiles; gradients of input, weight and bias.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';
import { conv2d } from '../reference/ops.js';
import {
  checkOp,
  expectClose,
  expectThrowsMentioning,
  mulberry32,
  randomArray,
  readNumbers,
  seedArb,
  toF32,
  up,
  type NDArray,
} from './helpers.js';

const kernels: Array<[number, number]> = [
  [1, 1],
  [3, 3],
  [2, 3],
  [3, 1],
  [1, 2],
];

const convArb = fc
  .record({
    n: fc.integer({ min: 1, max: 2 }),
    cin: fc.constantFrom(1, 2, 3, 5, 6),
    cout: fc.constantFrom(1, 3, 5, 6),
    h: fc.integer({ min: 1, max: 7 }),
    w: fc.integer({ min: 1, max: 7 }),
    kernel: fc.constantFrom(...kernels),
    stride: fc.constantFrom<[number, number]>([1, 1], [2, 2], [1, 2], [2, 1]),
    padding: fc.constantFrom<[number, number]>([0, 0], [1, 1], [0, 1], [1, 0]),
    bias: fc.boolean(),
    seed: seedArb,
  })
  .filter((p) => p.kernel[0] <= p.h + 2 * p.padding[0] && p.kernel[1] <= p.w + 2 * p.padding[1]);

describe('conv2d', () => {
  it('forward and gradients (input, weight, bias) match the reference', async () => {
    await fc.assert(
      fc.asyncProperty(convArb, async (p) => {
        const rng = mulberry32(p.seed);
        const inputs: NDArray[] = [
          randomArray([p.n, p.cin, p.h, p.w], rng),
          randomArray([p.cout, p.cin, ...p.kernel], rng),
        ];
        if (p.bias) inputs.push(randomArray([p.cout], rng));
        await checkOp({
          label: `conv2d x [${p.n}, ${p.cin}, ${p.h}, ${p.w}] w [${p.cout}, ${p.cin}, ${p.kernel}] stride ${p.stride} pad ${p.padding}`,
          gpu: ([x, w, b]) => E.conv2d(x, w, b ?? null, { stride: p.stride, padding: p.padding }),
          ref: ([x, w, b]) => conv2d(x, w, p.stride, p.padding, b),
          inputs,
          wrt: inputs.map((_, i) => i),
          seed: p.seed,
          fwd: { rtol: 1e-5, atol: 1e-5 },
        });
      }),
      { numRuns: 25 },
    );
  });

  it('scalar stride/padding options mean the same on both axes; defaults are stride 1, padding 0', async () => {
    const rng = mulberry32(7);
    const x = randomArray([1, 2, 5, 6], rng);
    const w = randomArray([3, 2, 3, 3], rng);
    const y = E.conv2d(up(x), up(w), null, { stride: 2, padding: 1 });
    expectClose(await y.data(), conv2d(x, w, [2, 2], [1, 1]).data, { rtol: 1e-5, atol: 1e-5 });
    const d = E.conv2d(up(x), up(w));
    expect(d.shape).toEqual([1, 3, 3, 4]);
    expectClose(await d.data(), conv2d(x, w, [1, 1], [0, 0]).data, { rtol: 1e-5, atol: 1e-5 });
  });

  // Channel counts above the 32-wide workgroup tiles: checked with directional derivatives
  // (<∇x, d> = <r, conv(d, w)> since conv is linear in x, and likewise in w), which need one
  // reference evaluation each instead of one per element.
  it('many channels (beyond one 32-channel tile) forward and gradients agree with the reference', async () => {
    const cases = [
      { n: 2, cin: 35, cout: 37, h: 6, w: 5, k: [3, 3] as [number, number], s: [1, 1] as [number, number], pad: [1, 1] as [number, number] },
      { n: 1, cin: 33, cout: 3, h: 7, w: 7, k: [2, 3] as [number, number], s: [2, 1] as [number, number], pad: [0, 1] as [number, number] },
      { n: 3, cin: 4, cout: 34, h: 9, w: 8, k: [1, 1] as [number, number], s: [2, 2] as [number, number], pad: [0, 0] as [number, number] },
    ];
    for (const [ci, c] of cases.entries()) {
      const rng = mulberry32(100 + ci);
      const x = randomArray([c.n, c.cin, c.h, c.w], rng);
      const w = randomArray([c.cout, c.cin, ...c.k], rng);
      const want = conv2d(x, w, c.s, c.pad);
      const r = randomArray(want.shape, rng);
      await E.scopeAsync(async () => {
        const xv = E.variable(up(x));
        const wv = E.variable(up(w));
        const y = E.conv2d(xv, wv, null, { stride: c.s, padding: c.pad });
        expectClose(await y.data(), want.data, { rtol: 1e-4, atol: 1e-4, label: `case ${ci} forward` });
        const [gx, gw] = E.grad(y, [xv, wv], { gradOutput: E.tensor(toF32(r), y.shape) });
        const gxs = await readNumbers(gx);
        const gws = await readNumbers(gw);
        for (let t = 0; t < 3; t++) {
          const dx = randomArray(x.shape, rng);
          const dw = randomArray(w.shape, rng);
          const along = (a: NDArray, b: ArrayLike<number>): number => a.data.reduce((s, v, i) => s + v * b[i], 0);
          const wantX = along(r, conv2d(dx, w, c.s, c.pad).data);
          const wantW = along(r, conv2d(x, dw, c.s, c.pad).data);
          expectClose([along(dx, gxs)], [wantX], { rtol: 1e-4, atol: 1e-3, label: `case ${ci} <grad x, d>` });
          expectClose([along(dw, gws)], [wantW], { rtol: 1e-4, atol: 1e-3, label: `case ${ci} <grad w, d>` });
        }
      });
    }
  });

  it('the weight gradient of an empty batch is zero under every strategy', async () => {
    const { convGeometry, forceConvStrategy } = await import('../../kernels/conv2d.js');
    const g = convGeometry([0, 3, 5, 5], [8, 3, 3, 3], [1, 1], [1, 1]);
    for (const strategy of ['gemm', 'gemm-split', 'direct'] as const) {
      forceConvStrategy(strategy);
      try {
        // Dirty the buffer pool first, so a kernel that wrote nothing would hand back garbage.
        E.scope(() => void E.full([8, 3, 3, 3], 7).data());
        const gw = E.convGradWeight(E.zeros([0, 3, 5, 5]), E.zeros([0, 8, 5, 5]), g);
        expect(gw.shape).toEqual([8, 3, 3, 3]);
        expect(Array.from(await gw.data()).every((v) => v === 0), strategy).toBe(true);
        gw.dispose();
      } finally {
        forceConvStrategy(null);
      }
    }
  });

  it('the direct kernels fold columns past the per-dimension workgroup limit into z', async () => {
    const { forceConvStrategy } = await import('../../kernels/conv2d.js');
    // 2100 items of 32×32: 2,150,400 output positions, 67,200 workgroups of 32 columns (> 65,535).
    const [n, hw] = [2100, 32];
    const rng = mulberry32(3);
    const x = Float32Array.from({ length: n * hw * hw }, () => rng() * 2 - 1);
    const gy = Float32Array.from({ length: 2 * n * hw * hw }, () => rng() * 2 - 1);
    const w = [0.5, -2]; // 1×1, one input channel, two output channels
    forceConvStrategy('direct');
    try {
      await E.scopeAsync(async () => {
        const xv = E.variable(E.tensor(x, [n, 1, hw, hw]));
        const y = E.conv2d(xv, E.tensor(w, [2, 1, 1, 1]));
        const [gx] = E.grad(y, [xv], { gradOutput: E.tensor(gy, [n, 2, hw, hw]) });
        const yd = await y.data();
        const gd = await gx.data();
        const plane = hw * hw;
        for (const b of [0, 1, 1000, 2047, 2048, n - 1])
          for (const i of [0, 517, plane - 1]) {
            expect(yd[(2 * b) * plane + i]).toBeCloseTo(0.5 * x[b * plane + i], 5);
            expect(yd[(2 * b + 1) * plane + i]).toBeCloseTo(-2 * x[b * plane + i], 5);
            expect(gd[b * plane + i]).toBeCloseTo(0.5 * gy[2 * b * plane + i] - 2 * gy[(2 * b + 1) * plane + i], 5);
          }
      });
    } finally {
      forceConvStrategy(null);
    }
  });

  it('a wrong input channel count throws an error naming both shapes', () => {
    expectThrowsMentioning(
      () => E.conv2d(E.zeros([1, 3, 5, 5]), E.zeros([2, 4, 3, 3]), null),
      ['[1, 3, 5, 5]', '[2, 4, 3, 3]'],
    );
  });

  it('rejects a kernel larger than the padded input and a mismatched bias', () => {
    expect(() => E.conv2d(E.zeros([1, 1, 2, 2]), E.zeros([1, 1, 3, 3]), null)).toThrow(/does not fit/);
    expectThrowsMentioning(() => E.conv2d(E.zeros([1, 1, 4, 4]), E.zeros([2, 1, 3, 3]), E.zeros([3])), ['[3]']);
  });
});
