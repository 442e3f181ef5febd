// out = cond != 0 ? a : b, all three broadcast to the output shape. GRID as in binary.wgsl.
//#include "common_index"
//#include "common_math"
override GRID: u32 = 0u;
// GRID = 1: PER consecutive inner-axis elements per invocation (kernels/layout.ts grid3).
override PER: u32 = 1u;
override WG_X: u32 = 256u;
override WG_Y: u32 = 1u;
struct Params {
  n: u32, nx: u32, ndim: u32, pad0: u32,
  shape: array<vec4<u32>, 2>,
  sc: array<vec4<u32>, 2>,
  sa: array<vec4<u32>, 2>,
  sb: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<storage, read> c: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (GRID == 1u) {
    let e = p.shape[0];
    let x0 = gid.x * PER;
    if (x0 >= e.x || gid.y >= e.y) { return; }
    let x1 = min(x0 + PER, e.x);
    for (var x = x0; x < x1; x++) {
      let g = vec3<u32>(x, gid.y, gid.z);
      y[(gid.z * e.y + gid.y) * e.x + x] =
        select(b[dot(g, p.sb[0].xyz)], a[dot(g, p.sa[0].xyz)], c[dot(g, p.sc[0].xyz)] != 0.0 || is_nan(c[dot(g, p.sc[0].xyz)]));
    }
    return;
  }
  let i = gid.x + gid.y * p.nx;
  if (i >= p.n) { return; }
  let cv = c[strided_offset(i, p.ndim, p.shape, p.sc)];
  let av = a[strided_offset(i, p.ndim, p.shape, p.sa)];
  let bv = b[strided_offset(i, p.ndim, p.shape, p.sb)];
  y[i] = select(bv, av, cv != 0.0 || is_nan(cv));
}
