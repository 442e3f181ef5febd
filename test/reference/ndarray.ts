// A minimal float64 n-dimensional array for the reference implementations. The GPU engine works in
// float32; keeping the references in float64 makes their own rounding error negligible next to the
// tolerances the op tests use, so a mismatch points at the engine rather than the reference.

/** Row-major, contiguous array: element [i0, i1, …] lives at sum(ik * stridesOf(shape)[k]). */
export interface NDArray {
  shape: number[];
  data: Float64Array;
}

/** Number of elements of a shape; 1 for the scalar shape []. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides, in elements. */
export function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let k = shape.length - 1; k >= 0; k--) {
    strides[k] = s;
    s *= shape[k];
  }
  return strides;
}

function checkShape(shape: readonly number[]): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`invalid shape [${shape.join(', ')}]`);
  }
}

/** An array of the given shape, zero-filled unless data (copied) is given. */
export function nd(shape: readonly number[], data?: ArrayLike<number>): NDArray {
  checkShape(shape);
  const n = numel(shape);
  if (data !== undefined && data.length !== n) {
    throw new Error(`nd: shape [${shape.join(', ')}] needs ${n} elements, got ${data.length}`);
  }
  const out = new Float64Array(n);
  if (data !== undefined) out.set(data);
  return { shape: [...shape], data: out };
}

/** Widen float32 data (e.g. read back from the GPU, or fed to it) to a float64 reference array. */
export function fromF32(shape: readonly number[], data: Float32Array | number[]): NDArray {
  return nd(shape, data);
}

/** Narrow to float32, e.g. to upload exactly the values the reference saw. */
export function toF32(a: NDArray): Float32Array {
  return Float32Array.from(a.data);
}

/**
 * mulberry32: a tiny 32-bit PRNG, returning floats in [0, 1). Good enough to draw test inputs and
 * fully reproducible from its seed, which is what failing property tests need.
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Uniform values in [lo, hi). They are rounded to float32 so that uploading toF32(a) to the engine
 * gives it exactly the inputs the float64 reference computes with.
 */
export function randomArray(shape: readonly number[], rng: () => number, lo = -1, hi = 1): NDArray {
  const a = nd(shape);
  for (let i = 0; i < a.data.length; i++) a.data[i] = Math.fround(lo + (hi - lo) * rng());
  return a;
}

/** Map a possibly negative axis (−1 = last) to 0..rank−1. */
export function normalizeAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    throw new Error(`axis ${axis} out of range for rank ${rank}`);
  }
  return a;
}

/** NumPy broadcasting: align trailing dimensions; each pair must be equal or contain a 1. */
export function broadcastShapes(...shapes: ReadonlyArray<readonly number[]>): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let k = 0; k < s.length; k++) {
      const o = rank - s.length + k;
      const d = s[k];
      if (d === out[o] || d === 1) continue;
      if (out[o] === 1) out[o] = d;
      else {
        throw new Error(`cannot broadcast shapes ${shapes.map((x) => `[${x.join(', ')}]`).join(' and ')}`);
      }
    }
  }
  return out;
}
