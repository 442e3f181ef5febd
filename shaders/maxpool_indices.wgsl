// For each output of a max pool, the in-plane index (iy·W + ix) of the window's maximum.
// Padding never wins (PyTorch pads with −inf); the first maximum wins ties.
//#include "pool_common"
//#include "common_math"
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> I: array<i32>;
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x + gid.y * p.nx;
  let ohw = p.oh * p.ow;
  if (t >= p.planes * ohw) { return; }
  let pl = t / ohw;
  let r = t % ohw;
  let y0 = i32((r / p.ow) * p.sh) - i32(p.ph);
  let x0 = i32((r % p.ow) * p.sw) - i32(p.pw);
  let base = pl * p.h * p.w;
  var best = 0.0;  // replaced by the first in-bounds value (arg < 0 until then)
  var arg = -1;
  for (var ky = 0; ky < i32(p.kh); ky++) {
    let iy = y0 + ky;
    if (iy < 0 || iy >= i32(p.h)) { continue; }
    for (var kx = 0; kx < i32(p.kw); kx++) {
      let ix = x0 + kx;
      if (ix < 0 || ix >= i32(p.w)) { continue; }
      let idx = iy * i32(p.w) + ix;
      let v = X[base + u32(idx)];
      if (arg < 0 || (!is_nan(best) && (v > best || is_nan(v)))) { best = v; arg = idx; }
    }
  }
  I[t] = arg;
}
