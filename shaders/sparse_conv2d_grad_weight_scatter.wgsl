// The dense weight gradient at the kept weights, zero elsewhere (G is zeroed first), as
// mask ⊙ ∂L/∂W on the masked dense path. Each non-zero has its own dense index, so the stores never
// collide. Two sources:
//   GATHER = 0: sparse_conv2d_grad_weight.wgsl's partial sums, G[DIDX[j]] = Σ_s P[s, j]
//   GATHER = 1: a dense gradient (the GEMM path's), sampled: G[DIDX[j]] = P[DIDX[j]]
struct Params { nnz: u32, slices: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<storage, read> P: array<f32>;
@group(0) @binding(1) var<storage, read> DIDX: array<u32>;
@group(0) @binding(2) var<storage, read_write> G: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

override WG_X: u32 = 64u;
override GATHER: u32 = 0u;

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  if (j >= p.nnz) { return; }
  if (GATHER == 1u) {
    G[DIDX[j]] = P[DIDX[j]];
    return;
  }
  var acc = 0.0;
  for (var s = 0u; s < p.slices; s++) { acc += P[s * p.nnz + j]; }
  G[DIDX[j]] = acc;
}
