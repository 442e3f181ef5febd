// col2im with the lanes over (batch item, channel) planes (the 'lanes' variant; col2im.wgsl is
// 'positions'): same result, gx[b0 + b, ci, iy, ix] = Σ_{ky,kx} dcols[b, (ci·KH + ky)·KW + kx, oy·OW + ox]
// over the (oy, ox) whose window covers (iy, ix). Each invocation sums 4 consecutive pixels
// ix0..ix0+3 of one row iy of one plane. A workgroup's lanes share (iy, ix0) (taken from the
// workgroup id), so every window test below is uniform across the lanes: no divergent loops,
// which cost col2im.wgsl most of its time on CPU adapters. KH, KW, SH, SW are pipeline constants,
// so the tap loops unroll and the stride divisions are by constants.
// Grid: x = ⌈W/4⌉ pixel groups, y = iy, z = groups of LANES planes (b·Cin + ci).
//#include "fold_params"
@group(0) @binding(0) var<storage, read> DCOLS: array<f32>;
@group(0) @binding(1) var<storage, read_write> GX: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

override KH: u32 = 3u;
override KW: u32 = 3u;
override SH: u32 = 1u;
override SW: u32 = 1u;
override LANES: u32 = 64u;
// pad1 holds the planes in this chunk (nb·Cin); a plane's batch item is an f32 division with a
// correction (fast_div.wgsl).
//#include "fast_div"

@compute @workgroup_size(LANES, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let plane = wid.z * LANES + lid.x;
  if (plane >= p.pad1) { return; }
  let ix0 = wid.x * 4u;
  let iy = wid.y;
  let b = udiv(plane, p.cin);
  let ci = plane - b * p.cin;
  let base = b * p.rows * p.pitch + ci * KH * KW * p.pitch;
  let ty = iy + p.ph;
  var s = vec4<f32>(0.0);
  for (var ky = 0u; ky < KH; ky++) {
    if (ty < ky) { continue; }
    let dy = ty - ky;
    if (dy % SH != 0u) { continue; }
    let oy = dy / SH;
    if (oy >= p.oh) { continue; }
    let rowy = base + ky * KW * p.pitch + oy * p.ow;
    for (var kx = 0u; kx < KW; kx++) {
      let row = rowy + kx * p.pitch;
      for (var j = 0u; j < 4u; j++) {
        let tx = ix0 + j + p.pw;
        if (tx < kx) { continue; }
        let dx = tx - kx;
        if (dx % SW != 0u) { continue; }
        let ox = dx / SW;
        if (ox < p.ow) { s[j] += DCOLS[row + ox]; }
      }
    }
  }
  let out = p.x_off + plane * p.h * p.w + iy * p.w + ix0;
  let n = min(4u, p.w - ix0);
  for (var j = 0u; j < n; j++) { GX[out + j] = s[j]; }
}
