// Folds patch gradients back onto the image (the adjoint of im2col; rows of dcols are `pitch`
// long, see im2col.wgsl):
// gx[b0 + b, ci, iy, ix] = Σ_{ky,kx} dcols[b, (ci·KH + ky)·KW + kx, oy·OW + ox] over the
// (oy, ox) whose window covers (iy, ix). Each input element gathers its ≤ KH·KW terms, so no
// atomics are needed. Grid: x = iy·W + ix, y = ci, z = batch item within the chunk.
// The loops run over the covering window positions only: oy·sh + ky = iy + ph with 0 ≤ ky < KH
// gives oy ∈ [⌈(iy + ph − KH + 1)/sh⌉, ⌊(iy + ph)/sh⌋] ∩ [0, OH), and the same along x, so there is
// no per-tap divisibility test and only a few udiv (fast_div.wgsl) per element.
//#include "fast_div"
//#include "fold_params"
@group(0) @binding(0) var<storage, read> DCOLS: array<f32>;
@group(0) @binding(1) var<storage, read_write> GX: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

// Window positions o with o·s + k = t for some 0 ≤ k < ks, as the half-open range [lo, hi).
fn covering(t: u32, ks: u32, s: u32, n: u32) -> vec2<u32> {
  var lo = 0u;
  if (t + 1u > ks) { lo = udiv(t + 1u - ks + s - 1u, s); }
  let hi = min(udiv(t, s) + 1u, n);
  return vec2<u32>(lo, max(lo, hi));
}

// PER consecutive positions of one plane per invocation (fewer invocations: their cost dominates
// on CPU adapters); the first position's (iy, ix) takes a udiv, the next ones step along the row.
override PER: u32 = 1u;
@compute @workgroup_size(64, 4, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let hw = p.h * p.w;
  let i0 = gid.x * PER;
  let ci = gid.y;
  if (i0 >= hw || ci >= p.cin) { return; }
  let base = gid.z * p.rows * p.pitch + ci * p.kh * p.kw * p.pitch;
  let out = p.x_off + (gid.z * p.cin + ci) * hw;
  var iy = udiv(i0, p.w);
  var ix = i0 - iy * p.w;
  let i1 = min(i0 + PER, hw);
  for (var i = i0; i < i1; i++) {
    let ty = iy + p.ph;
    let tx = ix + p.pw;
    let ry = covering(ty, p.kh, p.sh, p.oh);
    let rx = covering(tx, p.kw, p.sw, p.ow);
    var s = 0.0;
    for (var oy = ry.x; oy < ry.y; oy++) {
      let ky = ty - oy * p.sh;
      let rowbase = base + ky * p.kw * p.pitch + oy * p.ow;
      for (var ox = rx.x; ox < rx.y; ox++) {
        let kx = tx - ox * p.sw;
        s += DCOLS[rowbase + kx * p.pitch + ox];
      }
    }
    GX[out + i] = s;
    ix += 1u;
    if (ix == p.w) { ix = 0u; iy += 1u; }
  }
}
