// Batched C[b] = A[b] · B[b] with A: M×K, B: K×N read through strides (so transposed operands and
// broadcast batches need no copies). Register tiling: each invocation owns a 4×4 block of C and
// keeps it in registers; no workgroup memory, no barriers (cheap on CPU adapters such as lavapipe).
struct Params {
  m: u32, n: u32, k: u32, batch: u32,
  a_batch: u32, a_row: u32, a_col: u32, b_batch: u32,
  b_row: u32, b_col: u32, pad0: u32, pad1: u32,
}
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n0 = gid.x * 4u;
  let m0 = gid.y * 4u;
  let bz = gid.z;
  if (m0 >= p.m || n0 >= p.n) { return; }
  let abase = bz * p.a_batch;
  let bbase = bz * p.b_batch;
  var acc: array<vec4<f32>, 4>;
  var rowOk: vec4<bool>;
  var colOk: vec4<bool>;
  var arow: vec4<u32>;
  var bcol: vec4<u32>;
  for (var i = 0u; i < 4u; i++) {
    rowOk[i] = m0 + i < p.m;
    colOk[i] = n0 + i < p.n;
    arow[i] = abase + min(m0 + i, p.m - 1u) * p.a_row;
    bcol[i] = bbase + min(n0 + i, p.n - 1u) * p.b_col;
  }
  for (var kk = 0u; kk < p.k; kk++) {
    let ak = kk * p.a_col;
    let bk = kk * p.b_row;
    let bv = vec4<f32>(B[bcol.x + bk], B[bcol.y + bk], B[bcol.z + bk], B[bcol.w + bk]);
    acc[0] += A[arow.x + ak] * bv;
    acc[1] += A[arow.y + ak] * bv;
    acc[2] += A[arow.z + ak] * bv;
    acc[3] += A[arow.w + ak] * bv;
  }
  let cbase = bz * p.m * p.n;
  for (var i = 0u; i < 4u; i++) {
    if (!rowOk[i]) { continue; }
    for (var j = 0u; j < 4u; j++) {
      if (colOk[j]) { C[cbase + (m0 + i) * p.n + n0 + j] = acc[i][j]; }
    }
  }
}
