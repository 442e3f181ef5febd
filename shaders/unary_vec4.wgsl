// unary.wgsl's y = f(x) for contiguous tensors whose size is a multiple of 4: each invocation
// maps PER consecutive vec4s. On CPU adapters (lavapipe) the cost of an invocation, not the
// arithmetic, dominates an elementwise pass: 16 elements per invocation ran relu 5x faster than
// one. `n` counts vec4s; the grid folds into y as in unary.wgsl (nx = invocations per row).
//#include "common_math"
//#include "unary_op"
override OP: u32 = 0u;
override PER: u32 = 4u;
struct Params { n: u32, nx: u32, alpha: f32, beta: f32 }
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i0 = (gid.x + gid.y * p.nx) * PER;
  for (var t = 0u; t < PER; t++) {
    let i = i0 + t;
    if (i >= p.n) { return; }
    let v = x[i];
    y[i] = vec4<f32>(apply(v.x), apply(v.y), apply(v.z), apply(v.w));
  }
}
