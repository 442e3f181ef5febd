// One compare-exchange stage (k, j) of a bitonic sort of (key, value) pairs, ascending by key then
// value. n is a power of two; the launcher pads with (0xffffffff, 0xffffffff).
struct Params { n: u32, k: u32, j: u32, nx: u32 }
@group(0) @binding(0) var<storage, read_write> K: array<u32>;
@group(0) @binding(1) var<storage, read_write> V: array<u32>;
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.nx;
  if (i >= p.n) { return; }
  let l = i ^ p.j;
  if (l <= i) { return; }
  let ki = K[i]; let kl = K[l];
  let vi = V[i]; let vl = V[l];
  let greater = ki > kl || (ki == kl && vi > vl);
  let ascending = (i & p.k) == 0u;
  if (greater == ascending) {
    K[i] = kl; K[l] = ki;
    V[i] = vl; V[l] = vi;
  }
}
