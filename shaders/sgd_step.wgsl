// One SGD update (torch.optim.SGD semantics) fused into a single pass over a parameter:
//   d = g + wd·p;  buf' = first ? d : m·buf + (1 − dampening)·d;  step = nesterov ? d + m·buf' : buf'
//   p' = p − lr·step        (without momentum: p' = p − lr·d, and buf' is not written)
// Five elementwise launches per parameter became one.
override MOMENTUM: u32 = 1u;
override NESTEROV: u32 = 0u;
override FIRST: u32 = 0u;
struct Params { n: u32, nx: u32, lr: f32, momentum: f32, dampening: f32, wd: f32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<storage, read> P: array<f32>;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> BUF: array<f32>;
@group(0) @binding(3) var<storage, read_write> P_OUT: array<f32>;
@group(0) @binding(4) var<storage, read_write> BUF_OUT: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.nx;
  if (i >= p.n) { return; }
  let w = P[i];
  let d = G[i] + p.wd * w;
  var step = d;
  if (MOMENTUM == 1u) {
    var b = d;
    if (FIRST == 0u) { b = p.momentum * BUF[i] + (1.0 - p.dampening) * d; }
    BUF_OUT[i] = b;
    step = b;
    if (NESTEROV == 1u) { step = d + p.momentum * b; }
  }
  P_OUT[i] = w - p.lr * step;
}
