// Sparse (pruned) convolution as a sparse × dense product on unfolded patches, inference only:
//   Y[b0 + b, co, q] = bias[co] + Σ_{k in row co} VALS[k] · COLS[b, CIDX[k], q]
// COLS is im2col's output ([nb, rows, pitch], pitch = OH·OW rounded up to a multiple of 4, read as
// vec4s), ROWS/CIDX/VALS the CSR weights (row co = output channel, CIDX the patch row
// r = (ci·KH + ky)·KW + kx). Against sparse_conv2d.wgsl (gathered scalar loads, 8 per non-zero for
// 8 positions) every non-zero here costs one aligned vec4 load per 4 positions: on lavapipe, where
// each load is split per SIMD lane, that is what decides the speed.
// Grid: x = output channel (the row's loop bounds, columns and values are uniform across the
// workgroup, and consecutive workgroups reuse the same COLS rows from cache), y = blocks of
// WG_X·V vec4s of positions, counted over the whole chunk (batch item and position flattened, so the
// small planes of late layers still fill the workgroups). Lane l owns vec4s l, l + WG_X, ...
// (V of them), so for each the lanes read one contiguous run.
//#include "fast_div"
struct Params {
  cout: u32, npos: u32, pitch4: u32, rows: u32,
  y_off: u32, has_bias: u32, nvec: u32, pad1: u32,
}
@group(0) @binding(0) var<storage, read> COLS: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> ROWS: array<u32>;
@group(0) @binding(2) var<storage, read> CIDX: array<u32>;
@group(0) @binding(3) var<storage, read> VALS: array<f32>;
@group(0) @binding(4) var<storage, read> BIAS: array<f32>;
@group(0) @binding(5) var<storage, read_write> Y: array<vec4<f32>>;
@group(1) @binding(0) var<uniform> p: Params;

override WG_X: u32 = 64u;
/** vec4s of positions per invocation (1..4); the unused accumulators are compiled out. */
override V: u32 = 2u;

// Index math uses udiv (fast_div.wgsl): lavapipe has no vector integer division.
// Offset in COLS (vec4s) of flattened vec4 g's column block, and in Y of its first position.
fn col_base(g: u32) -> u32 {
  let b = udiv(g, p.pitch4);
  return b * p.rows * p.pitch4 + (g - b * p.pitch4);
}

fn store4(g: u32, co: u32, a: vec4<f32>) {
  if (g >= p.nvec) { return; }
  let b = udiv(g, p.pitch4);
  Y[p.y_off + (b * p.cout + co) * p.pitch4 + g - b * p.pitch4] = a;
}

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let co = wid.x;
  let g0 = wid.y * WG_X * V + lid.x;
  if (g0 >= p.nvec || co >= p.cout) { return; }
  let last = p.nvec - 1u;
  let q0 = col_base(g0);
  let q1 = col_base(min(g0 + WG_X, last));
  let q2 = col_base(min(g0 + 2u * WG_X, last));
  let q3 = col_base(min(g0 + 3u * WG_X, last));
  var init = 0.0;
  if (p.has_bias == 1u) { init = BIAS[co]; }
  var a0 = vec4<f32>(init);
  var a1 = vec4<f32>(init);
  var a2 = vec4<f32>(init);
  var a3 = vec4<f32>(init);
  let end = ROWS[co + 1u];
  for (var k = ROWS[co]; k < end; k++) {
    let o = CIDX[k] * p.pitch4;
    let v = VALS[k];
    a0 += v * COLS[o + q0];
    if (V > 1u) { a1 += v * COLS[o + q1]; }
    if (V > 2u) { a2 += v * COLS[o + q2]; }
    if (V > 3u) { a3 += v * COLS[o + q3]; }
  }
  store4(g0, co, a0);
  if (V > 1u) { store4(g0 + WG_X, co, a1); }
  if (V > 2u) { store4(g0 + 2u * WG_X, co, a2); }
  if (V > 3u) { store4(g0 + 3u * WG_X, co, a3); }
}
