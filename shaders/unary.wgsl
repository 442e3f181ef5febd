// y = f(x) elementwise; OP selects f. alpha/beta are scalar operands (affine, pow, clamp, fill).
//#include "common_math"
override OP: u32 = 0u;
struct Params { n: u32, nx: u32, alpha: f32, beta: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

fn apply(v: f32) -> f32 {
  switch OP {
    case 0u: { return v; }
    case 1u: { return -v; }
    case 2u: { return exp(v); }
    case 3u: { return log(v); }
    case 4u: { return sqrt(v); }
    case 5u: { return abs(v); }
    case 6u: { return sign(v); }
    case 7u: { return max_nan(v, 0.0); }
    case 8u: { return select(0.0, 1.0, v > 0.0); }
    case 9u: { return p.alpha * v + p.beta; }
    case 10u: { return pow_f32(v, p.alpha); }
    case 11u: { return select(clamp(v, p.alpha, p.beta), v, is_nan(v)); }
    case 12u: { return select(0.0, 1.0, v >= p.alpha && v <= p.beta); }
    case 13u: { return p.beta; }
    case 14u: { return 1.0 / v; }
    case 15u: { return v * v; }
    case 16u: { return inverseSqrt(v + p.alpha); }
    case 17u: { return select(0.0, 1.0, is_nan(v)); }
    default: { return v; }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.nx;
  if (i >= p.n) { return; }
  y[i] = apply(x[i]);
}
