// The adjoint of pool_gather: gx[plane, i] = Σ over the windows covering i that selected i of
// g[plane, o]. Each input visits only the windows that can cover it, so no atomics are needed.
//#include "pool_common"
@group(0) @binding(0) var<storage, read> G: array<f32>;
@group(0) @binding(1) var<storage, read> I: array<i32>;
@group(0) @binding(2) var<storage, read_write> GX: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x + gid.y * p.nx;
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
    for (var ox = win.z; ox <= win.w; ox++) {
      let o = obase + u32(oy) * p.ow + u32(ox);
      if (I[o] == r) { s += G[o]; }
    }
  }
  GX[t] = s;
}
