// Seedable, counter-based random numbers on the GPU (Threefry-2x32, kernels/random.ts). A
// Generator is (seed, position): every draw consumes a counter range, so a run is reproducible
// from one seed and independent of how work is split into dispatches.

import { bitonicSortKernel, randomKernel, type RandomCall } from '../../kernels/random.js';
import { fillKernel, iotaKernel } from '../../kernels/elementwise.js';
import { stridedCopyKernel } from '../../kernels/copy.js';
import { numel, type Shape } from '../engine/shape.js';
import { Tensor } from '../engine/tensor.js';
import { slice } from './shape.js';

export class Generator {
  private key: [number, number];
  /** Counter of the next draw. */
  position = 0;

  constructor(seed = 0) {
    this.key = Generator.keyOf(seed);
  }

  private static keyOf(seed: number): [number, number] {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`Generator: seed must be a non-negative integer, got ${seed}`);
    return [seed % 2 ** 32 >>> 0, Math.floor(seed / 2 ** 32) >>> 0];
  }

  manualSeed(seed: number): this {
    this.key = Generator.keyOf(seed);
    this.position = 0;
    return this;
  }

  /** An independent generator derived from this one (for per-worker or per-stage streams). */
  fork(stream: number): Generator {
    const g = new Generator();
    g.key = [(this.key[0] ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0, (this.key[1] + stream + 1) >>> 0];
    return g;
  }

  private draw(shape: Shape, call: Omit<RandomCall, 'key' | 'base'>): Tensor {
    const t = randomKernel(shape, { ...call, key: this.key, base: this.position });
    this.position += numel(shape);
    return t;
  }

  uniform(shape: Shape, low = 0, high = 1): Tensor {
    return this.draw(shape, { mode: 'uniform', a: low, b: high });
  }

  normal(shape: Shape, mean = 0, std = 1): Tensor {
    return this.draw(shape, { mode: 'normal', a: mean, b: std });
  }

  /** 0/1 f32 values, 1 with probability p. */
  bernoulli(shape: Shape, p: number): Tensor {
    if (!(p >= 0 && p <= 1)) throw new Error(`bernoulli: p must be in [0, 1], got ${p}`);
    return this.draw(shape, { mode: 'bernoulli', a: p });
  }

  /** Integers in [low, high) as i32. */
  randint(shape: Shape, low: number, high: number): Tensor {
    // i32 results: both ends within the i32 range (a range of 2^32 reaches the shader as 0).
    if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low || low < -(2 ** 31) || high > 2 ** 31)
      throw new Error(`randint: invalid range [${low}, ${high})`);
    return this.draw(shape, { mode: 'randint', lo: low, range: high - low });
  }

  /** Raw u32 words. */
  bits(shape: Shape): Tensor {
    return this.draw(shape, { mode: 'bits' });
  }

  /** A random permutation of 0..n−1 (i32): random keys sorted on the GPU. */
  permutation(n: number): Tensor {
    if (!Number.isInteger(n) || n < 0 || n >= 2 ** 31) throw new Error(`permutation: invalid length ${n}`);
    if (n === 0) return Tensor.empty([0], 'i32');
    const size = 2 ** Math.ceil(Math.log2(Math.max(n, 2)));
    // Padding sorts last: key 0xffffffff and values ≥ n (ties on the key are broken by value).
    const keys = fillKernel([size], 0xffffffff, 'u32');
    const drawn = this.bits([n]);
    stridedCopyKernel('permutation', drawn, { offset: 0, strides: [1] }, keys, { offset: 0, strides: [1] }, [n]);
    drawn.dispose();
    const values = iotaKernel(size, 0, 'u32');
    bitonicSortKernel(keys, values);
    keys.dispose();
    const asI32 = values.bitcast('i32');
    values.dispose();
    const out = slice(asI32, 0, 0, n);
    asI32.dispose();
    return out;
  }
}

/** The default generator used when none is passed. */
export const defaultGenerator = new Generator(0);

export function manualSeed(seed: number): void {
  defaultGenerator.manualSeed(seed);
}
