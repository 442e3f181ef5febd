// gw[co,ci,kh,kw] = Σ_{b,oy,ox} gy[b,co,oy,ox] · x[b,ci,oy·sh−ph+kh, ox·sw−pw+kw].
// GEMM with rows = output channels, columns = (ci,kh,kw), reduction over (b,oy,ox); 4×4 tile per
// invocation.
//#include "conv_params"
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> GY: array<f32>;
@group(0) @binding(2) var<storage, read_write> GW: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;
@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r0 = gid.x * 4u;
  let co0 = gid.y * 4u;
  let ksz = p.kh * p.kw;
  let nr = p.cin * ksz;
  if (r0 >= nr || co0 >= p.cout) { return; }
  let ohw = p.oh * p.ow;
  let hw = p.h * p.w;
  var xoff: vec4<u32>;  // offset of x[0, ci, 0, 0]
  var ky: vec4<i32>;
  var kx: vec4<i32>;
  for (var j = 0u; j < 4u; j++) {
    let r = min(r0 + j, nr - 1u);
    let ci = r / ksz;
    let kk = r % ksz;
    xoff[j] = ci * hw;
    ky[j] = i32(kk / p.kw) - i32(p.ph);
    kx[j] = i32(kk % p.kw) - i32(p.pw);
  }
  var gco: vec4<u32>;
  for (var i = 0u; i < 4u; i++) { gco[i] = min(co0 + i, p.cout - 1u) * ohw; }
  var acc: array<vec4<f32>, 4>;
  for (var b = 0u; b < p.batch; b++) {
    let xb = b * p.cin * hw;
    let gb = b * p.cout * ohw;
    for (var oy = 0u; oy < p.oh; oy++) {
      for (var ox = 0u; ox < p.ow; ox++) {
        let o = gb + oy * p.ow + ox;
        let g = vec4<f32>(GY[gco.x + o], GY[gco.y + o], GY[gco.z + o], GY[gco.w + o]);
        let by = i32(oy * p.sh);
        let bx = i32(ox * p.sw);
        var xv: vec4<f32>;
        for (var j = 0u; j < 4u; j++) {
          let iy = by + ky[j];
          let ix = bx + kx[j];
          if (iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w)) {
            xv[j] = X[xb + xoff[j] + u32(iy) * p.w + u32(ix)];
          } else {
            xv[j] = 0.0;
          }
        }
        acc[0] += g.x * xv;
        acc[1] += g.y * xv;
        acc[2] += g.z * xv;
        acc[3] += g.w * xv;
      }
    }
  }
  for (var i = 0u; i < 4u; i++) {
    if (co0 + i >= p.cout) { continue; }
    for (var j = 0u; j < 4u; j++) {
      if (r0 + j < nr) { GW[(co0 + i) * nr + r0 + j] = acc[i][j]; }
    }
  }
}
