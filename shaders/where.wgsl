// out = cond != 0 ? a : b, all three broadcast to the output shape.
//#include "common_index"
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

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.nx;
  if (i >= p.n) { return; }
  let cv = c[strided_offset(i, p.ndim, p.shape, p.sc)];
  let av = a[strided_offset(i, p.ndim, p.shape, p.sa)];
  let bv = b[strided_offset(i, p.ndim, p.shape, p.sb)];
  y[i] = select(bv, av, cv != 0.0);
}
