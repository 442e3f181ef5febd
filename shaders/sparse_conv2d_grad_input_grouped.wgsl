// The input gradient of a sparse (pruned) convolution, gathered: input channels 64 at a time, as the
// forward kernels take output channels (sparse_conv2d_grouped_direct.wgsl):
//   gx[b, 64·g + c, iy, ix] = Σ_{co, ky, kx} W[co, 64·g + c, ky, kx] · GY[b, co, oy, ox]
//   over the taps with oy·sh + ky = iy + ph and ox·sw + kx = ix + pw inside the OH × OW plane.
// Why gathered: the alternative (the 1×1 conv of gy with Wᵀ, then col2im) stores and reads back
// Cin·KH·KW patch gradients per output position, several times the size of gx itself.
// Strided layers: a tap (ky, kx) reaches input row iy only when iy + ph − ky is a multiple of sh, so
// the positions are split into sh·sw classes by ((iy + ph) mod sh, (ix + pw) mod sw); the taps of
// a class are those with ky ≡ (iy + ph), kx ≡ (ix + pw), and within it oy = oy0 − jy, ox = ox0 − jx
// for the tap's index (jy, jx) = (⌊ky/sh⌋, ⌊kx/sw⌋) and the position's oy0 = (iy + ph − cy)/sh.
// Every lane's positions share a class (grid z), so no lane runs a tap that misses its positions.
// ENTRIES holds (co, the group's two mask words over its input channels, jy·2^16 + jx) per tap
// that any of the group's channels uses, by (group, class); GSTART the (first entry, first value)
// of each (group, class), then the totals; GVALS the non-zeros in (entry, channel) order
// (kernels/sparseWeights.ts SparseConv2d.transposedGroups).
// Grid: x = channel group, y = blocks of WG_X·V vec4s of a class's positions (b, iy, ix) flattened,
// z = class; lane l owns the 4 consecutive positions of vec4s l, l + WG_X, ... (V of them).
//#include "fast_div"
//#include "sparse_group_gather"
struct Params {
  cin: u32, h: u32, w: u32, item: u32,
  oh: u32, ow: u32, sh: u32, sw: u32,
  ph: u32, pw: u32, classes: u32, batch: u32,
}
@group(0) @binding(0) var<storage, read> GY: array<f32>;
@group(0) @binding(1) var<storage, read> GSTART: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read> ENTRIES: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> GVALS: array<f32>;
@group(0) @binding(4) var<storage, read_write> GX: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

override WG_X: u32 = 64u;
/** vec4s of positions per invocation (1..4); the unused accumulators are compiled out. */
override V: u32 = 4u;

/** The positions of one class: rows ry, ry + sh, ... and columns rx, rx + sw, ... of every item. */
struct Class {
  ry: u32,
  rx: u32,
  ny: u32,
  nx: u32,
  cy: u32,
  cx: u32,
  nq: u32,
}

fn class_of(k: u32, batch: u32) -> Class {
  var c: Class;
  c.cy = k / p.sw;
  c.cx = k - c.cy * p.sw;
  // (iy + ph) mod sh = cy  ⇔  iy ≡ cy − ph (mod sh).
  c.ry = (c.cy + p.sh - p.ph % p.sh) % p.sh;
  c.rx = (c.cx + p.sw - p.pw % p.sw) % p.sw;
  c.ny = select(0u, (p.h - c.ry + p.sh - 1u) / p.sh, c.ry < p.h);
  c.nx = select(0u, (p.w - c.rx + p.sw - 1u) / p.sw, c.rx < p.w);
  c.nq = batch * c.ny * c.nx;
  return c;
}

/** Four positions' gy item offsets, first output row and column (oy0, ox0), and gx offsets. */
struct Origins {
  item: vec4<u32>,
  oy: vec4<i32>,
  ox: vec4<i32>,
  at: vec4<u32>,
}

fn origins(c: Class, gv: u32) -> Origins {
  var o: Origins;
  let plane = c.ny * c.nx;
  for (var i = 0u; i < 4u; i++) {
    let q = min(4u * gv + i, c.nq - 1u);
    let b = udiv(q, plane);
    let r = q - b * plane;
    let yy = udiv(r, c.nx);
    let iy = c.ry + yy * p.sh;
    let ix = c.rx + (r - yy * c.nx) * p.sw;
    o.item[i] = b * p.item;
    o.oy[i] = i32(udiv(iy + p.ph - c.cy, p.sh));
    o.ox[i] = i32(udiv(ix + p.pw - c.cx, p.sw));
    o.at[i] = b * p.cin * p.h * p.w + iy * p.w + ix;
  }
  return o;
}

/** The tap's output-gradient values at the four positions, zero where it falls outside the plane. */
fn gather(o: Origins, co: u32, jy: i32, jx: i32) -> vec4<f32> {
  // A negative coordinate wraps to a huge u32, so one unsigned test covers both sides.
  let oy = vec4<u32>(o.oy - jy);
  let ox = vec4<u32>(o.ox - jx);
  let inside = (oy < vec4<u32>(p.oh)) & (ox < vec4<u32>(p.ow));
  let at = select(vec4<u32>(0u), o.item + co * p.oh * p.ow + oy * p.ow + ox, inside);
  return select(vec4<f32>(0.0), vec4<f32>(GY[at.x], GY[at.y], GY[at.z], GY[at.w]), inside);
}

fn store4(c: Class, gv: u32, ci: u32, o: Origins, a: vec4<f32>) {
  let plane = ci * p.h * p.w;
  for (var i = 0u; i < 4u; i++) {
    if (4u * gv + i >= c.nq) { return; }
    GX[o.at[i] + plane] = a[i];
  }
}

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let g = wid.x;
  let k = wid.z;
  let c = class_of(k, p.batch);
  let nvec = (c.nq + 3u) / 4u;
  let g0 = wid.y * WG_X * V + lid.x;
  if (g0 >= nvec) { return; }
  let o0 = origins(c, g0);
  let o1 = origins(c, g0 + WG_X);
  let o2 = origins(c, g0 + 2u * WG_X);
  let o3 = origins(c, g0 + 3u * WG_X);
  var acc: array<vec4<f32>, 256>;
  let start = GSTART[g * p.classes + k];
  accumulate_rows(start.x, GSTART[g * p.classes + k + 1u].x, start.y, o0, o1, o2, o3, &acc);
  for (var ch = 0u; ch < GROUP; ch++) {
    let ci = g * GROUP + ch;
    if (ci >= p.cin) { break; }
    store4(c, g0, ci, o0, acc[ch * 4u]);
    if (V > 1u && g0 + WG_X < nvec) { store4(c, g0 + WG_X, ci, o1, acc[ch * 4u + 1u]); }
    if (V > 2u && g0 + 2u * WG_X < nvec) { store4(c, g0 + 2u * WG_X, ci, o2, acc[ch * 4u + 2u]); }
    if (V > 3u && g0 + 3u * WG_X < nvec) { store4(c, g0 + 3u * WG_X, ci, o3, acc[ch * 4u + 3u]); }
  }
}
