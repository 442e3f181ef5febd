// y[b,co,oy,ox] = Σ_{ci,kh,kw} w[co,ci,kh,kw] · x[b,ci,oy·sh−ph+kh, ox·sw−pw+kw] (zero padding).
// Implicit GEMM: rows = output channels, columns = (b, oy, ox). Each invocation keeps a 4×4 tile
// (4 channels × 4 output positions) in registers.
//#include "conv_params"
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> Wt: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<storage, read> MASK: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

// MASK_W = 1 multiplies every weight by MASK (same layout) as it is read: a pruned conv without a
// masked copy of its weights (src/ops/maskedConv.ts). With MASK_W = 0 binding 3 is never read.
override MASK_W: u32 = 0u;
fn wload(i: u32) -> f32 {
  if (MASK_W == 1u) { return Wt[i] * MASK[i]; }
  return Wt[i];
}

override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;
@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  // Columns past the adapter's workgroups-per-dimension limit fold into z (kernels/conv2d.ts groups).
  let q0 = (gid.x + gid.z * nwg.x * WG_X) * 4u;
  let co0 = gid.y * 4u;
  let ohw = p.oh * p.ow;
  let nq = p.batch * ohw;
  if (q0 >= nq || co0 >= p.cout) { return; }
  var xbase: vec4<u32>;   // offset of x[b, 0, 0, 0]
  var iy0: vec4<i32>;
  var ix0: vec4<i32>;
  var qok: vec4<bool>;
  for (var j = 0u; j < 4u; j++) {
    let q = min(q0 + j, nq - 1u);
    qok[j] = q0 + j < nq;
    let b = q / ohw;
    let r = q % ohw;
    iy0[j] = i32((r / p.ow) * p.sh) - i32(p.ph);
    ix0[j] = i32((r % p.ow) * p.sw) - i32(p.pw);
    xbase[j] = b * p.cin * p.h * p.w;
  }
  let ksz = p.kh * p.kw;
  let wstride = p.cin * ksz;
  var wrow: vec4<u32>;
  for (var i = 0u; i < 4u; i++) { wrow[i] = min(co0 + i, p.cout - 1u) * wstride; }
  var acc: array<vec4<f32>, 4>;
  let hw = p.h * p.w;
  for (var ci = 0u; ci < p.cin; ci++) {
    for (var ky = 0u; ky < p.kh; ky++) {
      for (var kx = 0u; kx < p.kw; kx++) {
        var xv: vec4<f32>;
        for (var j = 0u; j < 4u; j++) {
          let iy = iy0[j] + i32(ky);
          let ix = ix0[j] + i32(kx);
          if (iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w)) {
            xv[j] = X[xbase[j] + ci * hw + u32(iy) * p.w + u32(ix)];
          } else {
            xv[j] = 0.0;
          }
        }
        let widx = ci * ksz + ky * p.kw + kx;
        acc[0] += wload(wrow.x + widx) * xv;
        acc[1] += wload(wrow.y + widx) * xv;
        acc[2] += wload(wrow.z + widx) * xv;
        acc[3] += wload(wrow.w + widx) * xv;
      }
    }
  }
  for (var j = 0u; j < 4u; j++) {
    if (!qok[j]) { continue; }
    let q = q0 + j;
    let b = q / ohw;
    let r = q % ohw;
    for (var i = 0u; i < 4u; i++) {
      if (co0 + i < p.cout) { Y[(b * p.cout + co0 + i) * ohw + r] = acc[i][j]; }
    }
  }
}
