// One Square-attack (ℓ∞) proposal for a batch of images [N, C, H, W]:
//   y = P(x_best + d),  d = 2ε·sign_c inside the s×s window at row vh, column vw of every image
//                       and channel c, 0 elsewhere,
// with P(v) = clamp(min(max(v, x0 − ε), x0 + ε), 0, 1). The window and the per-channel signs are
// shared by the whole batch (as in the reference implementation) and arrive as uniforms, so a
// proposal needs no upload. Bit c of `signs` set means sign_c = +1.
struct Params {
  n: u32, nx: u32, c: u32, h: u32,
  w: u32, vh: u32, vw: u32, s: u32,
  signs: u32, pad0: u32, pad1: u32, pad2: u32,
  eps: f32, pad3: u32, pad4: u32, pad5: u32,
}
@group(0) @binding(0) var<storage, read> x_best: array<f32>;
@group(0) @binding(1) var<storage, read> x0: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.nx;
  if (i >= p.n) { return; }
  let col = i % p.w;
  let row = (i / p.w) % p.h;
  let ch = (i / (p.w * p.h)) % p.c;
  var v = x_best[i];
  if (row >= p.vh && row < p.vh + p.s && col >= p.vw && col < p.vw + p.s) {
    v = v + select(-2.0 * p.eps, 2.0 * p.eps, ((p.signs >> ch) & 1u) == 1u);
  }
  let c = x0[i];
  y[i] = clamp(min(max(v, c - p.eps), c + p.eps), 0.0, 1.0);
}
