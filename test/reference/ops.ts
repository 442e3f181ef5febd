// Float64 reference implementations of the engine's ops, written for obviousness rather than speed:
// plain loops over explicit index arithmetic, so that each one can be checked by reading it against
// the PyTorch/NumPy definition it mirrors. None of them mutates its inputs.

import {
  broadcastShapes,
  nd,
  normalizeAxis,
  numel,
  stridesOf,
  type NDArray,
} from './ndarray.js';

// ---------------------------------------------------------------------------------------------
// Indexing helpers
// ---------------------------------------------------------------------------------------------

/**
 * Source offsets (base + sum(ik * strides[k])) for every element of `shape`, in row-major order.
 * Broadcasting (stride 0), permutation (reordered strides) and slicing (shifted base) are all
 * this one walk with different strides.
 */
function stridedOffsets(shape: readonly number[], strides: readonly number[], base = 0): Uint32Array {
  const rank = shape.length;
  const n = numel(shape);
  const offsets = new Uint32Array(n);
  const idx = new Array<number>(rank).fill(0);
  let off = base;
  for (let i = 0; i < n; i++) {
    offsets[i] = off;
    for (let k = rank - 1; k >= 0; k--) {
      idx[k]++;
      off += strides[k];
      if (idx[k] < shape[k]) break;
      off -= strides[k] * shape[k];
      idx[k] = 0;
    }
  }
  return offsets;
}

/** Offsets into an array of `shape` for each element of the (broadcast) `outShape`. */
function broadcastOffsets(shape: readonly number[], outShape: readonly number[]): Uint32Array {
  const own = stridesOf(shape);
  const lead = outShape.length - shape.length;
  const strides = outShape.map((_, k) => {
    const j = k - lead;
    return j < 0 || shape[j] === 1 ? 0 : own[j];
  });
  return stridedOffsets(outShape, strides);
}

/** Sorted, de-duplicated, non-negative axes; undefined means every axis. */
function normalizeAxes(axes: readonly number[] | undefined, rank: number): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, k) => k);
  const out = axes.map((a) => normalizeAxis(a, rank)).sort((p, q) => p - q);
  for (let k = 1; k < out.length; k++) {
    if (out[k] === out[k - 1]) throw new Error(`duplicate axis ${out[k]} in [${axes.join(', ')}]`);
  }
  return out;
}

/** View a shape as [outer, shape[axis], inner], the layout every along-one-axis op loops over. */
function splitAtAxis(shape: readonly number[], axis: number): { outer: number; dim: number; inner: number } {
  return {
    outer: numel(shape.slice(0, axis)),
    dim: shape[axis],
    inner: numel(shape.slice(axis + 1)),
  };
}

function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

function scalar(v: number): NDArray {
  return nd([], [v]);
}

// ---------------------------------------------------------------------------------------------
// Elementwise
// ---------------------------------------------------------------------------------------------

export type UnaryOp =
  | 'neg'
  | 'exp'
  | 'log'
  | 'sqrt'
  | 'abs'
  | 'sign'
  | 'relu'
  | 'affine'
  | 'pow'
  | 'clamp'
  | 'reciprocal'
  | 'square';

function requireParam(op: UnaryOp, name: string, v: number | undefined): number {
  if (v === undefined) throw new Error(`unary '${op}' needs ${name}`);
  return v;
}

/**
 * Elementwise unary op. affine = alpha·x + beta, pow = x^alpha, clamp = min(max(x, alpha), beta).
 * pow follows real math (Math.pow): a negative base with an integer exponent is fine
 * ((−2)^3 = −8), with a non-integer one it is NaN. A naive GPU exp2(alpha·log2(x)) gets the
 * first case wrong, which is exactly what the tests should catch.
 */
export function unary(op: UnaryOp, x: NDArray, alpha?: number, beta?: number): NDArray {
  let f: (v: number) => number;
  switch (op) {
    case 'neg':
      f = (v) => -v;
      break;
    case 'exp':
      f = Math.exp;
      break;
    case 'log':
      f = Math.log;
      break;
    case 'sqrt':
      f = Math.sqrt;
      break;
    case 'abs':
      f = Math.abs;
      break;
    case 'sign':
      f = Math.sign;
      break;
    case 'relu':
      // torch.relu keeps NaN as NaN; a bare `v > 0 ? v : 0` would quietly turn it into 0.
      f = (v) => (Number.isNaN(v) ? v : v > 0 ? v : 0);
      break;
    case 'affine': {
      const a = requireParam(op, 'alpha', alpha);
      const b = requireParam(op, 'beta', beta);
      f = (v) => a * v + b;
      break;
    }
    case 'pow': {
      const p = requireParam(op, 'alpha', alpha);
      f = (v) => Math.pow(v, p);
      break;
    }
    case 'clamp': {
      const lo = requireParam(op, 'alpha', alpha);
      const hi = requireParam(op, 'beta', beta);
      f = (v) => Math.min(Math.max(v, lo), hi);
      break;
    }
    case 'reciprocal':
      f = (v) => 1 / v;
      break;
    case 'square':
      f = (v) => v * v;
      break;
  }
  const out = nd(x.shape);
  for (let i = 0; i < out.data.length; i++) out.data[i] = f(x.data[i]);
  return out;
}

export type BinaryOp =
  | 'add'
  | 'sub'
  | 'mul'
  | 'div'
  | 'minimum'
  | 'maximum'
  | 'pow'
  | 'gt'
  | 'ge'
  | 'lt'
  | 'le'
  | 'eq'
  | 'ne';

const binaryFns: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  // Math.min/max propagate NaN, matching torch.minimum/maximum.
  minimum: Math.min,
  maximum: Math.max,
  pow: Math.pow,
  gt: (a, b) => (a > b ? 1 : 0),
  ge: (a, b) => (a >= b ? 1 : 0),
  lt: (a, b) => (a < b ? 1 : 0),
  le: (a, b) => (a <= b ? 1 : 0),
  eq: (a, b) => (a === b ? 1 : 0),
  ne: (a, b) => (a !== b ? 1 : 0),
};

/** Elementwise binary op with NumPy broadcasting; comparisons give 0/1. */
export function binary(op: BinaryOp, a: NDArray, b: NDArray): NDArray {
  const f = binaryFns[op];
  const shape = broadcastShapes(a.shape, b.shape);
  const ia = broadcastOffsets(a.shape, shape);
  const ib = broadcastOffsets(b.shape, shape);
  const out = nd(shape);
  for (let i = 0; i < out.data.length; i++) out.data[i] = f(a.data[ia[i]], b.data[ib[i]]);
  return out;
}

/** cond != 0 ? a : b, broadcasting all three (a NaN condition counts as true, being != 0). */
export function where(cond: NDArray, a: NDArray, b: NDArray): NDArray {
  const shape = broadcastShapes(cond.shape, a.shape, b.shape);
  const ic = broadcastOffsets(cond.shape, shape);
  const ia = broadcastOffsets(a.shape, shape);
  const ib = broadcastOffsets(b.shape, shape);
  const out = nd(shape);
  for (let i = 0; i < out.data.length; i++) {
    out.data[i] = cond.data[ic[i]] !== 0 ? a.data[ia[i]] : b.data[ib[i]];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reductions
// ---------------------------------------------------------------------------------------------

interface ReductionPlan {
  /** Shape with the reduced axes set to 1. */
  keptShape: number[];
  /** The shape returned to the caller (keptShape, or with those axes dropped). */
  outShape: number[];
  /** For each input element, the flat index of the output element it reduces into. */
  target: Uint32Array;
  /** Number of input elements per output element. */
  count: number;
}

function planReduction(
  shape: readonly number[],
  axes: readonly number[] | undefined,
  keepDims: boolean,
): ReductionPlan {
  const reduced = normalizeAxes(axes, shape.length);
  const keptShape = shape.map((d, k) => (reduced.includes(k) ? 1 : d));
  const outShape = keepDims ? keptShape : shape.filter((_, k) => !reduced.includes(k));
  // Broadcasting the kept shape back over the input maps each input element to its output slot.
  const target = broadcastOffsets(keptShape, shape);
  const count = numel(reduced.map((k) => shape[k]));
  return { keptShape, outShape, target, count };
}

/**
 * Sum over `axes` (negative allowed; undefined = all axes; [] = no axes, a copy). Reducing every
 * axis without keepDims gives a scalar of shape [].
 */
export function sum(x: NDArray, axes?: readonly number[], keepDims = false): NDArray {
  const plan = planReduction(x.shape, axes, keepDims);
  const out = nd(plan.outShape);
  for (let i = 0; i < x.data.length; i++) out.data[plan.target[i]] += x.data[i];
  return out;
}

export function mean(x: NDArray, axes?: readonly number[], keepDims = false): NDArray {
  const plan = planReduction(x.shape, axes, keepDims);
  const out = sum(x, axes, keepDims);
  for (let i = 0; i < out.data.length; i++) out.data[i] /= plan.count;
  return out;
}

/** Max over `axes`; NaN propagates (as in torch.amax). An empty reduction gives −∞. */
export function max(x: NDArray, axes?: readonly number[], keepDims = false): NDArray {
  const plan = planReduction(x.shape, axes, keepDims);
  const out = nd(plan.outShape);
  out.data.fill(-Infinity);
  for (let i = 0; i < x.data.length; i++) {
    const v = x.data[i];
    const t = plan.target[i];
    if (v > out.data[t] || Number.isNaN(v)) out.data[t] = v;
  }
  return out;
}

/**
 * Index of the maximum along `axis`, as float64 values; the first one wins ties. NaN counts as
 * larger than everything (torch.argmax does the same), so the first NaN wins.
 */
export function argmax(x: NDArray, axis: number, keepDims = false): NDArray {
  const ax = normalizeAxis(axis, x.shape.length);
  const { outer, dim, inner } = splitAtAxis(x.shape, ax);
  if (dim === 0) throw new Error('argmax over an empty axis');
  const outShape = keepDims ? x.shape.map((d, k) => (k === ax ? 1 : d)) : x.shape.filter((_, k) => k !== ax);
  const out = nd(outShape);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let best = 0;
      let bestVal = x.data[o * dim * inner + i];
      for (let j = 1; j < dim && !Number.isNaN(bestVal); j++) {
        const v = x.data[(o * dim + j) * inner + i];
        if (v > bestVal || Number.isNaN(v)) {
          best = j;
          bestVal = v;
        }
      }
      out.data[o * inner + i] = best;
    }
  }
  return out;
}

/**
 * Variance over `axes`, two-pass (mean first) so it stays accurate for data far from zero.
 * unbiased divides by n − 1 (torch's default correction=1), otherwise by n.
 */
export function variance(x: NDArray, axes?: readonly number[], unbiased = true, keepDims = false): NDArray {
  const plan = planReduction(x.shape, axes, keepDims);
  const mu = mean(x, axes, keepDims);
  const out = nd(plan.outShape);
  for (let i = 0; i < x.data.length; i++) {
    const t = plan.target[i];
    const d = x.data[i] - mu.data[t];
    out.data[t] += d * d;
  }
  const divisor = plan.count - (unbiased ? 1 : 0);
  for (let i = 0; i < out.data.length; i++) out.data[i] /= divisor;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Linear algebra
// ---------------------------------------------------------------------------------------------

/**
 * Matrix product: [M,K]×[K,N] → [M,N]; [B,M,K]×[B,K,N] → [B,M,N]; [B,M,K]×[K,N] → [B,M,N] with the
 * right operand shared by every batch (and, symmetrically, [M,K]×[B,K,N]). A batch of 1 broadcasts.
 */
export function matmul(a: NDArray, b: NDArray): NDArray {
  const ra = a.shape.length;
  const rb = b.shape.length;
  if ((ra !== 2 && ra !== 3) || (rb !== 2 && rb !== 3)) {
    throw new Error(`matmul supports 2-D and 3-D operands, got ${shapeStr(a.shape)} × ${shapeStr(b.shape)}`);
  }
  const [ba, m, k] = ra === 3 ? a.shape : [1, a.shape[0], a.shape[1]];
  const [bb, k2, n] = rb === 3 ? b.shape : [1, b.shape[0], b.shape[1]];
  if (k !== k2) throw new Error(`matmul inner dimensions differ: ${shapeStr(a.shape)} × ${shapeStr(b.shape)}`);
  if (ba !== bb && ba !== 1 && bb !== 1) {
    throw new Error(`matmul batch sizes differ: ${shapeStr(a.shape)} × ${shapeStr(b.shape)}`);
  }
  const batch = Math.max(ba, bb);
  // A shared (batch-1) operand is re-read for every batch via a zero batch stride.
  const strideA = ba === 1 ? 0 : m * k;
  const strideB = bb === 1 ? 0 : k * n;
  const out = nd(ra === 2 && rb === 2 ? [m, n] : [batch, m, n]);
  for (let p = 0; p < batch; p++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let q = 0; q < k; q++) acc += a.data[p * strideA + i * k + q] * b.data[p * strideB + q * n + j];
        out.data[(p * m + i) * n + j] = acc;
      }
    }
  }
  return out;
}

/** torch.nn.functional.linear: x·wᵀ + b, with x [..., in], w [out, in], b [out] → [..., out]. */
export function linear(x: NDArray, w: NDArray, b?: NDArray): NDArray {
  if (w.shape.length !== 2) throw new Error(`linear weight must be [out, in], got ${shapeStr(w.shape)}`);
  const [outF, inF] = w.shape;
  if (x.shape.length < 1 || x.shape[x.shape.length - 1] !== inF) {
    throw new Error(`linear input ${shapeStr(x.shape)} does not end in ${inF}`);
  }
  if (b !== undefined && (b.shape.length !== 1 || b.shape[0] !== outF)) {
    throw new Error(`linear bias must be [${outF}], got ${shapeStr(b.shape)}`);
  }
  const rows = x.data.length / inF;
  const out = nd([...x.shape.slice(0, -1), outF]);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outF; o++) {
      let acc = b === undefined ? 0 : b.data[o];
      for (let q = 0; q < inF; q++) acc += x.data[r * inF + q] * w.data[o * inF + q];
      out.data[r * outF + o] = acc;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Convolution and pooling (NCHW)
// ---------------------------------------------------------------------------------------------

/** floor((size + 2·pad − kernel) / stride) + 1, i.e. PyTorch with ceil_mode = false. */
export function convOutSize(size: number, kernel: number, stride: number, pad: number): number {
  const out = Math.floor((size + 2 * pad - kernel) / stride) + 1;
  if (out < 1) throw new Error(`window ${kernel} (pad ${pad}) does not fit input size ${size}`);
  return out;
}

function requireNCHW(x: NDArray, what: string): [number, number, number, number] {
  if (x.shape.length !== 4) throw new Error(`${what} expects NCHW input, got ${shapeStr(x.shape)}`);
  const [n, c, h, w] = x.shape;
  return [n, c, h, w];
}

/**
 * 2-D cross-correlation (what every DL framework calls convolution): x [N, Cin, H, W],
 * w [Cout, Cin, KH, KW], optional bias [Cout]; zero padding, no dilation or groups.
 */
export function conv2d(
  x: NDArray,
  w: NDArray,
  stride: [number, number],
  padding: [number, number],
  bias?: NDArray,
): NDArray {
  const [n, cin, h, wd] = requireNCHW(x, 'conv2d');
  if (w.shape.length !== 4 || w.shape[1] !== cin) {
    throw new Error(`conv2d weight ${shapeStr(w.shape)} does not match ${cin} input channels`);
  }
  const [cout, , kh, kw] = w.shape;
  if (bias !== undefined && (bias.shape.length !== 1 || bias.shape[0] !== cout)) {
    throw new Error(`conv2d bias must be [${cout}], got ${shapeStr(bias.shape)}`);
  }
  const [sh, sw] = stride;
  const [ph, pw] = padding;
  const oh = convOutSize(h, kh, sh, ph);
  const ow = convOutSize(wd, kw, sw, pw);
  const out = nd([n, cout, oh, ow]);
  for (let b = 0; b < n; b++) {
    for (let co = 0; co < cout; co++) {
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          let acc = bias === undefined ? 0 : bias.data[co];
          for (let ci = 0; ci < cin; ci++) {
            for (let ky = 0; ky < kh; ky++) {
              const iy = oy * sh - ph + ky;
              if (iy < 0 || iy >= h) continue; // zero padding contributes nothing
              for (let kx = 0; kx < kw; kx++) {
                const ix = ox * sw - pw + kx;
                if (ix < 0 || ix >= wd) continue;
                acc += x.data[((b * cin + ci) * h + iy) * wd + ix] * w.data[((co * cin + ci) * kh + ky) * kw + kx];
              }
            }
          }
          out.data[((b * cout + co) * oh + oy) * ow + ox] = acc;
        }
      }
    }
  }
  return out;
}

/**
 * Applies `reduce` to every pooling window of every (n, c) plane. Out-of-bounds (padding)
 * positions are passed as null so each pooling rule decides what padding means.
 */
function pool2d(
  x: NDArray,
  kernel: [number, number],
  stride: [number, number],
  padding: [number, number],
  what: string,
  reduce: (values: Array<number | null>) => number,
): NDArray {
  const [n, c, h, w] = requireNCHW(x, what);
  const [kh, kw] = kernel;
  const [sh, sw] = stride;
  const [ph, pw] = padding;
  const oh = convOutSize(h, kh, sh, ph);
  const ow = convOutSize(w, kw, sw, pw);
  const out = nd([n, c, oh, ow]);
  const window = new Array<number | null>(kh * kw);
  for (let plane = 0; plane < n * c; plane++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        for (let ky = 0; ky < kh; ky++) {
          for (let kx = 0; kx < kw; kx++) {
            const iy = oy * sh - ph + ky;
            const ix = ox * sw - pw + kx;
            const inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
            window[ky * kw + kx] = inside ? x.data[(plane * h + iy) * w + ix] : null;
          }
        }
        out.data[(plane * oh + oy) * ow + ox] = reduce(window);
      }
    }
  }
  return out;
}

/** Max pooling; padding acts as −∞ (it can never be the maximum), as in PyTorch. */
export function maxPool2d(
  x: NDArray,
  kernel: [number, number],
  stride: [number, number],
  padding: [number, number] = [0, 0],
): NDArray {
  return pool2d(x, kernel, stride, padding, 'maxPool2d', (values) => {
    let m = -Infinity;
    for (const v of values) if (v !== null && (v > m || Number.isNaN(v))) m = v;
    return m;
  });
}

/**
 * Average pooling with count_include_pad = true (PyTorch's default): padding counts as zeros and
 * every window divides by kh·kw. (Without ceil_mode no window reaches past the padding, so
 * PyTorch's clipped divisor is always exactly kh·kw.)
 */
export function avgPool2d(
  x: NDArray,
  kernel: [number, number],
  stride: [number, number],
  padding: [number, number] = [0, 0],
): NDArray {
  const area = kernel[0] * kernel[1];
  return pool2d(x, kernel, stride, padding, 'avgPool2d', (values) => {
    let s = 0;
    for (const v of values) if (v !== null) s += v;
    return s / area;
  });
}

/** Mean over H and W: [N, C, H, W] → [N, C]. */
export function globalAvgPool2d(x: NDArray): NDArray {
  requireNCHW(x, 'globalAvgPool2d');
  return mean(x, [2, 3], false);
}

// ---------------------------------------------------------------------------------------------
// Shape and indexing
// ---------------------------------------------------------------------------------------------

/** Output axis k is input axis perm[k] (torch.permute / np.transpose). */
export function permute(x: NDArray, perm: readonly number[]): NDArray {
  const rank = x.shape.length;
  const axes = perm.map((p) => normalizeAxis(p, rank));
  if (axes.length !== rank || new Set(axes).size !== rank) {
    throw new Error(`permute: [${perm.join(', ')}] is not a permutation of ${rank} axes`);
  }
  const own = stridesOf(x.shape);
  const shape = axes.map((p) => x.shape[p]);
  const offsets = stridedOffsets(shape, axes.map((p) => own[p]));
  const out = nd(shape);
  for (let i = 0; i < out.data.length; i++) out.data[i] = x.data[offsets[i]];
  return out;
}

/**
 * Elements start..end−1 along `axis` (step 1). Like Python slicing, negative bounds count from the
 * end and out-of-range bounds are clamped, so an empty result is possible.
 */
export function slice(x: NDArray, axis: number, start: number, end: number): NDArray {
  const ax = normalizeAxis(axis, x.shape.length);
  const dim = x.shape[ax];
  const clampBound = (v: number): number => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
  const s = clampBound(start);
  const e = Math.max(clampBound(end), s);
  const own = stridesOf(x.shape);
  const shape = x.shape.map((d, k) => (k === ax ? e - s : d));
  const offsets = stridedOffsets(shape, own, s * own[ax]);
  const out = nd(shape);
  for (let i = 0; i < out.data.length; i++) out.data[i] = x.data[offsets[i]];
  return out;
}

/** Join arrays along `axis`; all other dimensions must agree. */
export function concat(xs: readonly NDArray[], axis: number): NDArray {
  if (xs.length === 0) throw new Error('concat of no arrays');
  const rank = xs[0].shape.length;
  const ax = normalizeAxis(axis, rank);
  for (const x of xs) {
    if (x.shape.length !== rank || x.shape.some((d, k) => k !== ax && d !== xs[0].shape[k])) {
      throw new Error(`concat: shapes ${xs.map((y) => shapeStr(y.shape)).join(', ')} differ off axis ${ax}`);
    }
  }
  const total = xs.reduce((acc, x) => acc + x.shape[ax], 0);
  const shape = xs[0].shape.map((d, k) => (k === ax ? total : d));
  const { outer, inner } = splitAtAxis(shape, ax);
  const out = nd(shape);
  let before = 0; // how far along the axis the current input starts
  for (const x of xs) {
    const chunk = x.shape[ax] * inner;
    for (let o = 0; o < outer; o++) {
      out.data.set(x.data.subarray(o * chunk, (o + 1) * chunk), (o * total + before) * inner);
    }
    before += x.shape[ax];
  }
  return out;
}

/**
 * Broadcast x to `shape` (np.broadcast_to / torch.expand): trailing dimensions align, x's
 * dimensions must be 1 or equal, and −1 in `shape` keeps x's dimension.
 */
export function expand(x: NDArray, shape: readonly number[]): NDArray {
  const lead = shape.length - x.shape.length;
  if (lead < 0) throw new Error(`expand: cannot expand ${shapeStr(x.shape)} to fewer dimensions ${shapeStr(shape)}`);
  const target = shape.map((d, k) => {
    if (d !== -1) return d;
    if (k < lead) throw new Error(`expand: −1 is not allowed for a new leading dimension in ${shapeStr(shape)}`);
    return x.shape[k - lead];
  });
  x.shape.forEach((d, j) => {
    if (d !== 1 && d !== target[j + lead]) {
      throw new Error(`expand: cannot expand ${shapeStr(x.shape)} to ${shapeStr(shape)}`);
    }
  });
  const offsets = broadcastOffsets(x.shape, target);
  const out = nd(target);
  for (let i = 0; i < out.data.length; i++) out.data[i] = x.data[offsets[i]];
  return out;
}

function checkIndex(i: number, dim: number, what: string): void {
  if (!Number.isInteger(i) || i < 0 || i >= dim) throw new Error(`${what}: index ${i} out of range [0, ${dim})`);
}

/** torch.index_select: pick the slices idx[0], idx[1], … along `axis` (repeats allowed). */
export function indexSelect(x: NDArray, axis: number, idx: readonly number[]): NDArray {
  const ax = normalizeAxis(axis, x.shape.length);
  const { outer, dim, inner } = splitAtAxis(x.shape, ax);
  for (const i of idx) checkIndex(i, dim, 'indexSelect');
  const out = nd(x.shape.map((d, k) => (k === ax ? idx.length : d)));
  for (let o = 0; o < outer; o++) {
    idx.forEach((src, j) => {
      const from = (o * dim + src) * inner;
      out.data.set(x.data.subarray(from, from + inner), (o * idx.length + j) * inner);
    });
  }
  return out;
}

/**
 * torch.gather: out has idx's shape and out[…, i_axis, …] = x[…, idx[…, i_axis, …], …]. idx must
 * have x's rank and be no larger than x off the gathered axis.
 */
export function gather(x: NDArray, axis: number, idx: NDArray): NDArray {
  const rank = x.shape.length;
  const ax = normalizeAxis(axis, rank);
  if (idx.shape.length !== rank || idx.shape.some((d, k) => k !== ax && d > x.shape[k])) {
    throw new Error(`gather: index ${shapeStr(idx.shape)} does not fit input ${shapeStr(x.shape)} on axis ${ax}`);
  }
  const xStrides = stridesOf(x.shape);
  // Offset into x of each index position with its axis coordinate zeroed; the index value then
  // supplies that coordinate.
  const base = stridedOffsets(
    idx.shape,
    xStrides.map((s, k) => (k === ax ? 0 : s)),
  );
  const out = nd(idx.shape);
  for (let i = 0; i < out.data.length; i++) {
    const j = idx.data[i];
    checkIndex(j, x.shape[ax], 'gather');
    out.data[i] = x.data[base[i] + j * xStrides[ax]];
  }
  return out;
}

/** [N] integer labels → [N, classes] one-hot rows. */
export function oneHot(labels: readonly number[], classes: number): NDArray {
  const out = nd([labels.length, classes]);
  labels.forEach((label, i) => {
    checkIndex(label, classes, 'oneHot');
    out.data[i * classes + label] = 1;
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Softmax and losses
// ---------------------------------------------------------------------------------------------

/**
 * log_softmax along `axis`, computed as (x − max) − log(sum(exp(x − max))): shifting by the max
 * keeps exp from overflowing (inputs of 1000 would otherwise give ∞/∞ = NaN).
 */
export function logSoftmax(x: NDArray, axis = -1): NDArray {
  const ax = normalizeAxis(axis, x.shape.length);
  const { outer, dim, inner } = splitAtAxis(x.shape, ax);
  const out = nd(x.shape);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const at = (j: number): number => (o * dim + j) * inner + i;
      let m = -Infinity;
      for (let j = 0; j < dim; j++) m = Math.max(m, x.data[at(j)]);
      // An all −∞ row would give (−∞) − (−∞) = NaN, which is also what PyTorch returns.
      let s = 0;
      for (let j = 0; j < dim; j++) s += Math.exp(x.data[at(j)] - m);
      const logSum = Math.log(s);
      for (let j = 0; j < dim; j++) out.data[at(j)] = x.data[at(j)] - m - logSum;
    }
  }
  return out;
}

/** softmax along `axis`; exp of the stable log-softmax, so it shares its overflow safety. */
export function softmax(x: NDArray, axis = -1): NDArray {
  return unary('exp', logSoftmax(x, axis));
}

export type LossReduction = 'mean' | 'sum' | 'none';

function reduceLoss(perItem: NDArray, reduction: LossReduction): NDArray {
  if (reduction === 'none') return perItem;
  const total = sum(perItem);
  return reduction === 'sum' ? total : scalar(total.data[0] / numel(perItem.shape));
}

/**
 * F.cross_entropy(logits [N, C], labels [N]) without class weights or ignore_index: per sample
 * −sum_c t_c · log_softmax(logits)_c with target t = (1 − ε)·onehot + ε/C. 'mean' averages over N;
 * 'mean'/'sum' give a scalar of shape [], 'none' gives [N].
 */
export function crossEntropy(
  logits: NDArray,
  labels: readonly number[],
  reduction: LossReduction = 'mean',
  labelSmoothing = 0,
): NDArray {
  if (logits.shape.length !== 2) throw new Error(`crossEntropy expects [N, C] logits, got ${shapeStr(logits.shape)}`);
  const [n, c] = logits.shape;
  if (labels.length !== n) throw new Error(`crossEntropy: ${labels.length} labels for ${n} rows`);
  const logp = logSoftmax(logits, 1);
  const perItem = nd([n]);
  for (let i = 0; i < n; i++) {
    checkIndex(labels[i], c, 'crossEntropy');
    let loss = 0;
    for (let j = 0; j < c; j++) {
      const t = (j === labels[i] ? 1 - labelSmoothing : 0) + labelSmoothing / c;
      // Skip zero-weight terms so that a −∞ log-probability of an unused class cannot turn into NaN.
      if (t !== 0) loss -= t * logp.data[i * c + j];
    }
    perItem.data[i] = loss;
  }
  return reduceLoss(perItem, reduction);
}

export type KlReduction = 'mean' | 'sum' | 'batchmean' | 'none';

/**
 * F.kl_div(input = logQ, target = p) (log_target = false): pointwise p·(log p − logQ), where p = 0
 * contributes 0. 'mean' averages over every element, 'batchmean' divides the sum by the batch size
 * logQ.shape[0] (the true KL divergence per sample), 'none' keeps the pointwise shape.
 */
export function klDiv(logQ: NDArray, p: NDArray, reduction: KlReduction = 'mean'): NDArray {
  if (logQ.shape.length !== p.shape.length || logQ.shape.some((d, k) => d !== p.shape[k])) {
    throw new Error(`klDiv: shapes ${shapeStr(logQ.shape)} and ${shapeStr(p.shape)} differ`);
  }
  const pointwise = nd(p.shape);
  for (let i = 0; i < pointwise.data.length; i++) {
    const t = p.data[i];
    pointwise.data[i] = t === 0 ? 0 : t * (Math.log(t) - logQ.data[i]);
  }
  if (reduction === 'batchmean') {
    const batch = p.shape.length === 0 ? 1 : p.shape[0];
    return scalar(sum(pointwise).data[0] / batch);
  }
  return reduceLoss(pointwise, reduction);
}

// ---------------------------------------------------------------------------------------------
// Batch normalisation (NCHW, per channel)
// ---------------------------------------------------------------------------------------------

function channelParam(v: NDArray, c: number, name: string): void {
  if (v.shape.length !== 1 || v.shape[0] !== c) {
    throw new Error(`batchNorm ${name} must be [${c}], got ${shapeStr(v.shape)}`);
  }
}

/** y = (x − mean_c) / sqrt(var_c + eps) · weight_c + bias_c over an NCHW array. */
function normalizeChannels(x: NDArray, mu: NDArray, vr: NDArray, weight: NDArray, bias: NDArray, eps: number): NDArray {
  const [n, c, h, w] = requireNCHW(x, 'batchNorm2d');
  const params = [[mu, 'mean'], [vr, 'var'], [weight, 'weight'], [bias, 'bias']] as const;
  for (const [v, name] of params) channelParam(v, c, name);
  const out = nd(x.shape);
  const plane = h * w;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const scale = weight.data[ch] / Math.sqrt(vr.data[ch] + eps);
      for (let i = 0; i < plane; i++) {
        const at = (b * c + ch) * plane + i;
        out.data[at] = (x.data[at] - mu.data[ch]) * scale + bias.data[ch];
      }
    }
  }
  return out;
}

/**
 * Per-channel batch statistics of an NCHW array: the mean and the biased variance that training
 * mode normalises with, and the unbiased variance PyTorch folds into running_var.
 */
export function batchNormStats(x: NDArray): { mean: NDArray; variance: NDArray; unbiasedVariance: NDArray } {
  requireNCHW(x, 'batchNormStats');
  return {
    mean: mean(x, [0, 2, 3]),
    variance: variance(x, [0, 2, 3], false),
    unbiasedVariance: variance(x, [0, 2, 3], true),
  };
}

/** BatchNorm2d in training mode: normalise with the batch's own mean and biased variance. */
export function batchNorm2dTrain(x: NDArray, weight: NDArray, bias: NDArray, eps = 1e-5): NDArray {
  const stats = batchNormStats(x);
  return normalizeChannels(x, stats.mean, stats.variance, weight, bias, eps);
}

/** BatchNorm2d in eval mode: normalise with the stored running statistics. */
export function batchNorm2dEval(
  x: NDArray,
  runningMean: NDArray,
  runningVar: NDArray,
  weight: NDArray,
  bias: NDArray,
  eps = 1e-5,
): NDArray {
  return normalizeChannels(x, runningMean, runningVar, weight, bias, eps);
}
