// y[plane, o] = x[plane, idx[plane, o]]: the values a max pool selected.
//#include "pool_common"
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> I: array<i32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x + gid.y * p.nx;
  let ohw = p.oh * p.ow;
  if (t >= p.planes * ohw) { return; }
  let pl = t / ohw;
  let idx = I[t];
  if (idx < 0) { Y[t] = 0.0; return; }
  Y[t] = X[pl * p.h * p.w + u32(idx)];
}
