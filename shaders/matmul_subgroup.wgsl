// Batched C[b] = op(A[b]) · op(B[b]) for CPU adapters, sharing A through subgroup broadcasts.
// Same contract, parameters and bindings as matmul_vec4.wgsl (TRANS_A, TRANS_B, ACCUMULATE_BATCH,
// MASK_A, beta; the launcher checks the vec4 alignment), and in addition the subgroup must hold the
// whole workgroup of 8 invocations (subgroup size >= 8; the launcher checks the adapter).
//
// Why: on lavapipe every storage load an invocation issues is split into per-lane loads, and the
// register-tiled kernel spends ~7x more time loading than multiplying. Here a workgroup (one
// subgroup, 8 lanes) computes TM rows x 32 columns: lane l owns columns 4l..4l+3 (one vec4) and
// loads only its own B values (4 vec4 per 4 k), while the TM rows of A are loaded once per
// workgroup, TM/8 vec4 per lane, and handed to every lane with subgroupBroadcast (a register
// shuffle). Per 4 k a lane issues TM/8 + 4 loads for 4·TM vec4 FMAs (the register kernel: 12 for 32).
//   TRANS_A = 0: lane l loads rows ms + l + 8j at k .. k+3.
//   TRANS_A = 1: lane l loads A[k + (l & 3), ms + 8j + 4(l >> 2) .. +3]; row i, k-offset t is then
//                component (i & 3) of lane t + 4((i & 7) >> 2)'s vector.
// TM (8, 16 or 32; M >= TM) is an override: the rows past TM are dead code and compiled out. The
// body is written out (no arrays), like matmul_vec4.wgsl, so the accumulators stay in registers.
// 32-row tiles ran about 15% faster still, but llvmpipe took 14 s to compile each such pipeline
// (16 rows: 6 s, the register kernel: 3 s; Mesa's disk cache keeps them afterwards), so 16 is the cap.
// Edge tiles are shifted back inside the matrix (overlap computed twice, stored once).
enable subgroups;
//#include "matmul_common"
override TM: u32 = 16u;

// Stores row r of the tile (this lane's 4 columns starting at nn; only columns lo..hi-1 are its own).
fn store_row(cbase: u32, r: u32, m0: u32, nn: u32, lo: u32, hi: u32, v: vec4<f32>) {
  if (r < m0) { return; }
  let row = cbase + r * p.n;
  for (var t = 0u; t < 4u; t++) {
    let c = nn + t;
    if (c >= lo && c < hi) {
      var x = v[t];
      if (p.beta == 1u) { x += C[row + c]; }
      C[row + c] = x;
    }
  }
}

@compute @workgroup_size(8, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  // No early return: every lane takes part in the broadcasts; out-of-range lanes compute a
  // clamped duplicate and store nothing.
  let m0 = wid.y * TM;
  let ms = min(m0, p.m - TM);
  let nx = wid.x * 32u + lane * 4u;
  let nn = min(nx, p.n - 4u);
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  var c4 = vec4<f32>(0.0);
  var c5 = vec4<f32>(0.0);
  var c6 = vec4<f32>(0.0);
  var c7 = vec4<f32>(0.0);
  var c8 = vec4<f32>(0.0);
  var c9 = vec4<f32>(0.0);
  var c10 = vec4<f32>(0.0);
  var c11 = vec4<f32>(0.0);
  var c12 = vec4<f32>(0.0);
  var c13 = vec4<f32>(0.0);
  var c14 = vec4<f32>(0.0);
  var c15 = vec4<f32>(0.0);
  var c16 = vec4<f32>(0.0);
  var c17 = vec4<f32>(0.0);
  var c18 = vec4<f32>(0.0);
  var c19 = vec4<f32>(0.0);
  var c20 = vec4<f32>(0.0);
  var c21 = vec4<f32>(0.0);
  var c22 = vec4<f32>(0.0);
  var c23 = vec4<f32>(0.0);
  var c24 = vec4<f32>(0.0);
  var c25 = vec4<f32>(0.0);
  var c26 = vec4<f32>(0.0);
  var c27 = vec4<f32>(0.0);
  var c28 = vec4<f32>(0.0);
  var c29 = vec4<f32>(0.0);
  var c30 = vec4<f32>(0.0);
  var c31 = vec4<f32>(0.0);
  var bz0 = wid.z;
  var bz1 = wid.z + 1u;
  if (ACCUMULATE_BATCH == 1u) { bz0 = 0u; bz1 = p.batch; }
  // Element offset of this lane's first A vector, its step per 4 k, and the step to rows + 8.
  var aidx: u32;
  var astep: u32;
  var aj: u32;
  if (TRANS_A == 0u) {
    aidx = (ms + lane) * p.k; astep = 4u; aj = 8u * p.k;
  } else {
    aidx = (lane & 3u) * p.m + ms + 4u * (lane >> 2u); astep = 4u * p.m; aj = 8u;
  }
  for (var bz = bz0; bz < bz1; bz++) {
    var ai = p.a_off + bz * p.a_batch + aidx;
    let bbase = p.b_off + bz * p.b_batch;
    for (var kk = 0u; kk < p.k; kk += 4u) {
      // b_t = op(B)[kk + t, nn .. nn + 3]
      var b0: vec4<f32>; var b1: vec4<f32>; var b2: vec4<f32>; var b3: vec4<f32>;
      if (TRANS_B == 0u) {
        b0 = B[(bbase + kk * p.n + nn) / 4u]; b1 = B[(bbase + (kk + 1u) * p.n + nn) / 4u];
        b2 = B[(bbase + (kk + 2u) * p.n + nn) / 4u]; b3 = B[(bbase + (kk + 3u) * p.n + nn) / 4u];
      } else {
        let r0 = B[(bbase + nn * p.k + kk) / 4u]; let r1 = B[(bbase + (nn + 1u) * p.k + kk) / 4u];
        let r2 = B[(bbase + (nn + 2u) * p.k + kk) / 4u]; let r3 = B[(bbase + (nn + 3u) * p.k + kk) / 4u];
        b0 = vec4<f32>(r0.x, r1.x, r2.x, r3.x); b1 = vec4<f32>(r0.y, r1.y, r2.y, r3.y);
        b2 = vec4<f32>(r0.z, r1.z, r2.z, r3.z); b3 = vec4<f32>(r0.w, r1.w, r2.w, r3.w);
      }
      let v0 = a_load4((ai + 0u * aj) / 4u);
      let s0 = subgroupBroadcast(v0, 0u); let s1 = subgroupBroadcast(v0, 1u); let s2 = subgroupBroadcast(v0, 2u); let s3 = subgroupBroadcast(v0, 3u);
      let s4 = subgroupBroadcast(v0, 4u); let s5 = subgroupBroadcast(v0, 5u); let s6 = subgroupBroadcast(v0, 6u); let s7 = subgroupBroadcast(v0, 7u);
      if (TRANS_A == 0u) {
        c0 += s0.x * b0 + s0.y * b1 + s0.z * b2 + s0.w * b3;
        c1 += s1.x * b0 + s1.y * b1 + s1.z * b2 + s1.w * b3;
        c2 += s2.x * b0 + s2.y * b1 + s2.z * b2 + s2.w * b3;
        c3 += s3.x * b0 + s3.y * b1 + s3.z * b2 + s3.w * b3;
        c4 += s4.x * b0 + s4.y * b1 + s4.z * b2 + s4.w * b3;
        c5 += s5.x * b0 + s5.y * b1 + s5.z * b2 + s5.w * b3;
        c6 += s6.x * b0 + s6.y * b1 + s6.z * b2 + s6.w * b3;
        c7 += s7.x * b0 + s7.y * b1 + s7.z * b2 + s7.w * b3;
      } else {
        c0 += s0.x * b0 + s1.x * b1 + s2.x * b2 + s3.x * b3;
        c1 += s0.y * b0 + s1.y * b1 + s2.y * b2 + s3.y * b3;
        c2 += s0.z * b0 + s1.z * b1 + s2.z * b2 + s3.z * b3;
        c3 += s0.w * b0 + s1.w * b1 + s2.w * b2 + s3.w * b3;
        c4 += s4.x * b0 + s5.x * b1 + s6.x * b2 + s7.x * b3;
        c5 += s4.y * b0 + s5.y * b1 + s6.y * b2 + s7.y * b3;
        c6 += s4.z * b0 + s5.z * b1 + s6.z * b2 + s7.z * b3;
        c7 += s4.w * b0 + s5.w * b1 + s6.w * b2 + s7.w * b3;
      }
      if (TM > 8u) {
        let v1 = a_load4((ai + 1u * aj) / 4u);
        let s0 = subgroupBroadcast(v1, 0u); let s1 = subgroupBroadcast(v1, 1u); let s2 = subgroupBroadcast(v1, 2u); let s3 = subgroupBroadcast(v1, 3u);
        let s4 = subgroupBroadcast(v1, 4u); let s5 = subgroupBroadcast(v1, 5u); let s6 = subgroupBroadcast(v1, 6u); let s7 = subgroupBroadcast(v1, 7u);
        if (TRANS_A == 0u) {
          c8 += s0.x * b0 + s0.y * b1 + s0.z * b2 + s0.w * b3;
          c9 += s1.x * b0 + s1.y * b1 + s1.z * b2 + s1.w * b3;
          c10 += s2.x * b0 + s2.y * b1 + s2.z * b2 + s2.w * b3;
          c11 += s3.x * b0 + s3.y * b1 + s3.z * b2 + s3.w * b3;
          c12 += s4.x * b0 + s4.y * b1 + s4.z * b2 + s4.w * b3;
          c13 += s5.x * b0 + s5.y * b1 + s5.z * b2 + s5.w * b3;
          c14 += s6.x * b0 + s6.y * b1 + s6.z * b2 + s6.w * b3;
          c15 += s7.x * b0 + s7.y * b1 + s7.z * b2 + s7.w * b3;
        } else {
          c8 += s0.x * b0 + s1.x * b1 + s2.x * b2 + s3.x * b3;
          c9 += s0.y * b0 + s1.y * b1 + s2.y * b2 + s3.y * b3;
          c10 += s0.z * b0 + s1.z * b1 + s2.z * b2 + s3.z * b3;
          c11 += s0.w * b0 + s1.w * b1 + s2.w * b2 + s3.w * b3;
          c12 += s4.x * b0 + s5.x * b1 + s6.x * b2 + s7.x * b3;
          c13 += s4.y * b0 + s5.y * b1 + s6.y * b2 + s7.y * b3;
          c14 += s4.z * b0 + s5.z * b1 + s6.z * b2 + s7.z * b3;
          c15 += s4.w * b0 + s5.w * b1 + s6.w * b2 + s7.w * b3;
        }
      }
      if (TM > 16u) {
        let v2 = a_load4((ai + 2u * aj) / 4u);
        let s0 = subgroupBroadcast(v2, 0u); let s1 = subgroupBroadcast(v2, 1u); let s2 = subgroupBroadcast(v2, 2u); let s3 = subgroupBroadcast(v2, 3u);
        let s4 = subgroupBroadcast(v2, 4u); let s5 = subgroupBroadcast(v2, 5u); let s6 = subgroupBroadcast(v2, 6u); let s7 = subgroupBroadcast(v2, 7u);
        if (TRANS_A == 0u) {
          c16 += s0.x * b0 + s0.y * b1 + s0.z * b2 + s0.w * b3;
          c17 += s1.x * b0 + s1.y * b1 + s1.z * b2 + s1.w * b3;
          c18 += s2.x * b0 + s2.y * b1 + s2.z * b2 + s2.w * b3;
          c19 += s3.x * b0 + s3.y * b1 + s3.z * b2 + s3.w * b3;
          c20 += s4.x * b0 + s4.y * b1 + s4.z * b2 + s4.w * b3;
          c21 += s5.x * b0 + s5.y * b1 + s5.z * b2 + s5.w * b3;
          c22 += s6.x * b0 + s6.y * b1 + s6.z * b2 + s6.w * b3;
          c23 += s7.x * b0 + s7.y * b1 + s7.z * b2 + s7.w * b3;
        } else {
          c16 += s0.x * b0 + s1.x * b1 + s2.x * b2 + s3.x * b3;
          c17 += s0.y * b0 + s1.y * b1 + s2.y * b2 + s3.y * b3;
          c18 += s0.z * b0 + s1.z * b1 + s2.z * b2 + s3.z * b3;
          c19 += s0.w * b0 + s1.w * b1 + s2.w * b2 + s3.w * b3;
          c20 += s4.x * b0 + s5.x * b1 + s6.x * b2 + s7.x * b3;
          c21 += s4.y * b0 + s5.y * b1 + s6.y * b2 + s7.y * b3;
          c22 += s4.z * b0 + s5.z * b1 + s6.z * b2 + s7.z * b3;
          c23 += s4.w * b0 + s5.w * b1 + s6.w * b2 + s7.w * b3;
        }
      }
      if (TM > 24u) {
        let v3 = a_load4((ai + 3u * aj) / 4u);
        let s0 = subgroupBroadcast(v3, 0u); let s1 = subgroupBroadcast(v3, 1u); let s2 = subgroupBroadcast(v3, 2u); let s3 = subgroupBroadcast(v3, 3u);
        let s4 = subgroupBroadcast(v3, 4u); let s5 = subgroupBroadcast(v3, 5u); let s6 = subgroupBroadcast(v3, 6u); let s7 = subgroupBroadcast(v3, 7u);
        if (TRANS_A == 0u) {
          c24 += s0.x * b0 + s0.y * b1 + s0.z * b2 + s0.w * b3;
          c25 += s1.x * b0 + s1.y * b1 + s1.z * b2 + s1.w * b3;
          c26 += s2.x * b0 + s2.y * b1 + s2.z * b2 + s2.w * b3;
          c27 += s3.x * b0 + s3.y * b1 + s3.z * b2 + s3.w * b3;
          c28 += s4.x * b0 + s4.y * b1 + s4.z * b2 + s4.w * b3;
          c29 += s5.x * b0 + s5.y * b1 + s5.z * b2 + s5.w * b3;
          c30 += s6.x * b0 + s6.y * b1 + s6.z * b2 + s6.w * b3;
          c31 += s7.x * b0 + s7.y * b1 + s7.z * b2 + s7.w * b3;
        } else {
          c24 += s0.x * b0 + s1.x * b1 + s2.x * b2 + s3.x * b3;
          c25 += s0.y * b0 + s1.y * b1 + s2.y * b2 + s3.y * b3;
          c26 += s0.z * b0 + s1.z * b1 + s2.z * b2 + s3.z * b3;
          c27 += s0.w * b0 + s1.w * b1 + s2.w * b2 + s3.w * b3;
          c28 += s4.x * b0 + s5.x * b1 + s6.x * b2 + s7.x * b3;
          c29 += s4.y * b0 + s5.y * b1 + s6.y * b2 + s7.y * b3;
          c30 += s4.z * b0 + s5.z * b1 + s6.z * b2 + s7.z * b3;
          c31 += s4.w * b0 + s5.w * b1 + s6.w * b2 + s7.w * b3;
        }
      }
      ai += astep;
    }
  }
  if (m0 >= p.m || nx >= p.n) { return; }
  var cbase = p.c_off + wid.z * p.m * p.n;
  if (ACCUMULATE_BATCH == 1u) { cbase = p.c_off; }
  let hi = min(nx + 4u, p.n);
  store_row(cbase, ms + 0u, m0, nn, nx, hi, c0);
  store_row(cbase, ms + 1u, m0, nn, nx, hi, c1);
  store_row(cbase, ms + 2u, m0, nn, nx, hi, c2);
  store_row(cbase, ms + 3u, m0, nn, nx, hi, c3);
  store_row(cbase, ms + 4u, m0, nn, nx, hi, c4);
  store_row(cbase, ms + 5u, m0, nn, nx, hi, c5);
  store_row(cbase, ms + 6u, m0, nn, nx, hi, c6);
  store_row(cbase, ms + 7u, m0, nn, nx, hi, c7);
  if (TM > 8u) {
    store_row(cbase, ms + 8u, m0, nn, nx, hi, c8);
    store_row(cbase, ms + 9u, m0, nn, nx, hi, c9);
    store_row(cbase, ms + 10u, m0, nn, nx, hi, c10);
    store_row(cbase, ms + 11u, m0, nn, nx, hi, c11);
    store_row(cbase, ms + 12u, m0, nn, nx, hi, c12);
    store_row(cbase, ms + 13u, m0, nn, nx, hi, c13);
    store_row(cbase, ms + 14u, m0, nn, nx, hi, c14);
    store_row(cbase, ms + 15u, m0, nn, nx, hi, c15);
  }
  if (TM > 16u) {
    store_row(cbase, ms + 16u, m0, nn, nx, hi, c16);
    store_row(cbase, ms + 17u, m0, nn, nx, hi, c17);
    store_row(cbase, ms + 18u, m0, nn, nx, hi, c18);
    store_row(cbase, ms + 19u, m0, nn, nx, hi, c19);
    store_row(cbase, ms + 20u, m0, nn, nx, hi, c20);
    store_row(cbase, ms + 21u, m0, nn, nx, hi, c21);
    store_row(cbase, ms + 22u, m0, nn, nx, hi, c22);
    store_row(cbase, ms + 23u, m0, nn, nx, hi, c23);
  }
  if (TM > 24u) {
    store_row(cbase, ms + 24u, m0, nn, nx, hi, c24);
    store_row(cbase, ms + 25u, m0, nn, nx, hi, c25);
    store_row(cbase, ms + 26u, m0, nn, nx, hi, c26);
    store_row(cbase, ms + 27u, m0, nn, nx, hi, c27);
    store_row(cbase, ms + 28u, m0, nn, nx, hi, c28);
    store_row(cbase, ms + 29u, m0, nn, nx, hi, c29);
    store_row(cbase, ms + 30u, m0, nn, nx, hi, c30);
    store_row(cbase, ms + 31u, m0, nn, nx, hi, c31);
  }
}
