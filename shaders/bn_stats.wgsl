// Per-channel partial sums over an [N, C, HW] tensor, for batch normalisation. Invocation
// (c, chunk) covers batch items [chunk·per, (chunk+1)·per) of channel c.
// MODE 0 (statistics, one pass over x): the chunk's mean and Σ (x − chunk mean)², from sums of
//   x − K with K the chunk's first value (shifted sums: no cancellation as long as K is a value of
//   the data, which E[x²] − mean² would suffer); bn_merge.wgsl combines the chunks exactly.
// MODE 1 (backward): Σ g and Σ g·(x − mean[c]) (`M` holds the mean).
// Either way the output holds two values per (c, chunk).
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
  var shift: f32;
  if (MODE == 0u) { shift = X[(n0 * p.c + c) * p.hw]; } else { shift = M[c]; }
  var s0 = 0.0;
  var s1 = 0.0;
  for (var n = n0; n < n1; n++) {
    let base = (n * p.c + c) * p.hw;
    for (var i = 0u; i < p.hw; i++) {
      let d = X[base + i] - shift;
      if (MODE == 0u) {
        s0 += d;
        s1 += d * d;
      } else {
        let g = G[base + i];
        s0 += g;
        s1 += g * d;
      }
    }
  }
  let out = (c * p.chunks + chunk) * 2u;
  if (MODE == 0u) {
    let count = f32((n1 - n0) * p.hw);
    S[out] = shift + s0 / count;
    S[out + 1u] = max(s1 - s0 * s0 / count, 0.0);
  } else {
    S[out] = s0;
    S[out + 1u] = s1;
  }
}
