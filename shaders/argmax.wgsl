// Index of the largest value along the middle axis of [outer, K, inner] (first one on ties).
//#include "common_math"
struct Params { outer: u32, k: u32, inner: u32, nx: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<i32>;
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x + gid.y * p.nx;
  if (t >= p.outer * p.inner) { return; }
  let o = t / p.inner;
  let i = t % p.inner;
  var base = o * p.k * p.inner + i;
  var best = x[base];
  var arg = 0u;
  for (var k = 1u; k < p.k; k++) {
    base += p.inner;
    let v = x[base];
    if (!is_nan(best) && (v > best || is_nan(v))) { best = v; arg = k; }
  }
  y[t] = i32(arg);
}
