// Batched C[b] = op(A[b]) · op(B[b]) with 16-byte loads, for operands whose contiguous axis is a
// multiple of 4 (the launcher checks; other shapes use matmul.wgsl). Each invocation keeps a 4×4
// tile of C in registers and reads A and B as vec4s along their contiguous axes, so neighbouring
// invocations read neighbouring memory. No workgroup memory and no barriers: on CPU adapters
// (lavapipe) a barrier costs more than the loads it would save.
//   TRANS_A = 0: A is [M, K] (vec4 along K)   TRANS_A = 1: A is [K, M] (vec4 along M)
//   TRANS_B = 0: B is [K, N] (vec4 along N)   TRANS_B = 1: B is [N, K] (vec4 along K)
// ACCUMULATE_BATCH = 1 sums the products of all batches into one C (a conv's weight gradient).
override TRANS_A: u32 = 0u;
override TRANS_B: u32 = 0u;
override ACCUMULATE_BATCH: u32 = 0u;
override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;
struct Params {
  m: u32, n: u32, k: u32, batch: u32,
  a_batch: u32, b_batch: u32, pad0: u32, pad1: u32,
}
@group(0) @binding(0) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

// A[row, kk..kk+3] for TRANS_A = 0 (kk a multiple of 4); element offsets are divided by 4.
fn a_row4(base: u32, row: u32, kk: u32) -> vec4<f32> { return A[(base + row * p.k + kk) / 4u]; }
// A[k, m..m+3] for TRANS_A = 1.
fn a_col4(base: u32, k: u32, m: u32) -> vec4<f32> { return A[(base + k * p.m + m) / 4u]; }
fn b_row4(base: u32, k: u32, n: u32) -> vec4<f32> { return B[(base + k * p.n + n) / 4u]; }
fn b_col4(base: u32, n: u32, kk: u32) -> vec4<f32> { return B[(base + n * p.k + kk) / 4u]; }

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n0 = gid.x * 4u;
  let m0 = gid.y * 4u;
  if (m0 >= p.m || n0 >= p.n) { return; }
  // Clamp edge tiles to valid memory; their extra results are not stored.
  let ms = min(m0, p.m - 4u);
  let ns = min(n0, p.n - 4u);
  var acc: array<vec4<f32>, 4>;
  var bz0 = gid.z;
  var bz1 = gid.z + 1u;
  if (ACCUMULATE_BATCH == 1u) { bz0 = 0u; bz1 = p.batch; }
  for (var bz = bz0; bz < bz1; bz++) {
    let abase = bz * p.a_batch;
    let bbase = bz * p.b_batch;
    for (var kk = 0u; kk < p.k; kk += 4u) {
      // The 4×4 block of op(A) at rows ms.., cols kk..: ar[i][t] = op(A)[ms + i, kk + t]
      var ar: array<vec4<f32>, 4>;
      if (TRANS_A == 0u) {
        for (var i = 0u; i < 4u; i++) { ar[i] = a_row4(abase, ms + i, kk); }
      } else {
        let c0 = a_col4(abase, kk, ms);
        let c1 = a_col4(abase, kk + 1u, ms);
        let c2 = a_col4(abase, kk + 2u, ms);
        let c3 = a_col4(abase, kk + 3u, ms);
        for (var i = 0u; i < 4u; i++) { ar[i] = vec4<f32>(c0[i], c1[i], c2[i], c3[i]); }
      }
      // bk[t] = op(B)[kk + t, ns..ns+3]
      var bk: array<vec4<f32>, 4>;
      if (TRANS_B == 0u) {
        for (var t = 0u; t < 4u; t++) { bk[t] = b_row4(bbase, kk + t, ns); }
      } else {
        let r0 = b_col4(bbase, ns, kk);
        let r1 = b_col4(bbase, ns + 1u, kk);
        let r2 = b_col4(bbase, ns + 2u, kk);
        let r3 = b_col4(bbase, ns + 3u, kk);
        for (var t = 0u; t < 4u; t++) { bk[t] = vec4<f32>(r0[t], r1[t], r2[t], r3[t]); }
      }
      for (var i = 0u; i < 4u; i++) {
        acc[i] += ar[i].x * bk[0] + ar[i].y * bk[1] + ar[i].z * bk[2] + ar[i].w * bk[3];
      }
    }
  }
  var cbase = gid.z * p.m * p.n;
  if (ACCUMULATE_BATCH == 1u) { cbase = 0u; }
  for (var i = 0u; i < 4u; i++) {
    let r = ms + i;
    if (r < m0) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let c = ns + j;
      if (c >= n0) { C[cbase + r * p.n + c] = acc[i][j]; }
    }
  }
}
