// Per-channel affine maps over an [N, C, HW] tensor on a division-free 3-D grid
// (x = PER consecutive positions in HW, y = channel, z = batch item). Several positions per
// invocation: on CPU adapters the cost of an invocation dominates such a pass.
// MODE 0 (forward):  y = (x − mean[c])·k1[c] + k2[c]
// MODE 1 (backward): y = g·k1[c] + (x − mean[c])·k2[c] + k3[c]     (the input gradient)
// MODE 2 (ReLU'd):   y = g·k3[c] where (x − mean[c])·k1[c] + k2[c] > 0, else 0
//                    (the gradient through relu of MODE 0's map, recomputing its sign from x)
// RELU = 1 applies max(·, 0) to MODE 0's output (fused batch norm + ReLU).
// RESIDUAL = 1 adds R (x's shape) to MODE 0's map before the ReLU, and to MODE 2's test: a residual
// block's relu(bn(x) + shortcut) in one pass. Otherwise binding 4 is never read (the launcher
// binds X there).
override MODE: u32 = 0u;
override RELU: u32 = 0u;
override RESIDUAL: u32 = 0u;
override WG_X: u32 = 64u;
override WG_Y: u32 = 4u;
override PER: u32 = 1u;
struct Params { n: u32, c: u32, hw: u32, pad0: u32 }
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> M: array<f32>;
@group(0) @binding(3) var<storage, read> K: array<f32>;   // [3, C]: k1, k2, k3
@group(0) @binding(4) var<storage, read> R: array<f32>;
@group(0) @binding(5) var<storage, read_write> Y: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.y;
  let i0 = gid.x * PER;
  if (i0 >= p.hw || c >= p.c) { return; }
  let base = (gid.z * p.c + c) * p.hw;
  let m = M[c];
  let k1 = K[c];
  let k2 = K[p.c + c];
  let i1 = min(i0 + PER, p.hw);
  if (MODE == 0u) {
    if (RESIDUAL == 1u) {
      for (var i = i0; i < i1; i++) { Y[base + i] = max((X[base + i] - m) * k1 + k2 + R[base + i], 0.0); }
    } else if (RELU == 1u) {
      for (var i = i0; i < i1; i++) { Y[base + i] = max((X[base + i] - m) * k1 + k2, 0.0); }
    } else {
      for (var i = i0; i < i1; i++) { Y[base + i] = (X[base + i] - m) * k1 + k2; }
    }
  } else if (MODE == 2u) {
    let k3 = K[2u * p.c + c];
    if (RESIDUAL == 1u) {
      for (var i = i0; i < i1; i++) {
        Y[base + i] = select(0.0, G[base + i] * k3, (X[base + i] - m) * k1 + k2 + R[base + i] > 0.0);
      }
    } else {
      for (var i = i0; i < i1; i++) {
        Y[base + i] = select(0.0, G[base + i] * k3, (X[base + i] - m) * k1 + k2 > 0.0);
      }
    }
  } else {
    let k3 = K[2u * p.c + c];
    for (var i = i0; i < i1; i++) { Y[base + i] = G[base + i] * k1 + (X[base + i] - m) * k2 + k3; }
  }
}
