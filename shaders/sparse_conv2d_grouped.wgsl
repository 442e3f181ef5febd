// Sparse (pruned) convolution on unfolded patches, inference only, with the output channels taken
// 64 at a time so that one load of a patch row feeds every channel of the group that uses it:
//   Y[b0 + b, 64·g + c, q] = epilogue(Σ_r W[64·g + c, r] · COLS[b, r, q])
// (epilogue: bias, or a folded eval-mode batch norm, + residual, ReLU: sparse_group_epilogue.wgsl)
// COLS is im2col's output ([nb, rows, pitch], pitch = OH·OW rounded up to a multiple of 4, read as
// vec4s). The weights are stored per channel group g (kernels/sparseWeights.ts channelGroups):
// ENTRIES[GSTART[g].x .. GSTART[g + 1].x) are the patch rows r that any of the group's 64 channels
// uses, each as (r, bit mask of those channels in two words, 0), and GVALS from GSTART[g].y on are their non-zero
// values in (row, channel) order.
// Why (measured reasoning in the README, "sparse inference"): on lavapipe a load whose offset is not
// a compile-time constant costs about the same per SIMD lane whatever it loads, so the CSR kernels
// (sparse_conv2d_spmm.wgsl) pay one patch load per non-zero. Here a patch row is loaded once per
// group and its non-zeros cost one value load each; at 80% sparsity that is about 1.6 times fewer
// loads than the dense GEMM needs for the same outputs. Multiplying zeros instead (dense rows of 4
// or 8 channels) measured slower: the mask's bits skip them.
// Grid: x = channel group, y = blocks of WG_X·V vec4s of positions over the whole chunk (batch item
// and position flattened), lane l owning vec4s l, l + WG_X, ... (V of them), as in the spmm kernel.
//#include "fast_div"
//#include "sparse_group_row"
//#include "sparse_group_epilogue"
struct Params {
  cout: u32, npos: u32, pitch4: u32, rows: u32,
  y_off: u32, flags: u32, nvec: u32, pad1: u32,
}
@group(0) @binding(0) var<storage, read> COLS: array<vec4<f32>>;
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
override V: u32 = 2u;

fn col_base(gv: u32) -> u32 {
  let b = udiv(gv, p.pitch4);
  return b * p.rows * p.pitch4 + (gv - b * p.pitch4);
}

// Y is [batch, Cout, OH·OW] (no padded pitch, so no crop pass after): the four positions of vec4 gv
// are stored one by one, the ones past the plane's end (its last vec4's padding) dropped.
fn store4(gv: u32, co: u32, st: vec2<f32>, a: vec4<f32>) {
  if (gv >= p.nvec) { return; }
  let b = udiv(gv, p.pitch4);
  let q = 4u * (gv - b * p.pitch4);
  let base = p.y_off + (b * p.cout + co) * p.npos + q;
  for (var i = 0u; i < 4u; i++) {
    if (q + i < p.npos) { Y[base + i] = finish(p.flags, st, a[i], base + i); }
  }
}

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let g = wid.x;
  let g0 = wid.y * WG_X * V + lid.x;
  if (g0 >= p.nvec) { return; }
  let last = p.nvec - 1u;
  let q0 = col_base(g0);
  let q1 = col_base(min(g0 + WG_X, last));
  let q2 = col_base(min(g0 + 2u * WG_X, last));
  let q3 = col_base(min(g0 + 3u * WG_X, last));
  var acc: array<vec4<f32>, 256>;
  var x: array<vec4<f32>, 4>;
  let start = GSTART[g];
  let end = GSTART[g + 1u].x;
  var vp = start.y;
  for (var e = start.x; e < end; e++) {
    let entry = ENTRIES[e];
    let o = entry.x * p.pitch4;
    let m = entry.yz;
    x[0] = COLS[o + q0];
    if (V > 1u) { x[1] = COLS[o + q1]; }
    if (V > 2u) { x[2] = COLS[o + q2]; }
    if (V > 3u) { x[3] = COLS[o + q3]; }
    group_row(m, &vp, &acc, &x);
  }
  for (var c = 0u; c < GROUP; c++) {
    let co = g * GROUP + c;
    if (co >= p.cout) { break; }
    let st = channel_affine(p.flags, co);
    store4(g0, co, st, acc[c * 4u]);
    if (V > 1u) { store4(g0 + WG_X, co, st, acc[c * 4u + 1u]); }
    if (V > 2u) { store4(g0 + 2u * WG_X, co, st, acc[c * 4u + 2u]); }
    if (V > 3u) { store4(g0 + 3u * WG_X, co, st, acc[c * 4u + 3u]); }
  }
}
