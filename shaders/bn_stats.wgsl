// Per-channel partial sums over an [N, C, HW] tensor, for batch normalisation. Invocation
// (c, chunk) sums batch items [chunk·per, (chunk+1)·per) of channel c; the launcher adds the
// chunks. MODE 0: Σ x. MODE 1: Σ (x − mean[c])² (two passes keep the variance exact where
// E[x²] − mean² would cancel). MODE 2: Σ g and Σ g·(x − mean[c]) (the backward pass's sums;
// `other` is g, output holds two values per (c, chunk)).
override MODE: u32 = 0u;
struct Params { n: u32, c: u32, hw: u32, per: u32, chunks: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> M: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read_write> S: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let chunk = gid.x;
  let c = gid.y;
  if (chunk >= p.chunks || c >= p.c) { return; }
  let n0 = chunk * p.per;
  let n1 = min(p.n, n0 + p.per);
  var mean = 0.0;
  if (MODE != 0u) { mean = M[c]; }
  var s0 = 0.0;
  var s1 = 0.0;
  for (var n = n0; n < n1; n++) {
    let base = (n * p.c + c) * p.hw;
    for (var i = 0u; i < p.hw; i++) {
      let v = X[base + i];
      if (MODE == 0u) {
        s0 += v;
      } else if (MODE == 1u) {
        let d = v - mean;
        s0 += d * d;
      } else {
        let g = G[base + i];
        s0 += g;
        s1 += g * (v - mean);
      }
    }
  }
  if (MODE == 2u) {
    S[(c * p.chunks + chunk) * 2u] = s0;
    S[(c * p.chunks + chunk) * 2u + 1u] = s1;
  } else {
    S[c * p.chunks + chunk] = s0;
  }
}
