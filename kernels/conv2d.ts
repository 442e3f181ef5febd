// Convolution launchers (NCHW activations, [Cout, Cin, KH, KW] weights). Two strategies:
// - 'gemm': unfold patches (shaders/im2col.wgsl) and multiply with the vec4 GEMM
//   (matmul_vec4.wgsl); the input gradient folds back with col2im (col2im.wgsl or
//   col2im_lanes.wgsl, see Col2imKernel). Patches are unfolded a
//   chunk of batch items at a time, so the scratch buffer stays under COLS_BUDGET.
//   Output planes whose size is not a multiple of 4 are padded to one (zero columns).
// - 'direct': one kernel per pass (conv2d_forward.wgsl, conv2d_grad_input.wgsl,
//   conv2d_grad_weight.wgsl); used when there are fewer than 4 output channels (or, for the input
//   gradient, a channel count that is not a multiple of 4), and selectable where it wins.
// The forward and input-gradient launchers take an optional weight mask (same shape as the
// weights): conv(x, w ⊙ mask) for pruned layers. The direct kernels apply it as they read the
// weights. The GEMM path by default multiplies it into a scratch weight matrix first (one pass
// over the Cout·Cin·KH·KW weights per call, freed at once), because masking inside the GEMM's A
// loads ('in-kernel', MASK_A in matmul_vec4.wgsl) re-reads the mask for every output tile and ran
// up to 2x slower than the unmasked GEMM on lavapipe (bench suite `sparse`).

import { runtime } from '../src/engine/engine.js';
import { Tensor } from '../src/engine/tensor.js';
import { stridedCopyKernel } from './copy.js';
import { binaryKernel, fillKernel } from './elementwise.js';
import { gemmVec4 } from './matmul.js';
import { Params } from './runtime.js';
import { activeTuning, convKey, type Col2imKernelName, type ConvPass, type ConvStrategyName } from './tuning.js';
import { reduceKernel } from './reduce.js';

export interface ConvGeometry {
  batch: number;
  cin: number;
  h: number;
  w: number;
  cout: number;
  kh: number;
  kw: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  oh: number;
  ow: number;
}

export function convGeometry(
  x: readonly number[],
  w: readonly number[],
  stride: [number, number],
  padding: [number, number],
): ConvGeometry {
  const [batch, cin, h, wd] = x;
  const [cout, , kh, kw] = w;
  const oh = Math.floor((h + 2 * padding[0] - kh) / stride[0]) + 1;
  const ow = Math.floor((wd + 2 * padding[1] - kw) / stride[1]) + 1;
  return {
    batch,
    cin,
    h,
    w: wd,
    cout,
    kh,
    kw,
    strideH: stride[0],
    strideW: stride[1],
    padH: padding[0],
    padW: padding[1],
    oh,
    ow,
  };
}

function params(g: ConvGeometry): Uint32Array {
  return new Params()
    .u(g.batch, g.cin, g.h, g.w)
    .u(g.cout, g.oh, g.ow, g.kh)
    .u(g.kw, g.strideH, g.strideW, g.padH)
    .u(g.padW, 0, 0, 0)
    .build();
}

/** Workgroup shape for the direct conv kernels; each invocation computes a 4×4 tile. */
const convWorkgroup: [number, number] = [8, 8];
const spec = (shader: string) => ({
  shader,
  bindings: ['read', 'read', 'write'] as const,
  constants: { WG_X: convWorkgroup[0], WG_Y: convWorkgroup[1] },
});
/** The forward and input-gradient kernels: binding 3 is the weight mask (w itself when unmasked). */
const maskableSpec = (shader: string, mask: Tensor | undefined) => ({
  shader,
  bindings: ['read', 'read', 'write', 'read'] as const,
  constants: { WG_X: convWorkgroup[0], WG_Y: convWorkgroup[1], MASK_W: mask ? 1 : 0 },
});
/**
 * Workgroups for `cols` columns (4 per invocation) and `rows` rows: x columns, y rows, and z
 * folding x when it would pass the adapter's per-dimension limit (a batch of 2048 at 32×32 is
 * 65,536 workgroups of columns); the shaders read column gid.x + gid.z·(groups in x)·WG_X.
 */
function groups(cols: number, rows: number): [number, number, number] {
  const max = runtime().limits.maxComputeWorkgroupsPerDimension ?? 65535;
  const x = Math.ceil(cols / (4 * convWorkgroup[0]));
  const z = Math.ceil(x / max);
  return [Math.ceil(x / z), Math.ceil(rows / (4 * convWorkgroup[1])), z];
}

/** conv(x, w) or, with a mask, conv(x, w ⊙ mask). */
export function conv2dForwardKernel(x: Tensor, w: Tensor, g: ConvGeometry, mask?: Tensor): Tensor {
  checkMask(w, mask);
  const plan = choose(g, 'forward');
  if (plan) return forwardGemm(x, w, g, plan, mask);
  const y = Tensor.empty([g.batch, g.cout, g.oh, g.ow]);
  if (y.size === 0) return y;
  runtime().dispatch(
    'conv2d',
    maskableSpec('conv2d_forward', mask),
    [x.binding(), w.binding(), y.binding(), (mask ?? w).binding()],
    params(g),
    groups(g.batch * g.oh * g.ow, g.cout),
  );
  return y;
}

/** The input gradient of conv(x, w), or with a mask of conv(x, w ⊙ mask). */
export function conv2dGradInputKernel(gy: Tensor, w: Tensor, g: ConvGeometry, mask?: Tensor): Tensor {
  checkMask(w, mask);
  const plan = choose(g, 'input');
  if (plan) return gradInputGemm(gy, w, g, plan, mask);
  const gx = Tensor.empty([g.batch, g.cin, g.h, g.w]);
  if (gx.size === 0) return gx;
  runtime().dispatch(
    'conv2d_grad_input',
    maskableSpec('conv2d_grad_input', mask),
    [gy.binding(), w.binding(), gx.binding(), (mask ?? w).binding()],
    params(g),
    groups(g.batch * g.h * g.w, g.cin),
  );
  return gx;
}

export function conv2dGradWeightKernel(x: Tensor, gy: Tensor, g: ConvGeometry): Tensor {
  // No items: a zero gradient (the GEMM path would copy out a scratch matrix nothing wrote).
  if (g.batch === 0) return fillKernel([g.cout, g.cin, g.kh, g.kw], 0);
  const plan = choose(g, 'weight');
  if (plan) return gradWeightGemm(x, gy, g, plan, splitWeightGemm(g, plan));
  const gw = Tensor.empty([g.cout, g.cin, g.kh, g.kw]);
  if (gw.size === 0) return gw;
  runtime().dispatch(
    'conv2d_grad_weight',
    spec('conv2d_grad_weight'),
    [x.binding(), gy.binding(), gw.binding()],
    params(g),
    // Columns are (ci, ky, kx), never near the limit: the shader does not fold.
    [Math.ceil((g.cin * g.kh * g.kw) / (4 * convWorkgroup[0])), Math.ceil(g.cout / (4 * convWorkgroup[1]))],
  );
  return gw;
}

function checkMask(w: Tensor, mask: Tensor | undefined): void {
  if (mask && (mask.dtype !== 'f32' || mask.shape.length !== w.shape.length || mask.shape.some((d, i) => d !== w.shape[i])))
    throw new Error(`conv2d: mask ${mask.dtype} [${mask.shape.join(', ')}] does not match weight [${w.shape.join(', ')}]`);
}

/** How the GEMM path applies a weight mask (see the header). */
export type MaskedGemmWeights = 'premultiplied' | 'in-kernel';
let maskedGemmWeights: MaskedGemmWeights = 'premultiplied';
export function setMaskedGemmWeights(mode: MaskedGemmWeights): void {
  maskedGemmWeights = mode;
}

/** The GEMM's A matrix and the mask it applies while loading A (none when premultiplied). */
function maskedWeightMatrix(w: Tensor, mask: Tensor | undefined, g: ConvGeometry, plan: GemmPlan): { a: Tensor; maskA?: Tensor } {
  if (!mask) return { a: weightMatrix(w, g, plan) };
  if (maskedGemmWeights === 'in-kernel') return { a: weightMatrix(w, g, plan), maskA: weightMatrix(mask, g, plan) };
  const wm = binaryKernel('mul', w, mask);
  const a = weightMatrix(wm, g, plan);
  if (a !== wm) wm.dispose();
  return { a };
}

/** Frees what maskedWeightMatrix made (not the caller's w and mask). */
function releaseWeightMatrix(m: { a: Tensor; maskA?: Tensor }, w: Tensor, mask: Tensor | undefined): void {
  if (m.a !== w) m.a.dispose();
  if (m.maskA && m.maskA !== mask) m.maskA.dispose();
}

export type ConvStrategy = ConvStrategyName;
let forcedStrategy: ConvStrategy | null = null;
/** Forces a strategy (tests cover both); null restores the automatic choice. */
export function forceConvStrategy(s: ConvStrategy | null): void {
  forcedStrategy = s;
}

/** The strategy forced with forceConvStrategy, or null. */
export function forcedConvStrategy(): ConvStrategy | null {
  return forcedStrategy;
}

let colsBudget = 64 * 1024 * 1024;
/** Bytes of unfolded patches per chunk (lowered by tests to force several chunks). */
export function setColsBudget(bytes: number): void {
  colsBudget = bytes;
}

interface GemmPlan {
  /** Patch rows (Cin·KH·KW) rounded up to a multiple of 4. */
  rows: number;
  k: number;
  npos: number;
  /** Output positions per plane rounded up to a multiple of 4 (the unfolded rows' length). */
  pitch: number;
  /** Batch items unfolded at once. */
  chunk: number;
}

function gemmPlan(g: ConvGeometry, pass: ConvPass): GemmPlan | null {
  const k = g.cin * g.kh * g.kw;
  const rows = Math.ceil(k / 4) * 4;
  const npos = g.oh * g.ow;
  const pitch = Math.ceil(npos / 4) * 4;
  if (g.cout < 4) return null;
  if (pass === 'input' && g.cout % 4 !== 0) return null;
  const perItem = rows * pitch * 4;
  const limit = Math.min(colsBudget, runtime().limits.maxStorageBufferBindingSize ?? colsBudget);
  if (perItem > limit) return null;
  return { rows, k, npos, pitch, chunk: Math.max(1, Math.min(g.batch, Math.floor(limit / perItem))) };
}

/** The GEMM plan when a GEMM strategy is chosen (forced, tuned for this shape, or by default). */
function choose(g: ConvGeometry, pass: ConvPass): GemmPlan | null {
  const strategy = forcedStrategy ?? activeTuning()?.conv[convKey(pass, g)] ?? 'gemm';
  if (strategy === 'direct') return null;
  const plan = gemmPlan(g, pass);
  if (!plan && forcedStrategy !== null) throw new Error(`conv2d: the ${forcedStrategy} strategy cannot run ${JSON.stringify(g)} (${pass})`);
  return plan;
}

/**
 * Output tiles under which the weight gradient's summed GEMM leaves a GPU idle: [Cout, Cin·KH·KW]
 * is small while its reduction runs over every batch item's positions (ResNet-18's 3→64 layer on
 * an H100: one 64×64 tile, 32768 products per output, 45 GFLOP/s).
 */
const SPLIT_WEIGHT_TILES = 8192;

/**
 * Whether the weight gradient's GEMM gives each batch item its own product, summed afterwards
 * ('gemm-split': batch-times more workgroups for a wide device), or sums the items inside one GEMM
 * ('gemm': no partial products in memory; what CPU adapters want). Forced or tuned per shape; by
 * default split on hardware adapters when the summed GEMM has few output tiles.
 */
function splitWeightGemm(g: ConvGeometry, plan: GemmPlan): boolean {
  const strategy = forcedStrategy ?? activeTuning()?.conv[convKey('weight', g)];
  if (strategy !== undefined) return strategy === 'gemm-split';
  return !runtime().adapterInfo.isSoftware && g.batch > 1 && (g.cout * plan.rows) / 16 < SPLIT_WEIGHT_TILES;
}

/** Lanes (item, channel planes) per workgroup of the 'lanes' im2col and col2im kernels. */
const COL2IM_LANES = 64;

/** vec4s (im2col) or positions (col2im) per invocation: fewer, longer invocations suit CPU adapters. */
const FOLD_PER = 4;

function foldParams(g: ConvGeometry, plan: PatchLayout, xOff: number): Uint32Array {
  return new Params()
    .u(g.cin, g.h, g.w, g.oh)
    .u(g.ow, g.kh, g.kw, g.strideH)
    .u(g.strideW, g.padH, g.padW, plan.rows)
    .u(xOff, plan.pitch, 0, 0)
    .build();
}

/** im2col's kernel (Tuning.im2colKernel): 'positions' (im2col.wgsl) or 'lanes' (im2col_lanes.wgsl, lanes over planes). */
let forcedIm2col: Col2imKernel | null = null;
/** Forces im2col's kernel (tests cover both); null restores the tuned choice. */
export function forceIm2colKernel(k: Col2imKernel | null): void {
  forcedIm2col = k;
}

/** How unfolded patches are laid out: `rows` patch rows and `pitch` positions per row (both multiples of 4). */
export type PatchLayout = Pick<GemmPlan, 'rows' | 'pitch'>;

/**
 * Unfolds the patches of batch items b0..b0+nb−1 of x into a new [nb, rows, pitch] tensor, with
 * the tuned im2col kernel (also the sparse conv's 'spmm' path, kernels/sparseConv.ts).
 */
export function im2col(x: Tensor, g: ConvGeometry, plan: PatchLayout, b0: number, nb: number): Tensor {
  const cols = Tensor.empty([nb, plan.rows, plan.pitch]);
  const taps = g.kh * g.kw;
  const perItem = Math.ceil(plan.rows / taps);
  const lanes = Math.ceil((nb * perItem) / COL2IM_LANES);
  const kernel = forcedIm2col ?? activeTuning()?.im2colKernel ?? 'positions';
  if (kernel === 'lanes' && lanes <= runtime().limits.maxComputeWorkgroupsPerDimension) {
    const fp = foldParams(g, plan, b0 * g.cin * g.h * g.w);
    fp[14] = nb * perItem;
    fp[15] = perItem;
    runtime().dispatch(
      'conv2d_im2col',
      {
        shader: 'im2col_lanes',
        constants: { KH: g.kh, KW: g.kw, SH: g.strideH, SW: g.strideW, LANES: COL2IM_LANES },
        bindings: ['read', 'write'],
      },
      [x.binding(), cols.binding()],
      fp,
      [Math.ceil(plan.pitch / 16), taps, lanes],
    );
    return cols;
  }
  // Each invocation writes FOLD_PER vec4s; the workgroup's x extent fits the row (short rows of
  // strided layers would otherwise leave most of a 64-wide workgroup idle).
  const xs = Math.ceil(plan.pitch / 4 / FOLD_PER);
  const wx = Math.min(64, 2 ** Math.ceil(Math.log2(Math.max(1, xs))));
  const wy = Math.max(1, Math.floor(256 / wx));
  runtime().dispatch(
    'conv2d_im2col',
    { shader: 'im2col', constants: { WG_X: wx, WG_Y: wy, PER: FOLD_PER }, bindings: ['read', 'write'] },
    [x.binding(), cols.binding()],
    foldParams(g, plan, b0 * g.cin * g.h * g.w),
    [Math.ceil(xs / wx), Math.ceil(plan.rows / wy), nb],
  );
  return cols;
}

/**
 * col2im's kernel: 'positions' (col2im.wgsl: lanes over pixels of one plane, loops over each
 * pixel's covering window) or 'lanes' (col2im_lanes.wgsl: lanes over planes, so the window tests
 * are uniform, and the kernel size and stride are pipeline constants).
 */
export type Col2imKernel = Col2imKernelName;
let forcedCol2im: Col2imKernel | null = null;
/** Forces col2im's kernel (tests cover both); null restores the tuned choice. */
export function forceCol2imKernel(k: Col2imKernel | null): void {
  forcedCol2im = k;
}


/**
 * Folds the patch gradients dcols [nb, rows, pitch] of batch items b0..b0+nb−1 onto gx (the adjoint
 * of im2col), with the tuned col2im kernel (also the sparse conv's input gradient,
 * kernels/sparseConv.ts).
 */
export function col2im(dcols: Tensor, gx: Tensor, g: ConvGeometry, plan: PatchLayout, b0: number, nb: number): void {
  const kernel = forcedCol2im ?? activeTuning()?.col2imKernel ?? 'positions';
  if (kernel === 'lanes' && Math.ceil((nb * g.cin) / COL2IM_LANES) <= runtime().limits.maxComputeWorkgroupsPerDimension) {
    const planes = nb * g.cin;
    const fp = foldParams(g, plan, b0 * g.cin * g.h * g.w);
    fp[14] = planes;
    runtime().dispatch(
      'conv2d_col2im',
      {
        shader: 'col2im_lanes',
        constants: { KH: g.kh, KW: g.kw, SH: g.strideH, SW: g.strideW, LANES: COL2IM_LANES },
        bindings: ['read', 'write'],
      },
      [dcols.binding(), gx.binding()],
      fp,
      [Math.ceil(g.w / 4), g.h, Math.ceil(planes / COL2IM_LANES)],
    );
    return;
  }
  runtime().dispatch(
    'conv2d_col2im',
    { shader: 'col2im', constants: { PER: FOLD_PER }, bindings: ['read', 'write'] },
    [dcols.binding(), gx.binding()],
    foldParams(g, plan, b0 * g.cin * g.h * g.w),
    [Math.ceil((g.h * g.w) / FOLD_PER / 64), Math.ceil(g.cin / 4), nb],
  );
}

/**
 * Weights (or their mask) as a [Cout, rows] matrix, zero-padded when Cin·KH·KW is not a multiple
 * of 4 (then the weights are copied anyway, so a padded mask adds one more small copy).
 */
function weightMatrix(w: Tensor, g: ConvGeometry, plan: GemmPlan): Tensor {
  if (plan.rows === plan.k) return w;
  const wp = fillKernel([g.cout, plan.rows], 0);
  stridedCopyKernel('conv2d_pad_weight', w, { offset: 0, strides: [plan.k, 1] }, wp, { offset: 0, strides: [plan.rows, 1] }, [g.cout, plan.k]);
  return wp;
}

/** Copies [b, c, from] planes into [b, c, to] planes (zero-filled when to > from, cropped otherwise). */
function repitch(t: Tensor, b: number, c: number, from: number, to: number): Tensor {
  const out = to > from ? fillKernel([b, c, to], 0) : Tensor.empty([b, c, to]);
  const n = Math.min(from, to);
  stridedCopyKernel('conv2d_repitch', t, { offset: 0, strides: [c * from, from, 1] }, out, { offset: 0, strides: [c * to, to, 1] }, [b, c, n]);
  return out;
}

function forwardGemm(x: Tensor, w: Tensor, g: ConvGeometry, plan: GemmPlan, mask: Tensor | undefined): Tensor {
  const padded = plan.pitch !== plan.npos;
  const y = Tensor.empty(padded ? [g.batch, g.cout, plan.pitch] : [g.batch, g.cout, g.oh, g.ow]);
  const wm = maskedWeightMatrix(w, mask, g, plan);
  for (let b0 = 0; b0 < g.batch; b0 += plan.chunk) {
    const nb = Math.min(plan.chunk, g.batch - b0);
    const cols = im2col(x, g, plan, b0, nb);
    gemmVec4(wm.a, cols, {
      batch: nb, m: g.cout, n: plan.pitch, k: plan.rows, transA: false, transB: false, batchA: 1, batchB: nb,
      cOffset: b0 * g.cout * plan.pitch, out: y, maskA: wm.maskA,
    });
    cols.dispose();
  }
  releaseWeightMatrix(wm, w, mask);
  if (!padded) return y;
  const out = repitch(y, g.batch, g.cout, plan.pitch, plan.npos);
  y.dispose();
  return out.reshapedInto([g.batch, g.cout, g.oh, g.ow]);
}

function gradInputGemm(gy: Tensor, w: Tensor, g: ConvGeometry, plan: GemmPlan, mask: Tensor | undefined): Tensor {
  const gx = Tensor.empty([g.batch, g.cin, g.h, g.w]);
  const wm = maskedWeightMatrix(w, mask, g, plan);
  const gyp = plan.pitch === plan.npos ? gy : repitch(gy, g.batch, g.cout, plan.npos, plan.pitch);
  for (let b0 = 0; b0 < g.batch; b0 += plan.chunk) {
    const nb = Math.min(plan.chunk, g.batch - b0);
    const dcols = gemmVec4(wm.a, gyp, {
      batch: nb, m: plan.rows, n: plan.pitch, k: g.cout, transA: true, transB: false, batchA: 1, batchB: nb,
      bOffset: b0 * g.cout * plan.pitch, maskA: wm.maskA,
    });
    col2im(dcols, gx, g, plan, b0, nb);
    dcols.dispose();
  }
  releaseWeightMatrix(wm, w, mask);
  if (gyp !== gy) gyp.dispose();
  return gx;
}

function gradWeightGemm(x: Tensor, gy: Tensor, g: ConvGeometry, plan: GemmPlan, splitItemsApart: boolean): Tensor {
  const split = splitItemsApart && g.batch > 0;
  let gwp = split ? null : Tensor.empty([g.cout, plan.rows]);
  const gyp = plan.pitch === plan.npos ? gy : repitch(gy, g.batch, g.cout, plan.npos, plan.pitch);
  // Split: items per partial-product GEMM, so the [items, Cout, rows] partials stay in the budget.
  const perItem = g.cout * plan.rows;
  const splitItems = Math.max(1, Math.floor(colsBudget / (perItem * 4)));
  for (let b0 = 0; b0 < g.batch; b0 += plan.chunk) {
    const nb = Math.min(plan.chunk, g.batch - b0);
    const cols = im2col(x, g, plan, b0, nb);
    const call = { m: g.cout, n: plan.rows, k: plan.pitch, transA: false, transB: true };
    if (!split) {
      gemmVec4(gyp, cols, { ...call, batch: nb, batchA: nb, batchB: nb, aOffset: b0 * g.cout * plan.pitch, sumBatches: true, accumulate: b0 > 0, out: gwp! });
    } else {
      for (let j0 = 0; j0 < nb; j0 += splitItems) {
        const nj = Math.min(splitItems, nb - j0);
        const parts = gemmVec4(gyp, cols, {
          ...call, batch: nj, batchA: nj, batchB: nj, aOffset: (b0 + j0) * g.cout * plan.pitch, bOffset: j0 * plan.rows * plan.pitch,
        });
        const sum = reduceKernel('sum', parts, 1, nj, perItem);
        parts.dispose();
        if (gwp) {
          const total = binaryKernel('add', gwp, sum);
          gwp.dispose();
          sum.dispose();
          gwp = total;
        } else gwp = sum;
      }
    }
    cols.dispose();
  }
  if (gyp !== gy) gyp.dispose();
  const gw = Tensor.empty([g.cout, g.cin, g.kh, g.kw]);
  stridedCopyKernel('conv2d_unpad_weight', gwp!, { offset: 0, strides: [plan.rows, 1] }, gw, { offset: 0, strides: [plan.k, 1] }, [g.cout, plan.k]);
  gwp!.dispose();
  return gw;
}
