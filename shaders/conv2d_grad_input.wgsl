// gx[b,ci,iy,ix] = Σ_{co,kh,kw} gy[b,co,oy,ox] · w[co,ci,kh,kw] where oy·sh−ph+kh = iy and
// ox·sw−pw+kw = ix. Each invocation owns 4 input channels × 4 input positions.
//#include "conv_params"
@group(0) @binding(0) var<storage, read> GY: array<f32>;
@group(0) @binding(1) var<storage, read> Wt: array<f32>;
@group(0) @binding(2) var<storage, read_write> GX: array<f32>;
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
  let ci0 = gid.y * 4u;
  let hw = p.h * p.w;
  let nq = p.batch * hw;
  if (q0 >= nq || ci0 >= p.cin) { return; }
  let ohw = p.oh * p.ow;
  let ksz = p.kh * p.kw;
  var acc: array<vec4<f32>, 4>;   // acc[i][j]: channel ci0+i, position q0+j
  var wci: vec4<u32>;
  for (var i = 0u; i < 4u; i++) { wci[i] = min(ci0 + i, p.cin - 1u) * ksz; }
  for (var j = 0u; j < 4u; j++) {
    let q = min(q0 + j, nq - 1u);
    let b = q / hw;
    let r = q % hw;
    let iy = i32(r / p.w);
    let ix = i32(r % p.w);
    for (var ky = 0u; ky < p.kh; ky++) {
      let ty = iy + i32(p.ph) - i32(ky);
      if (ty < 0 || ty % i32(p.sh) != 0) { continue; }
      let oy = u32(ty) / p.sh;
      if (oy >= p.oh) { continue; }
      for (var kx = 0u; kx < p.kw; kx++) {
        let tx = ix + i32(p.pw) - i32(kx);
        if (tx < 0 || tx % i32(p.sw) != 0) { continue; }
        let ox = u32(tx) / p.sw;
        if (ox >= p.ow) { continue; }
        var gbase = b * p.cout * ohw + oy * p.ow + ox;
        let koff = ky * p.kw + kx;
        var wbase = koff;
        var s = vec4<f32>(0.0);
        for (var co = 0u; co < p.cout; co++) {
          let g = GY[gbase];
          s += g * vec4<f32>(wload(wbase + wci.x), wload(wbase + wci.y), wload(wbase + wci.z), wload(wbase + wci.w));
          gbase += ohw;
          wbase += p.cin * ksz;
        }
        for (var i = 0u; i < 4u; i++) { acc[i][j] += s[i]; }
      }
    }
  }
  for (var j = 0u; j < 4u; j++) {
    let q = q0 + j;
    if (q >= nq) { continue; }
    let b = q / hw;
    let r = q % hw;
    for (var i = 0u; i < 4u; i++) {
      if (ci0 + i < p.cin) { GX[(b * p.cin + ci0 + i) * hw + r] = acc[i][j]; }
    }
  }
}
