// y[n, c] = labels[n] == c ? on : off.
struct Params { n: u32, classes: u32, nx: u32, pad0: u32, on: f32, off: f32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<storage, read> L: array<i32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x + gid.y * p.nx;
  if (t >= p.n * p.classes) { return; }
  Y[t] = select(p.off, p.on, L[t / p.classes] == i32(t % p.classes));
}
