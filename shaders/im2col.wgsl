// Unfolds convolution patches: cols[b, r, q] = x[b0 + b, ci, oy·sh − ph + ky, ox·sw − pw + kx]
// (0 outside the image) with r = (ci·KH + ky)·KW + kx, q = oy·OW + ox. Rows r ≥ Cin·KH·KW up to
// `rows` are zero padding, so the GEMM that follows can read 16-byte groups along r.
// Grid: x = q, y = r, z = batch item within the chunk. Index math uses udiv (fast_div.wgsl).
//#include "fast_div"
//#include "fold_params"
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> COLS: array<vec4<f32>>;
@group(1) @binding(0) var<uniform> p: Params;

// Each invocation writes PER vec4s of 4 consecutive positions (pitch is a multiple of 4): on CPU
// adapters the per-invocation overhead, not the arithmetic, dominates such a pass. WG_X is sized
// by the launcher to the row length, so short rows (late, strided layers) leave few lanes idle.
override WG_X: u32 = 64u;
override WG_Y: u32 = 4u;
override PER: u32 = 1u;
@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let q0 = gid.x * 4u * PER;
  let r = gid.y;
  let npos = p.oh * p.ow;
  if (q0 >= p.pitch || r >= p.rows) { return; }
  let out0 = ((gid.z * p.rows + r) * p.pitch + q0) / 4u;
  let nv = min(PER, (p.pitch - q0) / 4u);
  let ksz = p.kh * p.kw;
  if (r >= p.cin * ksz) {
    for (var t = 0u; t < nv; t++) { COLS[out0 + t] = vec4<f32>(0.0); }
    return;
  }
  let ci = udiv(r, ksz);
  let kr = r - ci * ksz;
  let ky = udiv(kr, p.kw);
  let kx = kr - ky * p.kw;
  let plane = p.x_off + (gid.z * p.cin + ci) * p.h * p.w;
  var oy = udiv(q0, p.ow);
  var ox = q0 - oy * p.ow;
  var q = q0;
  for (var t = 0u; t < nv; t++) {
    var v = vec4<f32>(0.0);
    for (var j = 0u; j < 4u; j++) {
      if (q < npos) {
        let iy = i32(oy * p.sh + ky) - i32(p.ph);
        let ix = i32(ox * p.sw + kx) - i32(p.pw);
        if (iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w)) {
          v[j] = X[plane + u32(iy) * p.w + u32(ix)];
        }
      }
      q += 1u;
      ox += 1u;
      if (ox == p.ow) { ox = 0u; oy += 1u; }
    }
    COLS[out0 + t] = v;
  }
}
