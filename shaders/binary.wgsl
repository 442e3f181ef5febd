// out = a (op) b with NumPy broadcasting: each operand is read through its own strides (0 on
// broadcast axes). `fast` = 1 when both are contiguous and of the output's shape.
//#include "common_math"
//#include "common_index"
override OP: u32 = 0u;
struct Params {
  n: u32, nx: u32, ndim: u32, fast: u32,
  shape: array<vec4<u32>, 2>,
  sa: array<vec4<u32>, 2>,
  sb: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

fn apply(u: f32, v: f32) -> f32 {
  switch OP {
    case 0u: { return u + v; }
    case 1u: { return u - v; }
    case 2u: { return u * v; }
    case 3u: { return u / v; }
    case 4u: { return min(u, v); }
    case 5u: { return max(u, v); }
    case 6u: { return pow_f32(u, v); }
    case 7u: { return select(0.0, 1.0, u > v); }
    case 8u: { return select(0.0, 1.0, u >= v); }
    case 9u: { return select(0.0, 1.0, u < v); }
    case 10u: { return select(0.0, 1.0, u <= v); }
    case 11u: { return select(0.0, 1.0, u == v); }
    case 12u: { return select(0.0, 1.0, u != v); }
    default: { return u; }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.nx;
  if (i >= p.n) { return; }
  if (p.fast == 1u) {
    y[i] = apply(a[i], b[i]);
  } else {
    y[i] = apply(a[strided_offset(i, p.ndim, p.shape, p.sa)], b[strided_offset(i, p.ndim, p.shape, p.sb)]);
  }
}
