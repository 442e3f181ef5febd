// Fills a tensor from the Threefry stream at counters base + i (i = element index).
// MODE 0 uniform [a, b)   MODE 1 normal(mean a, std b)   MODE 2 bernoulli(p = a) as 0/1
// MODE 3 integers in [lo, lo + range) (i32)   MODE 4 raw u32 words
//#include "threefry"
override MODE: u32 = 0u;
struct Params {
  n: u32, nx: u32, key0: u32, key1: u32,
  base_lo: u32, base_hi: u32, lo: i32, range: u32,
  a: f32, b: f32, pad0: u32, pad1: u32,
}
@group(0) @binding(0) var<storage, read_write> Y: array<u32>;
@group(1) @binding(0) var<uniform> p: Params;

// 24 random bits → [0, 1)
fn unit(u: u32) -> f32 { return f32(u >> 8u) * (1.0 / 16777216.0); }

// High 32 bits of a 32×32 product (WGSL has no mulhi).
fn mulhi(a: u32, b: u32) -> u32 {
  let a0 = a & 0xffffu; let a1 = a >> 16u;
  let b0 = b & 0xffffu; let b1 = b >> 16u;
  let lo = a0 * b0;
  let m1 = a1 * b0;
  let m2 = a0 * b1;
  let mid = (lo >> 16u) + (m1 & 0xffffu) + (m2 & 0xffffu);
  return a1 * b1 + (m1 >> 16u) + (m2 >> 16u) + (mid >> 16u);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.nx;
  if (i >= p.n) { return; }
  let lo = p.base_lo + i;
  let hi = p.base_hi + select(0u, 1u, lo < i);
  let r = threefry2x32(vec2<u32>(p.key0, p.key1), vec2<u32>(lo, hi));
  switch MODE {
    case 0u: { Y[i] = bitcast<u32>(p.a + (p.b - p.a) * unit(r.x)); }
    case 1u: {
      // Box–Muller; 1 − u keeps the log argument in (0, 1].
      let u1 = 1.0 - unit(r.x);
      let u2 = unit(r.y);
      let z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
      Y[i] = bitcast<u32>(p.a + p.b * z);
    }
    case 2u: { Y[i] = bitcast<u32>(select(0.0, 1.0, unit(r.x) < p.a)); }
    // range 0 stands for 2^32 (the whole i32 range), which does not fit in a u32.
    case 3u: { Y[i] = bitcast<u32>(p.lo + i32(select(mulhi(r.x, p.range), r.x, p.range == 0u))); }
    default: { Y[i] = r.x; }
  }
}
