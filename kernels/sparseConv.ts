// Launchers for the forward convolution with pruned weights stored sparse (inference). Four kernels:
// - 'direct' (shaders/sparse_conv2d.wgsl): the input is zero-padded into a scratch tensor first so
//   the inner loop has no bounds checks (about one pass over the activations), then each non-zero
//   costs 8 gathered scalar loads for 8 output positions.
// - 'spmm' (shaders/sparse_conv2d_spmm.wgsl): the patches are unfolded by the dense GEMM path's
//   im2col (kernels/conv2d.ts, a chunk of batch items at a time) and the CSR rows multiply them, one
//   aligned vec4 load per non-zero and 4 positions.
// - 'grouped' (shaders/sparse_conv2d_grouped.wgsl): the same unfolded patches, the output channels
//   64 at a time, so one patch load feeds every channel of the group that uses that row (a bit mask
//   per row) and each non-zero costs one value load.
// - 'grouped-direct' (shaders/sparse_conv2d_grouped_direct.wgsl): the same groups, gathering from
//   the input itself (each tap tested against the plane's bounds) instead of unfolded patches.
// The grouped kernels also apply the layer's epilogue as they store (SparseConvEpilogue: a folded
// eval-mode batch norm, a shortcut, ReLU); the CSR ones add a bias only.
// CPU adapters pick per layer ('auto', below).
// The weight gradient (sparseConv2dGradWeightKernel: training a pruned model through its compressed
// copy, masks fixed) is a sampled product over the kept weights only
// (shaders/sparse_conv2d_grad_weight.wgsl) on very sparse layers, else the dense GEMM's, and in
// either case only the kept weights' entries are stored.
// The input gradient (sparseConv2dGradInputKernel: attacks on a compressed model) gathers with
// input-channel groups (shaders/sparse_conv2d_grad_input_grouped.wgsl) on CPU adapters, or runs the
// forward kernel in force on the transposed weights, then the dense path's col2im.

import { runtime } from '../src/engine/engine.js';
import { Tensor } from '../src/engine/tensor.js';
import { stridedCopyKernel } from './copy.js';
import { col2im, conv2dGradWeightKernel, convGeometry, im2col, type ConvGeometry } from './conv2d.js';
import { fillKernel } from './elementwise.js';
import { Params, type Binding } from './runtime.js';
import type { SparseConv2d } from './sparseWeights.js';
import { activeTuning, type SparseConvKernelName } from './tuning.js';

let forcedKernel: SparseConvKernelName | null = null;
/** Forces a sparse conv kernel (tests cover each); null restores the tuned choice. */
export function forceSparseConvKernel(k: SparseConvKernelName | null): void {
  forcedKernel = k;
}

/** The kernel setting in force: forced, else the adapter's tuning, else 'direct'. */
export function sparseConvKernel(): SparseConvKernelName {
  return forcedKernel ?? activeTuning()?.sparseConvKernel ?? 'direct';
}

/**
 * 'auto' (CPU adapters): the 64-channel groups, gathering from the input ('grouped-direct') for
 * layers with more than 32 patch rows and on im2col's unfolded patches ('grouped') for the first
 * layers (1 or 3 input channels), where unfolding is cheap and the kernel's loads are vec4s.
 * Measured on lavapipe (`node dist/bench/sparseAb.js layers --model smallcnn|resnet18 --kernels
 * grouped,grouped-direct`, process CPU time, interleaved medians beside a training run, 27 November)
 * at 80% sparsity, grouped-direct against grouped: SmallCNN 32→64 s2 72 against 96 ms, 64→128 s2 82
 * against 99, ResNet-18 64→64 @32×32 218 against 254, 128→128 @16×16 207 against 266, 256→256 @8×8
 * and 512→512 @4×4 even; 3→64 37 against 32 and 1→32 29 against 27 (single small layers swing by
 * ±30%; end to end, SmallCNN b128 at 80% ran in 200 ms unfolding conv1 against 232 ms gathering it,
 * interleaved medians of 21, but 148 against 142 and 121 against 112 at 90 and 95%). (Before it tested the padding
 * itself, grouped-direct read a zero-padded copy of the input: 20–30% slower on these shapes, so it
 * was kept to stride-1 layers with large planes.) Against the tuned dense conv the chosen kernel
 * ran 1.13–2.35× at 80% on every shape (bench/results/sparse-ab-layers.json for the full table).
 */
function resolveKernel(g: ConvGeometry): Exclude<SparseConvKernelName, 'auto'> {
  const k = sparseConvKernel();
  if (k !== 'auto') return k;
  return g.cin * g.kh * g.kw > 32 ? 'grouped-direct' : 'grouped';
}

/** Output positions per invocation (written out in the shader as two vec4 accumulators), WG_X apart. */
const POSITIONS_PER_INVOCATION = 8;
const WG_X = 64;

/** x [N, Cin, H, W] → x zero-padded to [N, Cin, H + 2·padH, W + 2·padW] (x itself without padding). */
function padInput(x: Tensor, g: ConvGeometry): Tensor {
  if (g.padH === 0 && g.padW === 0) return x;
  const hp = g.h + 2 * g.padH;
  const wp = g.w + 2 * g.padW;
  const xp = fillKernel([g.batch, g.cin, hp, wp], 0);
  stridedCopyKernel(
    'sparse_conv2d_pad',
    x,
    { offset: 0, strides: [g.cin * g.h * g.w, g.h * g.w, g.w, 1] },
    xp,
    { offset: g.padH * wp + g.padW, strides: [g.cin * hp * wp, hp * wp, wp, 1] },
    [g.batch, g.cin, g.h, g.w],
  );
  return xp;
}

/**
 * What a sparse kernel does with each output as it stores it: y = acc·scale[c] + shift[c]
 * (+ residual), then ReLU. shift alone is the conv's bias; scale and shift together are an
 * eval-mode batch norm folded in, so conv → BN → ReLU stores its output once.
 */
export interface SparseConvEpilogue {
  /** f32 [Cout] or null (1). */
  scale: Tensor | null;
  /** f32 [Cout] or null (0). */
  shift: Tensor | null;
  /** f32 [N, Cout, OH, OW] added after the affine (a residual block's shortcut) or null. */
  residual: Tensor | null;
  relu: boolean;
}

/** Flag bits of shaders/sparse_group_epilogue.wgsl. */
function epilogueFlags(e: SparseConvEpilogue): number {
  return (e.scale ? 1 : 0) | (e.shift ? 2 : 0) | (e.residual ? 4 : 0) | (e.relu ? 8 : 0);
}

/**
 * Whether the kernel chosen for g applies a whole epilogue. The CSR kernels ('direct', 'spmm')
 * add a bias only: with them the caller (src/ops/sparseConv.ts) applies the rest as separate ops.
 */
export function sparseConvFusesEpilogue(g: ConvGeometry): boolean {
  const k = resolveKernel(g);
  return k === 'grouped' || k === 'grouped-direct';
}

export function sparseConv2dKernel(x: Tensor, sparse: SparseConv2d, epilogue: SparseConvEpilogue, g: ConvGeometry): Tensor {
  const k = resolveKernel(g);
  if (k === 'grouped' || k === 'grouped-direct') return (k === 'grouped' ? groupedConv : groupedDirectConv)(x, sparse, epilogue, g);
  if (epilogue.scale || epilogue.residual || epilogue.relu)
    throw new Error(`sparse conv kernel '${k}' adds a bias only; apply scale, residual and ReLU after it (sparseConvFusesEpilogue)`);
  return (k === 'spmm' ? spmmConv : directConv)(x, sparse, epilogue.shift, g);
}

function directConv(x: Tensor, sparse: SparseConv2d, bias: Tensor | null, g: ConvGeometry): Tensor {
  const y = Tensor.empty([g.batch, g.cout, g.oh, g.ow]);
  if (y.size === 0) return y;
  const hp = g.h + 2 * g.padH;
  const wp = g.w + 2 * g.padW;
  const xp = padInput(x, g);
  const nq = g.batch * g.oh * g.ow;
  runtime().dispatch(
    'sparse_conv2d',
    { shader: 'sparse_conv2d', bindings: ['read', 'read', 'read', 'read', 'read', 'write'], constants: { WG_X } },
    [
      xp.binding(),
      sparse.rowPtrGpu.binding(),
      sparse.offsetsFor(hp, wp).binding(),
      sparse.valuesGpu.binding(),
      // Without a bias the kernel never reads binding 4; any read-only buffer fills the slot.
      (bias ?? sparse.valuesGpu).binding(),
      y.binding(),
    ],
    new Params()
      .u(g.batch, g.cout, g.oh, g.ow)
      .u(g.cin * hp * wp, wp, g.strideH, g.strideW)
      .u(bias ? 1 : 0, 0, 0, 0)
      .build(),
    [g.cout, Math.ceil(nq / (POSITIONS_PER_INVOCATION * WG_X))],
  );
  if (xp !== x) xp.dispose();
  return y;
}

/** Bytes of unfolded patches per chunk of batch items (lowered by tests to force several chunks). */
let spmmColsBudget = 64 * 1024 * 1024;
export function setSparseColsBudget(bytes: number): void {
  spmmColsBudget = bytes;
}

/** Batch items per chunk of a per-item scratch of `bytesPerItem` (unfolded patches, patch gradients), within the budget and the binding limit. */
function itemsPerChunk(bytesPerItem: number, batch: number): number {
  const limit = Math.min(spmmColsBudget, runtime().limits.maxStorageBufferBindingSize ?? spmmColsBudget);
  return Math.max(1, Math.min(batch, Math.floor(limit / bytesPerItem)));
}

/** vec4s of output positions per invocation of the 'spmm' kernel, and its workgroup width. */
// V = 4 measured the same as 2 within noise. Two variants measured slower on lavapipe at
// 32->64 @28x28 s2, b128 and were dropped: sharing the CSR entries by subgroup broadcasts (as
// matmul_subgroup.wgsl shares A; 1.3-1.8x slower), and merging the rows of 4 or 8 output channels
// so each patch load feeds all of them (zeros where a channel lacks the column; 1.1-2.9x slower at
// 80-95%: the FMAs on zeros cost more than the loads they save).
const SPMM_V = 2;
const SPMM_WG = 64;

/**
 * The patches unfolded by im2col a chunk of batch items at a time (within the binding limit), each
 * chunk multiplied by `multiply` into y: [batch, Cout, OH·OW] when the kernel writes `exact`
 * planes, else [batch, Cout, pitch] (whole vec4s), cropped to OH·OW after.
 */
function unfoldedConv(
  x: Tensor,
  g: ConvGeometry,
  multiply: (cols: Tensor, y: Tensor, shape: { rows: number; pitch: number; b0: number; nb: number }) => void,
  exact = false,
): Tensor {
  const { rows, pitch, bytes: perItem } = unfoldedItem(g);
  const npos = g.oh * g.ow;
  if (g.batch * g.cout * npos === 0) return Tensor.empty([g.batch, g.cout, g.oh, g.ow]);
  const y = Tensor.empty([g.batch, g.cout, exact ? npos : pitch]);
  const chunk = itemsPerChunk(perItem, g.batch);
  for (let b0 = 0; b0 < g.batch; b0 += chunk) {
    const nb = Math.min(chunk, g.batch - b0);
    const cols = im2col(x, g, { rows, pitch }, b0, nb);
    multiply(cols, y, { rows, pitch, b0, nb });
    cols.dispose();
  }
  if (exact || pitch === npos) return y.reshapedInto([g.batch, g.cout, g.oh, g.ow]);
  const out = Tensor.empty([g.batch, g.cout, g.oh, g.ow]);
  stridedCopyKernel('sparse_conv2d_crop', y, { offset: 0, strides: [g.cout * pitch, pitch, 1] }, out, { offset: 0, strides: [g.cout * npos, npos, 1] }, [g.batch, g.cout, npos]);
  y.dispose();
  return out;
}

function spmmConv(x: Tensor, sparse: SparseConv2d, bias: Tensor | null, g: ConvGeometry): Tensor {
  if (tooBigToUnfold(g)) return directConv(x, sparse, bias, g);
  const cidx = sparse.colsGpu();
  const npos = g.oh * g.ow;
  return unfoldedConv(x, g, (cols, y, { rows, pitch, b0, nb }) =>
    runtime().dispatch(
      'sparse_conv2d_spmm',
      { shader: 'sparse_conv2d_spmm', bindings: ['read', 'read', 'read', 'read', 'read', 'write'], constants: { WG_X: SPMM_WG, V: SPMM_V } },
      [cols.binding(), sparse.rowPtrGpu.binding(), cidx.binding(), sparse.valuesGpu.binding(), (bias ?? sparse.valuesGpu).binding(), y.binding()],
      new Params()
        .u(g.cout, npos, pitch / 4, rows)
        .u((b0 * g.cout * pitch) / 4, bias ? 1 : 0, (nb * pitch) / 4, 0)
        .build(),
      [g.cout, Math.ceil((nb * pitch) / 4 / (SPMM_WG * SPMM_V))],
    ),
  );
}

/** vec4s of output positions per invocation of the 'grouped' kernels, and their widest workgroup. */
// V = 4 measured 1.1–1.4× faster than V = 2 at 80% (more positions share each row's mask and values);
// V = 8 (32 lanes) measured slower again (with 32-channel groups: 1.07× dense against 1.41× on
// SmallCNN's conv2 at 80%).
const GROUPED_V = 4;
const GROUPED_WG = 64;

/**
 * Workgroup width for `nvec` vec4s of positions, each lane taking GROUPED_V of them: 64 lanes, and
 * for layers with fewer than 4·64 vec4s the smallest of 8, 16 or 32 lanes that covers them, so that
 * each row's mask tests and values serve 16 positions per lane wherever the layer has them (powers
 * of two: at most four pipelines per kernel as AutoAttack's and DIE's batches shrink). ResNet-18's
 * 512→512 @4×4 at batch 32 has 128 vec4s: before, 64 lanes of 2 vec4s (4 at 64 lanes had half of
 * every lane's work clamped copies: 403 → 286 ms with 2 at 80%); now 32 lanes of 4. Interleaved A/B
 * of the two on the whole pruned ResNet-18 at batch 32, 80% (process CPU, lavapipe, bench/sparseAb.ts
 * with a temporary switch between the two, 28 November): forward 2525 → 2190 ms (1.84× → 2.10×
 * dense; again 2571 → 2223 ms), attack step 5270 → 4676 ms (1.81× → 2.00×); 90%: forward 1595 →
 * 1468 ms. 16 or 8 lanes of 4 measured the same as 32 within noise, and 32 lanes on the larger
 * layers too (2304 against 2264 ms), so those keep 64.
 */
function groupedWidth(nvec: number): number {
  let wg = 8;
  while (wg < GROUPED_WG && wg * GROUPED_V < nvec) wg *= 2;
  return wg;
}
const GROUPED_BINDINGS = ['read', 'read', 'read', 'read', 'read', 'read', 'read', 'write'] as const;

/**
 * Whether the row loop skips 8 channels at a time when their byte of the mask is empty
 * (shaders/sparse_group_row.wgsl GATE): a byte is empty with probability s^8, 0.17 at 80%
 * sparsity and 0.66 at 95%. Interleaved A/B on SmallCNN's and ResNet-18's layers (process CPU):
 * within noise to slightly slower at 80–90%, about 10% faster at 95% (SmallCNN conv2 38 against
 * 42 ms, conv3 34 against 38), the sparsity of EED's sub-models.
 */
function byteGate(sparse: SparseConv2d): number {
  return sparse.sparsity >= 0.93 ? 1 : 0;
}

/** SCALE, SHIFT and RESIDUAL of the grouped kernels; a slot whose flag is off holds `filler` (never read). */
function epilogueBindings(e: SparseConvEpilogue, filler: Tensor): Binding[] {
  return [e.scale, e.shift, e.residual].map((t) => (t ?? filler).binding());
}

/** 'grouped-direct': the 64-channel groups gathering from the input itself (no unfolded patches, no padded copy). */
function groupedDirectConv(x: Tensor, sparse: SparseConv2d, epilogue: SparseConvEpilogue, g: ConvGeometry): Tensor {
  const y = Tensor.empty([g.batch, g.cout, g.oh, g.ow]);
  if (y.size === 0) return y;
  const groups = sparse.channelGroups();
  const nq = g.batch * g.oh * g.ow;
  const nvec = Math.ceil(nq / 4);
  const wg = groupedWidth(nvec);
  runtime().dispatch(
    'sparse_conv2d_grouped_direct',
    { shader: 'sparse_conv2d_grouped_direct', bindings: GROUPED_BINDINGS, constants: { WG_X: wg, V: GROUPED_V, GATE: byteGate(sparse) } },
    [x.binding(), groups.starts.binding(), sparse.groupEntriesFor(g.h, g.w).binding(), groups.values.binding(), ...epilogueBindings(epilogue, groups.values), y.binding()],
    new Params()
      .u(g.cout, nq, g.oh * g.ow, g.ow)
      .u(g.cin * g.h * g.w, g.h, g.w, g.strideH)
      .u(g.strideW, g.padH, g.padW, epilogueFlags(epilogue))
      .u(nvec, 0, 0, 0)
      .build(),
    [groups.count, Math.ceil(nvec / (wg * GROUPED_V))],
  );
  return y;
}

/** 'grouped': the 64-channel groups on im2col's unfolded patches. */
function groupedConv(x: Tensor, sparse: SparseConv2d, epilogue: SparseConvEpilogue, g: ConvGeometry): Tensor {
  // One item's patches over the binding limit: the same groups gathering from the padded input.
  if (tooBigToUnfold(g)) return groupedDirectConv(x, sparse, epilogue, g);
  const groups = sparse.channelGroups();
  const npos = g.oh * g.ow;
  return unfoldedConv(x, g, (cols, y, { rows, pitch, b0, nb }) => {
    const wg = groupedWidth((nb * pitch) / 4);
    runtime().dispatch(
      'sparse_conv2d_grouped',
      { shader: 'sparse_conv2d_grouped', bindings: GROUPED_BINDINGS, constants: { WG_X: wg, V: GROUPED_V, GATE: byteGate(sparse) } },
      [cols.binding(), groups.starts.binding(), groups.entries.binding(), groups.values.binding(), ...epilogueBindings(epilogue, groups.values), y.binding()],
      new Params()
        .u(g.cout, npos, pitch / 4, rows)
        .u(b0 * g.cout * npos, epilogueFlags(epilogue), (nb * pitch) / 4, 0)
        .build(),
      [groups.count, Math.ceil((nb * pitch) / 4 / (wg * GROUPED_V))],
    );
  }, true);
}

/** One batch item's unfolded patches: `rows` patch rows of `pitch` positions (both multiples of 4), in bytes. */
function unfoldedItem(g: ConvGeometry): { rows: number; pitch: number; bytes: number } {
  const rows = Math.ceil((g.cin * g.kh * g.kw) / 4) * 4;
  const pitch = Math.ceil((g.oh * g.ow) / 4) * 4;
  return { rows, pitch, bytes: rows * pitch * 4 };
}

/** Whether one item's patches exceed the binding limit (then a kernel reading the input itself runs). */
function tooBigToUnfold(g: ConvGeometry): boolean {
  return unfoldedItem(g).bytes > (runtime().limits.maxStorageBufferBindingSize ?? Infinity);
}

const NO_EPILOGUE: SparseConvEpilogue = { scale: null, shift: null, residual: null, relu: false };

/**
 * The input gradient of the sparse conv: gx = convᵀ(gy, W), so attacks on a compressed model skip
 * the zeros in their backward passes too. With the grouped kernels ('auto' on CPU adapters, or
 * 'grouped-direct' forced) it gathers (shaders/sparse_conv2d_grad_input_grouped.wgsl: input
 * channels 64 at a time, positions split by stride phase). With the others the patch gradients
 * dcols[b, r, q] = Σ_co W[co, r]·gy[b, co, q] (r = (ci·KH + ky)·KW + kx) are a 1×1 conv of gy,
 * viewed as [N, Cout, 1, OH·OW], with Wᵀ (SparseConv2d.transposed), run by the forward kernel
 * in force, and the dense path's col2im folds them onto the image, a chunk of batch items at a
 * time (patch gradients within the binding limit). Measured on lavapipe, SmallCNN's PGD step at
 * 80% (batch 128, bench/profile.ts sparse-pgd): the unfolded path spent 320 ms in its 1×1 convs
 * (Cin·9 output rows per position to store) and 117 ms in col2im, against 178 ms for the forward.
 */
export function sparseConv2dGradInputKernel(gy: Tensor, sparse: SparseConv2d, g: ConvGeometry): Tensor {
  const setting = sparseConvKernel();
  if (setting === 'auto' || setting === 'grouped-direct') return gatheredGradInput(gy, sparse, g);
  const gx = Tensor.empty([g.batch, g.cin, g.h, g.w]);
  if (gx.size === 0) return gx;
  const t = sparse.transposed();
  const rows = g.cin * g.kh * g.kw;
  const npos = g.oh * g.ow;
  const chunk = itemsPerChunk(rows * npos * 4, g.batch);
  for (let b0 = 0; b0 < g.batch; b0 += chunk) {
    const nb = Math.min(chunk, g.batch - b0);
    const part = nb < g.batch ? batchSlice(gy, b0, nb) : gy;
    const dcols = sparseConv2dKernel(part, t, NO_EPILOGUE, convGeometry([nb, g.cout, 1, npos], t.shape, [1, 1], [0, 0]));
    if (part !== gy) part.dispose();
    col2im(dcols, gx, g, { rows, pitch: npos }, b0, nb);
    dcols.dispose();
  }
  return gx;
}

/** The gathered input gradient (see sparseConv2dGradInputKernel). */
function gatheredGradInput(gy: Tensor, sparse: SparseConv2d, g: ConvGeometry): Tensor {
  const gx = Tensor.empty([g.batch, g.cin, g.h, g.w]);
  if (gx.size === 0) return gx;
  const t = sparse.transposedGroups(g.strideH, g.strideW);
  // The largest class: rows ⌈H/sh⌉ by columns ⌈W/sw⌉ of every item.
  const nvec = Math.ceil((g.batch * Math.ceil(g.h / g.strideH) * Math.ceil(g.w / g.strideW)) / 4);
  const wg = groupedWidth(nvec);
  runtime().dispatch(
    'sparse_conv2d_grad_input',
    { shader: 'sparse_conv2d_grad_input_grouped', bindings: ['read', 'read', 'read', 'read', 'write'], constants: { WG_X: wg, V: GROUPED_V, GATE: t.gate ? 1 : 0 } },
    [gy.binding(), t.starts.binding(), t.entries.binding(), t.values.binding(), gx.binding()],
    new Params()
      .u(g.cin, g.h, g.w, g.cout * g.oh * g.ow)
      .u(g.oh, g.ow, g.strideH, g.strideW)
      .u(g.padH, g.padW, t.classes, g.batch)
      .build(),
    [t.count, Math.ceil(nvec / (wg * GROUPED_V)), t.classes],
  );
  return gx;
}

/**
 * Invocations the weight gradient aims for (non-zeros × batch slices): a CPU adapter runs a few
 * workgroups per core, each reducing long runs of products without barriers; a GPU needs tens of
 * thousands in flight, so there the batch is cut into more slices.
 */
const gradWeightLanes = (): number => (runtime().adapterInfo.isSoftware ? 2048 : 65536);

/** How the weight gradient of a compressed conv is computed (see sparseConv2dGradWeightKernel). */
export type SparseGradWeightPath = 'sampled' | 'dense';
let forcedGradWeight: SparseGradWeightPath | null = null;
/** Forces a weight-gradient path (tests cover both); null restores the choice by density. */
export function forceSparseGradWeight(path: SparseGradWeightPath | null): void {
  forcedGradWeight = path;
}

/**
 * Density up to which the sampled product beats the dense GEMM's weight gradient. On lavapipe it
 * does about 14× less per multiply-add than the GEMM (SmallCNN b128, 80%: 190 M products in 930 ms
 * against 924 M in 330 ms plus im2col, `node dist/bench/profile.js sparse-train`), so it wins only
 * on layers keeping under about a tenth of their weights.
 */
const SAMPLED_MAX_DENSITY = 0.1;

/**
 * ∂L/∂W of conv(x, W) at the kept weights of `sparse` (zero elsewhere), from gy = ∂L/∂y
 * [N, Cout, OH, OW]: dense [Cout, Cin, KH, KW], as mask ⊙ (∂L/∂W) of the masked dense path. A
 * sparse layer takes the sampled product over its kept weights
 * (shaders/sparse_conv2d_grad_weight.wgsl); a denser one the dense path's GEMM, sampled at them.
 */
export function sparseConv2dGradWeightKernel(x: Tensor, gy: Tensor, sparse: SparseConv2d, g: ConvGeometry): Tensor {
  const gw = fillKernel([g.cout, g.cin, g.kh, g.kw], 0);
  const nnz = sparse.nnz;
  if (nnz === 0 || g.batch === 0) return gw;
  const didx = sparse.denseIndexGpu();
  const path = forcedGradWeight ?? (1 - sparse.sparsity <= SAMPLED_MAX_DENSITY ? 'sampled' : 'dense');
  if (path === 'dense') {
    const full = conv2dGradWeightKernel(x, gy, g);
    try {
      scatterKept(full, didx, nnz, 1, gw, true);
    } finally {
      full.dispose();
    }
    return gw;
  }
  // Items per slice (never more than one binding holds), then items per dispatch: whole slices
  // whose inputs fit one binding each.
  const xItem = g.cin * g.h * g.w;
  const gyItem = g.cout * g.oh * g.ow;
  const fit = itemsPerChunk(Math.max(xItem, gyItem) * 4, g.batch);
  const perSlice = Math.min(fit, Math.max(1, Math.floor(g.batch / Math.max(1, Math.ceil(gradWeightLanes() / nnz)))));
  const slices = Math.ceil(g.batch / perSlice);
  // The whole batch in one dispatch when it fits one binding (no copies), else whole slices at a time.
  const slicesPerChunk = fit >= g.batch ? slices : Math.max(1, Math.floor(fit / perSlice));
  const partial = Tensor.empty([slices, nnz]);
  try {
    for (let s0 = 0; s0 < slices; s0 += slicesPerChunk) {
      const b0 = s0 * perSlice;
      const nb = Math.min(slicesPerChunk * perSlice, g.batch - b0);
      const ns = Math.ceil(nb / perSlice);
      const xs = nb < g.batch ? batchSlice(x, b0, nb) : x;
      const gys = nb < g.batch ? batchSlice(gy, b0, nb) : gy;
      runtime().dispatch(
        'sparse_conv2d_grad_weight',
        { shader: 'sparse_conv2d_grad_weight', bindings: ['read', 'read', 'read', 'write'], constants: { WG_X: GRAD_WEIGHT_WG } },
        [xs.binding(), gys.binding(), didx.binding(), partial.binding()],
        new Params()
          .u(nnz, nb, perSlice, s0)
          .u(g.cin, g.h, g.w, g.cout)
          .u(g.oh, g.ow, g.strideH, g.strideW)
          .u(g.padH, g.padW, g.kh, g.kw)
          .build(),
        [Math.ceil(nnz / GRAD_WEIGHT_WG), ns],
      );
      if (xs !== x) xs.dispose();
      if (gys !== gy) gys.dispose();
    }
    scatterKept(partial, didx, nnz, slices, gw, false);
  } finally {
    partial.dispose();
  }
  return gw;
}

/** gw[didx[j]] = Σ_s src[s, j] (gather false), or src[didx[j]] (a dense gradient, gather true). */
function scatterKept(src: Tensor, didx: Tensor, nnz: number, slices: number, gw: Tensor, gather: boolean): void {
  runtime().dispatch(
    'sparse_conv2d_grad_weight_scatter',
    { shader: 'sparse_conv2d_grad_weight_scatter', bindings: ['read', 'read', 'write'], constants: { WG_X: GRAD_WEIGHT_WG, GATHER: gather ? 1 : 0 } },
    [src.binding(), didx.binding(), gw.binding()],
    new Params().u(nnz, slices, 0, 0).build(),
    [Math.ceil(nnz / GRAD_WEIGHT_WG)],
  );
}

const GRAD_WEIGHT_WG = 64;

/** Items b0 .. b0 + nb − 1 of a batch tensor, copied into a tensor of their own (a chunk that fits one binding). */
function batchSlice(t: Tensor, b0: number, nb: number): Tensor {
  const item = t.size / t.shape[0];
  const part = Tensor.empty([nb, ...t.shape.slice(1)]);
  stridedCopyKernel('sparse_conv2d_grad_chunk', t, { offset: b0 * item, strides: [1] }, part, { offset: 0, strides: [1] }, [nb * item]);
  return part;
}
