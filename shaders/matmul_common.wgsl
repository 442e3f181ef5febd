// What the vec4 GEMM kernels (matmul_vec4.wgsl, matmul_subgroup.wgsl) share: the layout
// overrides, the parameters and bindings the launcher (kernels/matmul.ts) fills, and the masked
// load of A. With MASK_A = 0 binding 3 is never read (the launcher binds A there).
override TRANS_A: u32 = 0u;
override MASK_A: u32 = 0u;
override TRANS_B: u32 = 0u;
override ACCUMULATE_BATCH: u32 = 0u;
struct Params {
  m: u32, n: u32, k: u32, batch: u32,
  a_batch: u32, b_batch: u32, a_off: u32, b_off: u32,
  c_off: u32, beta: u32, pad0: u32, pad1: u32,
}
@group(0) @binding(0) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<storage, read> MASK: array<vec4<f32>>;
@group(1) @binding(0) var<uniform> p: Params;

fn a_load4(i: u32) -> vec4<f32> {
  if (MASK_A == 1u) { return A[i] * MASK[i]; }
  return A[i];
}
