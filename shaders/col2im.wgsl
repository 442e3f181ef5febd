// Folds patch gradients back onto the image (the adjoint of im2col; rows of dcols are `pitch`
// long, see im2col.wgsl):
// gx[b0 + b, ci, iy, ix] = Σ_{ky,kx} dcols[b, (ci·KH + ky)·KW + kx, oy·OW + ox] over the
// (oy, ox) whose window covers (iy, ix). Each input element gathers its ≤ KH·KW terms, so no
// atomics are needed. Grid: x = iy·W + ix, y = ci, z = batch item within the chunk.
struct Params {
  cin: u32, h: u32, w: u32, oh: u32,
  ow: u32, kh: u32, kw: u32, sh: u32,
  sw: u32, ph: u32, pw: u32, rows: u32,
  x_off: u32, pitch: u32, pad1: u32, pad2: u32,
}
@group(0) @binding(0) var<storage, read> DCOLS: array<f32>;
@group(0) @binding(1) var<storage, read_write> GX: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(64, 4, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let hw = p.h * p.w;
  let i = gid.x;
  let ci = gid.y;
  if (i >= hw || ci >= p.cin) { return; }
  let iy = i32(i / p.w);
  let ix = i32(i % p.w);
  let base = gid.z * p.rows * p.pitch;
  var s = 0.0;
  for (var ky = 0u; ky < p.kh; ky++) {
    let ty = iy + i32(p.ph) - i32(ky);
    if (ty < 0 || ty >= i32(p.oh * p.sh)) { continue; }
    let oy = u32(ty) / p.sh;
    if (oy * p.sh != u32(ty)) { continue; }
    for (var kx = 0u; kx < p.kw; kx++) {
      let tx = ix + i32(p.pw) - i32(kx);
      if (tx < 0 || tx >= i32(p.ow * p.sw)) { continue; }
      let ox = u32(tx) / p.sw;
      if (ox * p.sw != u32(tx)) { continue; }
      let r = (ci * p.kh + ky) * p.kw + kx;
      s += DCOLS[base + r * p.pitch + oy * p.ow + ox];
    }
  }
  GX[p.x_off + (gid.z * p.cin + ci) * hw + i] = s;
}
