// out = a (op) b with NumPy broadcasting: each operand is read through its own strides (0 on
// broadcast axes). `fast` = 1 when both are contiguous and of the output's shape.
// GRID = 1: at most 3 (merged) axes on a 3-D grid, x innermost; no integer division (see
// kernels/layout.ts). Then shape/sa/sb[0..2] hold the [inner, mid, outer] extents and strides.
//#include "common_math"
//#include "common_index"
//#include "binary_op"
override OP: u32 = 0u;
override GRID: u32 = 0u;
// GRID = 1: PER consecutive inner-axis elements per invocation (kernels/layout.ts grid3).
override PER: u32 = 1u;
override WG_X: u32 = 256u;
override WG_Y: u32 = 1u;
struct Params {
  n: u32, nx: u32, ndim: u32, fast: u32,
  shape: array<vec4<u32>, 2>,
  sa: array<vec4<u32>, 2>,
  sb: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (GRID == 1u) {
    let e = p.shape[0];
    let x0 = gid.x * PER;
    if (x0 >= e.x || gid.y >= e.y) { return; }
    let x1 = min(x0 + PER, e.x);
    for (var x = x0; x < x1; x++) {
      let oa = x * p.sa[0].x + gid.y * p.sa[0].y + gid.z * p.sa[0].z;
      let ob = x * p.sb[0].x + gid.y * p.sb[0].y + gid.z * p.sb[0].z;
      y[(gid.z * e.y + gid.y) * e.x + x] = apply(a[oa], b[ob]);
    }
    return;
  }
  let i = gid.x + gid.y * p.nx;
  if (i >= p.n) { return; }
  if (p.fast == 1u) {
    y[i] = apply(a[i], b[i]);
  } else {
    y[i] = apply(a[strided_offset(i, p.ndim, p.shape, p.sa)], b[strided_offset(i, p.ndim, p.shape, p.sb)]);
  }
}
