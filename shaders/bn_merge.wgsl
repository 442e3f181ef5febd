// Combines bn_stats.wgsl's per-chunk means and squared deviations into each channel's mean and
// biased variance (Chan et al.'s parallel update: Σ M2_i + Σ n_i·(mean_i − mean)²), one invocation
// per channel. Chunks hold `per` batch items of `hw` values each, the last one what is left.
struct Params { n: u32, c: u32, hw: u32, per: u32, chunks: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<storage, read> S: array<f32>;
@group(0) @binding(1) var<storage, read_write> OUT: array<f32>;   // [2, C]: mean, biased variance
@group(1) @binding(0) var<uniform> p: Params;

fn items(chunk: u32) -> f32 {
  return f32((min(p.n, (chunk + 1u) * p.per) - chunk * p.per) * p.hw);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= p.c) { return; }
  let total = f32(p.n * p.hw);
  var mean = 0.0;
  for (var k = 0u; k < p.chunks; k++) { mean += items(k) * S[(c * p.chunks + k) * 2u]; }
  mean /= total;
  var m2 = 0.0;
  for (var k = 0u; k < p.chunks; k++) {
    let d = S[(c * p.chunks + k) * 2u] - mean;
    m2 += S[(c * p.chunks + k) * 2u + 1u] + items(k) * d * d;
  }
  OUT[c] = mean;
  OUT[p.c + c] = m2 / total;
}
