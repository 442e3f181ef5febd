// Sparse (pruned) convolution, inference only, output channels 64 at a time as in
// sparse_conv2d_grouped.wgsl, but reading the input itself instead of im2col's unfolded patches:
//   y[b, 64·g + c, oy, ox] = epilogue(Σ_r W[64·g + c, r] · X[b, ci_r, oy·sh + ky_r − ph, ox·sw + kx_r − pw])
// with X read as zero outside its H × W planes. ENTRIES holds (ci·H·W, the group's two mask words,
// ky·2^16 + kx) per row used (kernels/sparseWeights.ts groupEntriesFor), GSTART and GVALS as in the
// unfolded kernel.
// Why: for a 3×3 stride-1 layer im2col writes and then reads back 9 values per input value; here
// each row costs 4·V gathered scalar loads per lane, which on lavapipe cost what V vec4 loads of
// unfolded patches cost (its loads are split per lane and per 32-bit value either way). The border
// test is a few vector ops per row and position: measured cheaper than a zero-padded copy of the
// input (one more pass over it, 26 ms of SmallCNN's 240 ms pruned forward at batch 128).
// Grid: x = channel group, y = blocks of WG_X·V vec4s of output positions (b, oy, ox) flattened;
// lane l owns the 4 consecutive positions of vec4s l, l + WG_X, ... (V of them).
//#include "fast_div"
//#include "sparse_group_gather"
//#include "sparse_group_epilogue"
struct Params {
  cout: u32, nq: u32, ohw: u32, ow: u32,
  item: u32, h: u32, w: u32, sh: u32,
  sw: u32, ph: u32, pw: u32, flags: u32,
  nvec: u32, pad0: u32, pad1: u32, pad2: u32,
}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> GSTART: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read> ENTRIES: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> GVALS: array<f32>;
@group(0) @binding(4) var<storage, read> SCALE: array<f32>;
@group(0) @binding(5) var<storage, read> SHIFT: array<f32>;
@group(0) @binding(6) var<storage, read> RESIDUAL: array<f32>;
@group(0) @binding(7) var<storage, read_write> Y: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

override WG_X: u32 = 64u;
/** vec4s of positions per invocation (1..4); the unused accumulators are compiled out. */
override V: u32 = 4u;

/**
 * Four positions' item offsets, receptive-field origins (may be negative: the padding) and output
 * offsets in channel 0 (so the store of each of the 64 channels needs no division).
 */
struct Origins {
  item: vec4<u32>,
  iy: vec4<i32>,
  ix: vec4<i32>,
  out: vec4<u32>,
}

fn origins(gv: u32) -> Origins {
  var o: Origins;
  for (var i = 0u; i < 4u; i++) {
    let q = min(4u * gv + i, p.nq - 1u);
    let b = udiv(q, p.ohw);
    let r = q - b * p.ohw;
    let oy = udiv(r, p.ow);
    o.item[i] = b * p.item;
    o.iy[i] = i32(oy * p.sh) - i32(p.ph);
    o.ix[i] = i32((r - oy * p.ow) * p.sw) - i32(p.pw);
    o.out[i] = b * p.cout * p.ohw + r;
  }
  return o;
}

/** The row's input values at the four positions, zero where the tap falls in the padding. */
fn gather(o: Origins, plane: u32, ky: i32, kx: i32) -> vec4<f32> {
  let iy = vec4<u32>(o.iy + ky);
  let ix = vec4<u32>(o.ix + kx);
  // A negative coordinate wraps to a huge u32, so one unsigned test covers both sides.
  let inside = (iy < vec4<u32>(p.h)) & (ix < vec4<u32>(p.w));
  let at = select(vec4<u32>(0u), o.item + plane + iy * p.w + ix, inside);
  return select(vec4<f32>(0.0), vec4<f32>(X[at.x], X[at.y], X[at.z], X[at.w]), inside);
}

fn store4(gv: u32, o: Origins, co: u32, st: vec2<f32>, a: vec4<f32>) {
  let plane = co * p.ohw;
  for (var i = 0u; i < 4u; i++) {
    if (4u * gv + i >= p.nq) { return; }
    let yi = o.out[i] + plane;
    Y[yi] = finish(p.flags, st, a[i], yi);
  }
}

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let g = wid.x;
  let g0 = wid.y * WG_X * V + lid.x;
  if (g0 >= p.nvec) { return; }
  let o0 = origins(g0);
  let o1 = origins(g0 + WG_X);
  let o2 = origins(g0 + 2u * WG_X);
  let o3 = origins(g0 + 3u * WG_X);
  var acc: array<vec4<f32>, 256>;
  let start = GSTART[g];
  accumulate_rows(start.x, GSTART[g + 1u].x, start.y, o0, o1, o2, o3, &acc);
  for (var c = 0u; c < GROUP; c++) {
    let co = g * GROUP + c;
    if (co >= p.cout) { break; }
    let st = channel_affine(p.flags, co);
    store4(g0, o0, co, st, acc[c * 4u]);
    if (V > 1u && g0 + WG_X < p.nvec) { store4(g0 + WG_X, o1, co, st, acc[c * 4u + 1u]); }
    if (V > 2u && g0 + 2u * WG_X < p.nvec) { store4(g0 + 2u * WG_X, o2, co, st, acc[c * 4u + 2u]); }
    if (V > 3u && g0 + 3u * WG_X < p.nvec) { store4(g0 + 3u * WG_X, o3, co, st, acc[c * 4u + 3u]); }
  }
}
