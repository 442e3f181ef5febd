// Average pool, zero padding counted in the divisor (PyTorch's count_include_pad=True).
// MODE 0: forward y = mean(window). MODE 1: adjoint gx[i] = Σ_{windows ∋ i} g / (kh·kw).
//#include "pool_common"
override MODE: u32 = 0u;
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x + gid.y * p.nx;
  let inv = 1.0 / f32(p.kh * p.kw);
  if (MODE == 0u) {
    let ohw = p.oh * p.ow;
    if (t >= p.planes * ohw) { return; }
    let pl = t / ohw;
    let r = t % ohw;
    let y0 = i32((r / p.ow) * p.sh) - i32(p.ph);
    let x0 = i32((r % p.ow) * p.sw) - i32(p.pw);
    let base = pl * p.h * p.w;
    var s = 0.0;
    for (var ky = 0; ky < i32(p.kh); ky++) {
      let iy = y0 + ky;
      if (iy < 0 || iy >= i32(p.h)) { continue; }
      for (var kx = 0; kx < i32(p.kw); kx++) {
        let ix = x0 + kx;
        if (ix < 0 || ix >= i32(p.w)) { continue; }
        s += X[base + u32(iy) * p.w + u32(ix)];
      }
    }
    Y[t] = s * inv;
  } else {
    let hw = p.h * p.w;
    if (t >= p.planes * hw) { return; }
    let pl = t / hw;
    let r = i32(t % hw);
    let iy = r / i32(p.w);
    let ix = r % i32(p.w);
    let win = covering_windows(iy, ix);
    let obase = pl * p.oh * p.ow;
    var s = 0.0;
    for (var oy = win.x; oy <= win.y; oy++) {
      for (var ox = win.z; ox <= win.w; ox++) { s += X[obase + u32(oy) * p.ow + u32(ox)]; }
    }
    Y[t] = s * inv;
  }
}
