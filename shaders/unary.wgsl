// y = f(x) elementwise; OP selects f. alpha/beta are scalar operands (affine, pow, clamp, fill).
//#include "common_math"
//#include "unary_op"
override OP: u32 = 0u;
struct Params { n: u32, nx: u32, alpha: f32, beta: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.nx;
  if (i >= p.n) { return; }
  y[i] = apply(x[i]);
}
