// im2col with the lanes over (batch item, channel) planes (the 'lanes' variant; im2col.wgsl is
// 'positions'): the same cols[b, r, q] = x[b0 + b, ci, oy·sh − ph + ky, ox·sw − pw + kx] (0 outside
// the image), r = (ci·KH + ky)·KW + kx, q = oy·OW + ox, rows r ≥ Cin·KH·KW up to `rows` zero.
// A workgroup's lanes share the tap (ky, kx) and the positions q0..q0+15 (both from the workgroup
// id), so every bounds test is uniform across the lanes; each lane reads its own plane. KH, KW,
// SH, SW are pipeline constants. Grid: x = ⌈pitch/16⌉ position groups, y = tap ky·KW + kx,
// z = groups of LANES (item, channel) pairs over ⌈rows/(KH·KW)⌉ channels per item (channels
// ≥ Cin write the zero rows).
//#include "fold_params"
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> COLS: array<vec4<f32>>;
@group(1) @binding(0) var<uniform> p: Params;

override KH: u32 = 3u;
override KW: u32 = 3u;
override SH: u32 = 1u;
override SW: u32 = 1u;
override LANES: u32 = 64u;
// pad1: (item, channel) pairs in the chunk (nb·cpi); pad2: channels per item cpi = ⌈rows/(KH·KW)⌉.
//#include "fast_div"

@compute @workgroup_size(LANES, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let lane = wid.z * LANES + lid.x;
  if (lane >= p.pad1) { return; }
  let b = udiv(lane, p.pad2);
  let ci = lane - b * p.pad2;
  let tap = wid.y;
  let r = ci * KH * KW + tap;
  if (r >= p.rows) { return; }
  let q0 = wid.x * 16u;
  if (q0 >= p.pitch) { return; }
  let out0 = ((b * p.rows + r) * p.pitch + q0) / 4u;
  let nv = min(4u, (p.pitch - q0) / 4u);
  if (ci >= p.cin) {
    for (var t = 0u; t < nv; t++) { COLS[out0 + t] = vec4<f32>(0.0); }
    return;
  }
  let ky = tap / KW;
  let kx = tap - ky * KW;
  let plane = p.x_off + (b * p.cin + ci) * p.h * p.w;
  let npos = p.oh * p.ow;
  // (oy, ox) of q0: uniform, one division per invocation.
  var oy = udiv(q0, p.ow);
  var ox = q0 - oy * p.ow;
  var q = q0;
  for (var t = 0u; t < nv; t++) {
    var v = vec4<f32>(0.0);
    for (var j = 0u; j < 4u; j++) {
      let iy = i32(oy * SH + ky) - i32(p.ph);
      let ix = i32(ox * SW + kx) - i32(p.pw);
      if (q < npos && iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w)) {
        v[j] = X[plane + u32(iy) * p.w + u32(ix)];
      }
      q += 1u;
      ox += 1u;
      if (ox == p.ow) { ox = 0u; oy += 1u; }
    }
    COLS[out0 + t] = v;
  }
}
