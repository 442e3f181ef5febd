// Numeric conversion between f32, i32 and u32 (not a bit copy). f32 → integer truncates.
override MODE: u32 = 0u; // 0 i32→f32, 1 u32→f32, 2 f32→i32, 3 f32→u32, 4 i32→u32, 5 u32→i32
struct Params { n: u32, nx: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<storage, read> S: array<u32>;
@group(0) @binding(1) var<storage, read_write> D: array<u32>;
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.nx;
  if (i >= p.n) { return; }
  let s = S[i];
  switch MODE {
    case 0u: { D[i] = bitcast<u32>(f32(bitcast<i32>(s))); }
    case 1u: { D[i] = bitcast<u32>(f32(s)); }
    case 2u: { D[i] = bitcast<u32>(i32(bitcast<f32>(s))); }
    case 3u: { D[i] = u32(max(bitcast<f32>(s), 0.0)); }
    default: { D[i] = s; }
  }
}
