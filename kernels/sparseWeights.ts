// Compressed weights of a pruned convolution: CSR over output channels. Row co holds the non-zero
// weights of filter co, each with its column r = (ci·KH + ky)·KW + kx. Built once on the host from
// dense weights (and an optional mask) and uploaded; the per-input-size offset tables the sparse
// kernel reads (kernels/sparseConv.ts) are derived from the columns and cached here.

import { Tensor } from '../src/engine/tensor.js';

/** Output channels per group of the 'grouped' kernels: one bit each in a row mask of two u32 words. */
export const CHANNEL_GROUP = 64;

/** GPU tables of SparseConv2d.channelGroups. */
export interface ChannelGroups {
  count: number;
  /** u32 [2·(count + 1)]: (first entry, first value) of each group, then the totals. */
  starts: Tensor;
  /** u32 [4·entries]: (patch row, mask of channels 0–31, mask of channels 32–63, 0) per row used by the group. */
  entries: Tensor;
  /** Host copy of `entries`. */
  hostEntries: Uint32Array;
  /** f32 [max(nnz, 1)]: the non-zeros in (group, row, channel) order. */
  values: Tensor;
}

/** GPU tables of SparseConv2d.transposedGroups (shaders/sparse_conv2d_grad_input_grouped.wgsl). */
export interface TransposedGroups {
  /** Groups of CHANNEL_GROUP input channels. */
  count: number;
  /** Position classes (sh·sw: one per stride phase). */
  classes: number;
  /** u32 [2·(count·classes + 1)]: (first entry, first value) of each (group, class), then the totals. */
  starts: Tensor;
  /** u32 [4·entries]: (output channel, mask of channels 0–31, mask of channels 32–63, jy·2^16 + jx) per tap used. */
  entries: Tensor;
  /** f32 [max(nnz, 1)]: the non-zeros in (group, class, entry, channel) order. */
  values: Tensor;
  /** Whether some byte of every mask is likely empty (a group with under 64 channels, or a very sparse layer): the row loop's GATE. */
  gate: boolean;
}

export class SparseConv2d {
  /** Filter shape [Cout, Cin, KH, KW] of the dense weights. */
  readonly shape: readonly [number, number, number, number];
  /** Non-zeros of row co are rowPtr[co] .. rowPtr[co + 1] − 1 (host copy). */
  readonly rowPtr: Uint32Array;
  /** Column r = (ci·KH + ky)·KW + kx of each non-zero (host copy). */
  readonly cols: Uint32Array;
  /** Values of the non-zeros (host copy). */
  readonly values: Float32Array;
  /** GPU copies: row pointers [Cout + 1] (u32) and values [max(nnz, 1)] (f32). */
  readonly rowPtrGpu: Tensor;
  readonly valuesGpu: Tensor;
  private offsetTables = new Map<string, Tensor>();
  private colsTensor: Tensor | null = null;
  private denseIndexTensor: Tensor | null = null;
  private groups: ChannelGroups | null = null;
  private transposedWeights: SparseConv2d | null = null;
  private gradGroups = new Map<string, TransposedGroups>();
  private disposed = false;

  /**
   * Whether a mask chose the kept entries (fromDense with a mask): only then is every weight that
   * trains present, so only then may training take the weights' gradient through this copy.
   */
  readonly fromMask: boolean;

  private constructor(shape: readonly [number, number, number, number], rowPtr: Uint32Array, cols: Uint32Array, values: Float32Array, fromMask = false) {
    this.shape = shape;
    this.fromMask = fromMask;
    this.rowPtr = rowPtr;
    this.cols = cols;
    this.values = values;
    this.rowPtrGpu = Tensor.fromArray(rowPtr, [rowPtr.length], 'u32').keep();
    // A binding cannot be empty: an all-zero filter bank keeps one unused slot.
    this.valuesGpu = Tensor.fromArray(values.length ? values : new Float32Array(1), [Math.max(values.length, 1)]).keep();
  }

  /**
   * Compresses dense weights [Cout, Cin, KH, KW] (row-major). With a mask (same layout, 0 = pruned)
   * it keeps every entry the mask keeps, zeros included: those are weights being trained, and
   * training through the compressed copy (sparseConv2dGradWeightKernel) owes each of them a
   * gradient. Without one it keeps the non-zero weights.
   */
  static fromDense(weights: Float32Array, shape: readonly number[], mask?: ArrayLike<number>): SparseConv2d {
    if (shape.length !== 4) throw new Error(`SparseConv2d: expected weight shape [Cout, Cin, KH, KW], got [${shape.join(', ')}]`);
    const [cout, cin, kh, kw] = shape;
    const k = cin * kh * kw;
    if (weights.length !== cout * k) throw new Error(`SparseConv2d: ${weights.length} weights for shape [${shape.join(', ')}]`);
    if (mask && mask.length !== weights.length) throw new Error(`SparseConv2d: mask has ${mask.length} entries, weights ${weights.length}`);
    const rowPtr = new Uint32Array(cout + 1);
    const cols: number[] = [];
    const values: number[] = [];
    for (let co = 0; co < cout; co++) {
      for (let r = 0; r < k; r++) {
        const i = co * k + r;
        if (mask ? mask[i] !== 0 : weights[i] !== 0) {
          cols.push(r);
          values.push(weights[i]);
        }
      }
      rowPtr[co + 1] = cols.length;
    }
    return new SparseConv2d([cout, cin, kh, kw], rowPtr, Uint32Array.from(cols), Float32Array.from(values), !!mask);
  }

  /** Reads dense weights (and a mask) back from the GPU and compresses them. */
  static async fromTensors(w: Tensor, mask?: Tensor): Promise<SparseConv2d> {
    const wd = (await w.data()) as Float32Array;
    const md = mask ? await mask.data() : undefined;
    return SparseConv2d.fromDense(wd, w.shape, md);
  }

  get nnz(): number {
    return this.values.length;
  }

  /** Fraction of the dense weights that are zero. */
  get sparsity(): number {
    const [cout, cin, kh, kw] = this.shape;
    const total = cout * cin * kh * kw;
    return total ? 1 - this.nnz / total : 0;
  }

  /**
   * Offsets ci·Hp·Wp + ky·Wp + kx of every non-zero into one item of an input padded to hp × wp
   * (u32 [max(nnz, 1)]), computed on the host once per input size.
   */
  offsetsFor(hp: number, wp: number): Tensor {
    if (this.disposed) throw new Error('SparseConv2d: used after dispose()');
    const key = `${hp}x${wp}`;
    let t = this.offsetTables.get(key);
    if (!t) {
      const offs = new Uint32Array(Math.max(this.nnz, 1));
      for (let i = 0; i < this.nnz; i++) offs[i] = this.paddedOffset(this.cols[i], hp, wp);
      t = Tensor.fromArray(offs, [offs.length], 'u32').keep();
      this.offsetTables.set(key, t);
    }
    return t;
  }

  /** Input channel and tap (ci, ky, kx) of patch row r = (ci·KH + ky)·KW + kx. */
  private tap(r: number): [number, number, number] {
    const [, , kh, kw] = this.shape;
    return [Math.floor(r / (kh * kw)), Math.floor((r % (kh * kw)) / kw), r % kw];
  }

  /** Offset ci·Hp·Wp + ky·Wp + kx of patch row r in one padded input item. */
  private paddedOffset(r: number, hp: number, wp: number): number {
    const [ci, ky, kx] = this.tap(r);
    return ci * hp * wp + ky * wp + kx;
  }

  /** GPU copy of the columns (u32 [max(nnz, 1)]), uploaded on first use (the 'spmm' kernel reads it). */
  colsGpu(): Tensor {
    if (this.disposed) throw new Error('SparseConv2d: used after dispose()');
    if (!this.colsTensor) this.colsTensor = Tensor.fromArray(this.nnz ? this.cols : new Uint32Array(1), [Math.max(this.nnz, 1)], 'u32').keep();
    return this.colsTensor;
  }

  /**
   * Index co·Cin·KH·KW + r of every non-zero in the dense weights (u32 [max(nnz, 1)], CSR order),
   * uploaded on first use: where the weight gradient's entries go.
   */
  denseIndexGpu(): Tensor {
    if (this.disposed) throw new Error('SparseConv2d: used after dispose()');
    if (!this.denseIndexTensor) {
      const [cout, cin, kh, kw] = this.shape;
      const idx = new Uint32Array(Math.max(this.nnz, 1));
      for (let co = 0; co < cout; co++) for (let k = this.rowPtr[co]; k < this.rowPtr[co + 1]; k++) idx[k] = co * cin * kh * kw + this.cols[k];
      this.denseIndexTensor = Tensor.fromArray(idx, [idx.length], 'u32').keep();
    }
    return this.denseIndexTensor;
  }

  /**
   * The weights by groups of CHANNEL_GROUP output channels (the 'grouped' kernel,
   * shaders/sparse_conv2d_grouped.wgsl), built and uploaded on first use: for group g, the patch
   * rows any of its channels uses, each with the bit mask of those channels, and the values in
   * (row, channel) order.
   */
  channelGroups(): ChannelGroups {
    if (this.disposed) throw new Error('SparseConv2d: used after dispose()');
    if (this.groups) return this.groups;
    const [cout, cin, kh, kw] = this.shape;
    const rows = cin * kh * kw;
    const ngroups = Math.ceil(cout / CHANNEL_GROUP);
    const starts = new Uint32Array(2 * (ngroups + 1));
    const entries: number[] = [];
    const values = new Float32Array(Math.max(this.nnz, 1));
    let nv = 0;
    // Per group, the next non-zero of each channel (CSR rows are sorted by column).
    for (let g = 0; g < ngroups; g++) {
      starts[2 * g] = entries.length / 4;
      starts[2 * g + 1] = nv;
      const c0 = g * CHANNEL_GROUP;
      const c1 = Math.min(cout, c0 + CHANNEL_GROUP);
      const next = Array.from({ length: c1 - c0 }, (_, i) => this.rowPtr[c0 + i]);
      for (let r = 0; r < rows; r++) {
        const mask = [0, 0];
        for (let i = 0; i < next.length; i++) {
          const k = next[i];
          if (k < this.rowPtr[c0 + i + 1] && this.cols[k] === r) {
            mask[i >> 5] |= 1 << (i & 31);
            values[nv++] = this.values[k];
            next[i] = k + 1;
          }
        }
        if (mask[0] !== 0 || mask[1] !== 0) entries.push(r, mask[0] >>> 0, mask[1] >>> 0, 0);
      }
    }
    starts[2 * ngroups] = entries.length / 4;
    starts[2 * ngroups + 1] = nv;
    const hostEntries = entries.length ? Uint32Array.from(entries) : new Uint32Array(4);
    this.groups = {
      count: ngroups,
      starts: Tensor.fromArray(starts, [starts.length], 'u32').keep(),
      entries: Tensor.fromArray(hostEntries, [hostEntries.length], 'u32').keep(),
      hostEntries,
      values: Tensor.fromArray(values, [values.length]).keep(),
    };
    return this.groups;
  }

  /**
   * channelGroups' entries for the kernel that gathers from the input itself ('grouped-direct'):
   * each patch row r = (ci·KH + ky)·KW + kx becomes the offset ci·H·W of its input plane in one
   * item, and the entry's last word ky·2^16 + kx (the kernel tests each tap against the plane's
   * bounds, so no padded copy of the input is needed); cached per input size.
   */
  groupEntriesFor(h: number, w: number): Tensor {
    const groups = this.channelGroups();
    const key = `direct ${h}x${w}`;
    let t = this.offsetTables.get(key);
    if (!t) {
      const out = Uint32Array.from(groups.hostEntries);
      for (let i = 0; i < out.length; i += 4) {
        const [ci, ky, kx] = this.tap(out[i]);
        out[i] = ci * h * w;
        out[i + 3] = (ky << 16) | kx;
      }
      t = Tensor.fromArray(out, [out.length], 'u32').keep();
      this.offsetTables.set(key, t);
    }
    return t;
  }

  /**
   * Wᵀ as the weights of a 1×1 conv, shape [Cin·KH·KW, Cout, 1, 1]: row r holds the non-zeros of
   * patch row r = (ci·KH + ky)·KW + kx, its columns the output channels. The input gradient's patch
   * products are that conv applied to the output gradient (kernels/sparseConv.ts
   * sparseConv2dGradInputKernel). Built on the host from the CSR on first use; disposed with this.
   */
  transposed(): SparseConv2d {
    if (this.disposed) throw new Error('SparseConv2d: used after dispose()');
    if (this.transposedWeights) return this.transposedWeights;
    const [cout, cin, kh, kw] = this.shape;
    const k = cin * kh * kw;
    const rowPtr = new Uint32Array(k + 1);
    for (const r of this.cols) rowPtr[r + 1]++;
    for (let r = 0; r < k; r++) rowPtr[r + 1] += rowPtr[r];
    const next = rowPtr.slice(0, k);
    const cols = new Uint32Array(this.nnz);
    const values = new Float32Array(this.nnz);
    // Channels in increasing order, so each row's columns come out sorted (as fromDense's).
    for (let co = 0; co < cout; co++)
      for (let i = this.rowPtr[co]; i < this.rowPtr[co + 1]; i++) {
        const j = next[this.cols[i]]++;
        cols[j] = co;
        values[j] = this.values[i];
      }
    this.transposedWeights = new SparseConv2d([k, cout, 1, 1], rowPtr, cols, values);
    return this.transposedWeights;
  }

  /**
   * The weights for the gathered input gradient at strides (sh, sw)
   * (shaders/sparse_conv2d_grad_input_grouped.wgsl), built and uploaded on first use: input
   * channels CHANNEL_GROUP at a time; within a group, for each stride phase (cy, cx) (the taps
   * ky = cy + jy·sh, kx = cx + jx·sw), each (co, jy, jx) that any of the group's channels uses,
   * with the bit mask of those channels, and the values in (entry, channel) order.
   */
  transposedGroups(sh: number, sw: number): TransposedGroups {
    if (this.disposed) throw new Error('SparseConv2d: used after dispose()');
    const key = `${sh}x${sw}`;
    const cached = this.gradGroups.get(key);
    if (cached) return cached;
    const [cout, cin, kh, kw] = this.shape;
    const taps = kh * kw;
    // The dense weights, [Cout, Cin·KH·KW] (zeros where pruned).
    const dense = new Float32Array(cout * cin * taps);
    for (let co = 0; co < cout; co++)
      for (let i = this.rowPtr[co]; i < this.rowPtr[co + 1]; i++) dense[co * cin * taps + this.cols[i]] = this.values[i];
    const count = Math.ceil(cin / CHANNEL_GROUP);
    const classes = sh * sw;
    const starts = new Uint32Array(2 * (count * classes + 1));
    const entries: number[] = [];
    const values = new Float32Array(Math.max(this.nnz, 1));
    let nv = 0;
    for (let g = 0; g < count; g++) {
      const c0 = g * CHANNEL_GROUP;
      const c1 = Math.min(cin, c0 + CHANNEL_GROUP);
      for (let k = 0; k < classes; k++) {
        const cy = Math.floor(k / sw);
        const cx = k % sw;
        starts[2 * (g * classes + k)] = entries.length / 4;
        starts[2 * (g * classes + k) + 1] = nv;
        for (let co = 0; co < cout; co++)
          for (let ky = cy, jy = 0; ky < kh; ky += sh, jy++)
            for (let kx = cx, jx = 0; kx < kw; kx += sw, jx++) {
              const mask = [0, 0];
              for (let ci = c0; ci < c1; ci++) {
                const v = dense[(co * cin + ci) * taps + ky * kw + kx];
                if (v === 0) continue;
                mask[(ci - c0) >> 5] |= 1 << ((ci - c0) & 31);
                values[nv++] = v;
              }
              if (mask[0] !== 0 || mask[1] !== 0) entries.push(co, mask[0] >>> 0, mask[1] >>> 0, (jy << 16) | jx);
            }
      }
    }
    starts[2 * count * classes] = entries.length / 4;
    starts[2 * count * classes + 1] = nv;
    const hostEntries = entries.length ? Uint32Array.from(entries) : new Uint32Array(4);
    const groups: TransposedGroups = {
      count,
      classes,
      starts: Tensor.fromArray(starts, [starts.length], 'u32').keep(),
      entries: Tensor.fromArray(hostEntries, [hostEntries.length], 'u32').keep(),
      values: Tensor.fromArray(values, [values.length]).keep(),
      gate: cin < CHANNEL_GROUP || this.sparsity >= 0.93,
    };
    this.gradGroups.set(key, groups);
    return groups;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.transposedWeights?.dispose();
    this.transposedWeights = null;
    for (const t of this.gradGroups.values()) for (const u of [t.starts, t.entries, t.values]) u.dispose();
    this.gradGroups.clear();
    if (this.groups) for (const t of [this.groups.starts, this.groups.entries, this.groups.values]) t.dispose();
    this.groups = null;
    this.rowPtrGpu.dispose();
    this.valuesGpu.dispose();
    this.colsTensor?.dispose();
    this.colsTensor = null;
    this.denseIndexTensor?.dispose();
    this.denseIndexTensor = null;
    for (const t of this.offsetTables.values()) t.dispose();
    this.offsetTables.clear();
  }
}
