// Reduces the middle axis of a [outer, K, inner] view. Long axes are reduced in chunks
// (out: [outer, nchunks, inner]) and the launcher reduces again, so no invocation loops too long.
//#include "common_math"
override OP: u32 = 0u; // 0 sum, 1 max, 2 min
struct Params { outer: u32, k: u32, inner: u32, chunk: u32, nchunks: u32, nx: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x + gid.y * p.nx;
  let per = p.nchunks * p.inner;
  if (t >= p.outer * per) { return; }
  let o = t / per;
  let r = t % per;
  let c = r / p.inner;
  let i = r % p.inner;
  let k0 = c * p.chunk;
  let k1 = min(p.k, k0 + p.chunk);
  var base = (o * p.k + k0) * p.inner + i;
  var acc: f32;
  if (OP == 0u) { acc = 0.0; } else { acc = x[base]; }
  for (var k = k0; k < k1; k++) {
    let v = x[base];
    if (OP == 0u) { acc += v; } else if (OP == 1u) { acc = max_nan(acc, v); } else { acc = min_nan(acc, v); }
    base += p.inner;
  }
  y[(o * p.nchunks + c) * p.inner + i] = acc;
}
