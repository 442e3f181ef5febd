// binary.wgsl's `fast` case (both operands contiguous, of the output's shape) for sizes that are a
// multiple of 4: each invocation maps PER consecutive vec4s (see unary_vec4.wgsl for why).
//#include "common_math"
//#include "binary_op"
override OP: u32 = 0u;
override PER: u32 = 4u;
struct Params { n: u32, nx: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<f32>>;
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i0 = (gid.x + gid.y * p.nx) * PER;
  for (var t = 0u; t < PER; t++) {
    let i = i0 + t;
    if (i >= p.n) { return; }
    let u = a[i];
    let v = b[i];
    y[i] = vec4<f32>(apply(u.x, v.x), apply(u.y, v.y), apply(u.z, v.z), apply(u.w, v.w));
  }
}
