// Shared machinery of the op tests: uploading float64 reference arrays, reading GPU results back,
// fast-check arbitraries for shapes, and the forward + backward check every differentiable op goes
// through (GPU forward vs the float64 reference, GPU vector–Jacobian product vs central finite
// differences of the reference).

import fc from 'fast-check';
import { expect } from 'vitest';
import * as E from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import { expectClose, numericGrad, type CloseOptions } from '../reference/gradcheck.js';
import { mulberry32, nd, numel, randomArray, toF32, type NDArray } from '../reference/ndarray.js';

export { expectClose, numericGrad, mulberry32, nd, numel, randomArray, toF32 };
export type { NDArray, CloseOptions };

/** Uploads a reference array as an f32 tensor of the same shape. */
export function up(a: NDArray): Tensor {
  return E.tensor(toF32(a), a.shape);
}

/** Reads a tensor back as a float64 reference array. */
export async function down(t: Tensor): Promise<NDArray> {
  const d = await t.data();
  return nd(t.shape, Array.from(d));
}

export async function readNumbers(t: Tensor): Promise<number[]> {
  return Array.from(await t.data());
}

export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Seeds for the mulberry32 streams that fill test arrays (fast-check shrinks them too). */
export const seedArb = fc.integer({ min: 1, max: 0x7fffffff });

/** A shape of rank in [minRank, maxRank] with dimensions in [1, maxDim] (size-1 dims included). */
export function shapeArb(minRank: number, maxRank: number, maxDim = 5): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: 1, max: maxDim }), { minLength: minRank, maxLength: maxRank });
}

/**
 * Two shapes that broadcast together: both are the output shape with some leading dimensions
 * dropped and some dimensions replaced by 1.
 */
export function broadcastShapesArb(count: number, maxRank = 4, maxDim = 4): fc.Arbitrary<number[][]> {
  return fc
    .record({
      out: shapeArb(0, maxRank, maxDim),
      ops: fc.array(
        fc.record({
          drop: fc.integer({ min: 0, max: maxRank }),
          ones: fc.array(fc.boolean(), { minLength: maxRank, maxLength: maxRank }),
        }),
        { minLength: count, maxLength: count },
      ),
    })
    .map(({ out, ops }) =>
      ops.map(({ drop, ones }) => out.slice(Math.min(drop, out.length)).map((d, i) => (ones[i] ? 1 : d))),
    );
}

/** Moves every element at least `margin` away from `at` (keeping its side), rounded to f32. */
export function awayFrom(a: NDArray, at: number, margin: number): NDArray {
  const out = nd(a.shape, a.data);
  for (let i = 0; i < out.data.length; i++) {
    const d = out.data[i] - at;
    out.data[i] = Math.fround(at + (d >= 0 ? d + margin : d - margin));
  }
  return out;
}

/**
 * Pairwise distinct values (a shuffled grid with spacing `gap`, plus an offset), so max, min,
 * argmax and max pooling have no ties and finite differences never cross a kink.
 */
export function distinctArray(shape: readonly number[], rng: () => number, gap = 0.05, offset = 0): NDArray {
  const n = numel(shape);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const a = nd(shape);
  for (let i = 0; i < n; i++) a.data[i] = Math.fround(offset + (order[i] - n / 2) * gap);
  return a;
}

export interface OpCase {
  /** The engine op on uploaded inputs (variables where differentiated). */
  gpu: (xs: Tensor[]) => Tensor;
  /** The float64 reference of the same op. */
  ref: (xs: NDArray[]) => NDArray;
  inputs: NDArray[];
  /** Indices of the inputs to differentiate (empty: forward only). */
  wrt?: number[];
  /** Seeds the random cotangent. */
  seed?: number;
  fwd?: CloseOptions;
  grad?: CloseOptions;
  /** Finite-difference step of numericGrad. */
  h?: number;
  label?: string;
}

/**
 * Checks the GPU forward against the reference and, for each input in `wrt`, the GPU gradient of
 * sum(op(x)·r) (r a random cotangent passed as gradOutput) against central differences of the
 * same quantity on the reference. Everything the GPU side creates is disposed afterwards.
 */
export async function checkOp(c: OpCase): Promise<void> {
  const wrt = c.wrt ?? [];
  const label = c.label ?? 'op';
  const expected = c.ref(c.inputs);
  await E.scopeAsync(async () => {
    const xs = c.inputs.map((a, i) => (wrt.includes(i) ? E.variable(up(a)) : up(a)));
    const y = c.gpu(xs);
    expect(y.shape, `${label}: output shape`).toEqual(expected.shape);
    expectClose(await y.data(), expected.data, { rtol: 1e-5, atol: 1e-6, ...c.fwd, label: `${label} forward` });
    if (!wrt.length) return;
    const cot = randomArray(expected.shape, mulberry32((c.seed ?? 12345) ^ 0x5bd1e995), -1, 1);
    const gs = E.grad(
      y,
      wrt.map((i) => xs[i]),
      { gradOutput: E.tensor(toF32(cot), y.shape) },
    );
    for (let k = 0; k < wrt.length; k++) {
      const i = wrt[k];
      expect(gs[k].shape, `${label}: gradient shape of input ${i}`).toEqual(c.inputs[i].shape);
      const want = numericGrad(c.ref, c.inputs, i, cot, c.h ?? 1e-5);
      expectClose(await gs[k].data(), want.data, {
        rtol: 1e-3,
        atol: 1e-4,
        ...c.grad,
        label: `${label} gradient of input ${i}`,
      });
    }
  });
}

/** Euclidean norm and relative error ‖a − b‖ / ‖b‖ of two flat vectors. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    num += (actual[i] - expected[i]) ** 2;
    den += expected[i] ** 2;
  }
  return Math.sqrt(num) / Math.sqrt(den);
}

export function norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

/** Expects fn to throw an Error whose message contains every one of `parts`. */
export function expectThrowsMentioning(fn: () => unknown, parts: readonly string[]): void {
  let caught: unknown;
  try {
    E.scope(() => {
      fn();
    });
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected an error mentioning ${parts.join(' and ')}`).toBeInstanceOf(Error);
  const msg = (caught as Error).message;
  for (const p of parts) expect(msg, `error message "${msg}"`).toContain(p);
}

/**
 * Called before a property run forces kernels again. A test that times out is failed but its body
 * goes on (vitest cannot stop it), and with the files sharing one worker (isolate: false) its
 * next run would force kernels, or a tiny im2col budget, under the tests that follow; its signal
 * is aborted at the timeout, and this stops it there.
 */
export function stopIfTimedOut(ctx: { signal: AbortSignal }): void {
  if (ctx.signal.aborted) throw new Error('the test timed out: stopping before it forces kernels again');
}
