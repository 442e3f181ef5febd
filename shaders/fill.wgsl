// MODE 0: y[i] = value. MODE 1: y[i] = value + i (integer iota).
// Values are raw 32-bit words, so the constant fill serves f32, i32 and u32 tensors alike.
override MODE: u32 = 0u;
struct Params { n: u32, nx: u32, value: u32, pad0: u32 }
@group(0) @binding(0) var<storage, read_write> Y: array<u32>;
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.nx;
  if (i >= p.n) { return; }
  if (MODE == 0u) { Y[i] = p.value; } else { Y[i] = p.value + i; }
}
