// dst[dst_off + Σ i_d·ds_d] = src[src_off + Σ i_d·ss_d] over every index i of `shape`.
// Words are copied as raw bits, so one kernel serves f32, i32 and u32 tensors. It implements
// permute, slice, broadcast-expand, concat (one call per piece) and slice adjoints.
// GRID as in binary.wgsl: shape/ss/ds[0..2] are [inner, mid, outer] extents and strides.
//#include "common_index"
override GRID: u32 = 0u;
// GRID = 1: PER consecutive inner-axis elements per invocation (kernels/layout.ts grid3).
override PER: u32 = 1u;
override WG_X: u32 = 256u;
override WG_Y: u32 = 1u;
struct Params {
  n: u32, nx: u32, ndim: u32, src_off: u32,
  dst_off: u32, pad0: u32, pad1: u32, pad2: u32,
  shape: array<vec4<u32>, 2>,
  ss: array<vec4<u32>, 2>,
  ds: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<storage, read> S: array<u32>;
@group(0) @binding(1) var<storage, read_write> D: array<u32>;
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (GRID == 1u) {
    let e = p.shape[0];
    let x0 = gid.x * PER;
    if (x0 >= e.x || gid.y >= e.y) { return; }
    let x1 = min(x0 + PER, e.x);
    for (var x = x0; x < x1; x++) {
      let g = vec3<u32>(x, gid.y, gid.z);
      D[p.dst_off + dot(g, p.ds[0].xyz)] = S[p.src_off + dot(g, p.ss[0].xyz)];
    }
    return;
  }
  let i = gid.x + gid.y * p.nx;
  if (i >= p.n) { return; }
  D[p.dst_off + strided_offset(i, p.ndim, p.shape, p.ds)] = S[p.src_off + strided_offset(i, p.ndim, p.shape, p.ss)];
}
