// Batched C[b] = op(A[b]) · op(B[b]) tiled through workgroup memory: the GEMM for real GPUs.
// A workgroup of WG_X × WG_Y invocations computes a (4·WG_Y) × (4·WG_X) tile of C, 4×4 outputs per
// invocation. For each slice of BK values along K it first copies op(A)'s and op(B)'s panels into
// workgroup memory with coalesced vec4 loads, every value once for the whole workgroup, then each
// invocation reads its four rows and four columns there as two vec4s per k. On a GPU that turns
// (4·WG_X + 4·WG_Y)·BK global reads per slice into shared ones; on lavapipe the two barriers per
// slice cost more than they save (kernels/tuning.ts keeps this kernel for GPU adapters).
// The layouts, masks and accumulation are those of matmul_vec4.wgsl (vec4-eligible shapes only):
//   TRANS_A = 0: A is [M, K] (vec4 along K)   TRANS_A = 1: A is [K, M] (vec4 along M, M % 4 = 0)
//   TRANS_B = 0: B is [K, N] (vec4 along N, N % 4 = 0)   TRANS_B = 1: B is [N, K] (vec4 along K)
// Panels are zero-filled past the matrix edges, so the inner loop always runs BK steps.
//#include "matmul_common"
override WG_X: u32 = 16u;
override WG_Y: u32 = 16u;
const BK: u32 = 16u;
// The panels, K outermost: AS[k·WG_Y + i] holds op(A)[m0 + 4i .. m0 + 4i + 3, k] and
// BS[k·WG_X + j] holds op(B)[k, n0 + 4j .. n0 + 4j + 3]. Sized for the largest workgroup the
// launcher allows (16 × 16).
var<workgroup> AS: array<vec4<f32>, 256>;
var<workgroup> BS: array<vec4<f32>, 256>;

fn load_panels(tid: u32, abase: u32, bbase: u32, m0: u32, n0: u32, kt: u32) {
  let threads = WG_X * WG_Y;
  let quads = BK / 4u;
  // op(A): 4·WG_Y rows × BK values.
  for (var s = tid; s < 4u * WG_Y * quads; s += threads) {
    if (TRANS_A == 0u) {
      // Lanes walk along a row's K quads: consecutive lanes read consecutive 16 bytes.
      let r = s / quads;
      let kk = kt + (s % quads) * 4u;
      var v = vec4<f32>(0.0);
      if (m0 + r < p.m && kk < p.k) { v = a_load4((abase + (m0 + r) * p.k + kk) / 4u); }
      let slot = (kk - kt) * WG_Y + r / 4u;
      AS[slot][r % 4u] = v.x;
      AS[slot + WG_Y][r % 4u] = v.y;
      AS[slot + 2u * WG_Y][r % 4u] = v.z;
      AS[slot + 3u * WG_Y][r % 4u] = v.w;
    } else {
      let kr = s / WG_Y;
      let col = m0 + (s % WG_Y) * 4u;
      var v = vec4<f32>(0.0);
      if (kt + kr < p.k && col < p.m) { v = a_load4((abase + (kt + kr) * p.m + col) / 4u); }
      AS[s] = v;
    }
  }
  // op(B): BK values × 4·WG_X columns.
  for (var s = tid; s < 4u * WG_X * quads; s += threads) {
    if (TRANS_B == 0u) {
      let kr = s / WG_X;
      let col = n0 + (s % WG_X) * 4u;
      var v = vec4<f32>(0.0);
      if (kt + kr < p.k && col < p.n) { v = B[(bbase + (kt + kr) * p.n + col) / 4u]; }
      BS[s] = v;
    } else {
      let c = s / quads;
      let kk = kt + (s % quads) * 4u;
      var v = vec4<f32>(0.0);
      if (n0 + c < p.n && kk < p.k) { v = B[(bbase + (n0 + c) * p.k + kk) / 4u]; }
      let slot = (kk - kt) * WG_X + c / 4u;
      BS[slot][c % 4u] = v.x;
      BS[slot + WG_X][c % 4u] = v.y;
      BS[slot + 2u * WG_X][c % 4u] = v.z;
      BS[slot + 3u * WG_X][c % 4u] = v.w;
    }
  }
}

fn store_row(cbase: u32, row: u32, col0: u32, v: vec4<f32>) {
  if (row >= p.m) { return; }
  for (var j = 0u; j < 4u; j++) {
    if (col0 + j < p.n) {
      let i = cbase + row * p.n + col0 + j;
      var x = v[j];
      if (p.beta == 1u) { x += C[i]; }
      C[i] = x;
    }
  }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let tid = lid.y * WG_X + lid.x;
  let m0 = wid.y * 4u * WG_Y;
  let n0 = wid.x * 4u * WG_X;
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  var bz0 = wid.z;
  var bz1 = wid.z + 1u;
  if (ACCUMULATE_BATCH == 1u) { bz0 = 0u; bz1 = p.batch; }
  for (var bz = bz0; bz < bz1; bz++) {
    let abase = p.a_off + bz * p.a_batch;
    let bbase = p.b_off + bz * p.b_batch;
    for (var kt = 0u; kt < p.k; kt += BK) {
      load_panels(tid, abase, bbase, m0, n0, kt);
      workgroupBarrier();
      for (var t = 0u; t < BK; t++) {
        let a = AS[t * WG_Y + lid.y];
        let b = BS[t * WG_X + lid.x];
        c0 += a.x * b;
        c1 += a.y * b;
        c2 += a.z * b;
        c3 += a.w * b;
      }
      workgroupBarrier();
    }
  }
  var cbase = p.c_off + wid.z * p.m * p.n;
  if (ACCUMULATE_BATCH == 1u) { cbase = p.c_off; }
  let row = m0 + lid.y * 4u;
  let col = n0 + lid.x * 4u;
  store_row(cbase, row, col, c0);
  store_row(cbase, row + 1u, col, c1);
  store_row(cbase, row + 2u, col, c2);
  store_row(cbase, row + 3u, col, c3);
}
