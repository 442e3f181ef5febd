// Sparse (pruned) convolution, inference only:
//   y[b,co,oy,ox] = bias[co] + Σ_{k in row co} VALS[k] · XP[b, ·, oy·sh + ky_k, ox·sw + kx_k]
// The weights are in CSR over output channels (kernels/sparseConv.ts): ROWS[co]..ROWS[co+1] index
// the channel's non-zeros, VALS their values and OFFS their offsets ci·Hp·Wp + ky·Wp + kx into one
// batch item of XP, the input already zero-padded to Hp × Wp. Padding up front removes every bounds
// check from the inner loop, which is then one offset, one value and eight gathered loads + FMAs.
// Grid: x = output channel, so the loop bounds, offsets and values are uniform across a workgroup,
// and consecutive workgroups (all channels of one block of positions) reuse the same inputs from
// cache (measured faster than channels along y); y = blocks of positions, 8 output positions
// (b, oy, ox) per invocation, because llvmpipe's per-invocation overhead is large next to the
// work of one output at high sparsity. The 8 positions are WG_X apart, so for
// each of them the lanes of a workgroup read neighbouring inputs (lane-adjacent positions are
// adjacent), which measured a little faster than 8 consecutive positions per invocation.
struct Params {
  batch: u32, cout: u32, oh: u32, ow: u32,
  item: u32, wp: u32, sh: u32, sw: u32,
  has_bias: u32, pad0: u32, pad1: u32, pad2: u32,
}
@group(0) @binding(0) var<storage, read> XP: array<f32>;
@group(0) @binding(1) var<storage, read> ROWS: array<u32>;
@group(0) @binding(2) var<storage, read> OFFS: array<u32>;
@group(0) @binding(3) var<storage, read> VALS: array<f32>;
@group(0) @binding(4) var<storage, read> BIAS: array<f32>;
@group(0) @binding(5) var<storage, read_write> Y: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

override WG_X: u32 = 64u;

// Offset in XP of output position q's receptive field origin (q clamped into range by the caller).
fn base_of(q: u32) -> u32 {
  let ohw = p.oh * p.ow;
  let b = q / ohw;
  let r = q % ohw;
  return b * p.item + (r / p.ow) * p.sh * p.wp + (r % p.ow) * p.sw;
}

fn store(q: u32, nq: u32, co: u32, v: f32) {
  if (q >= nq) { return; }
  let ohw = p.oh * p.ow;
  Y[((q / ohw) * p.cout + co) * ohw + q % ohw] = v;
}

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let co = wid.x;
  let nq = p.batch * p.oh * p.ow;
  let q0 = wid.y * WG_X * 8u + lid.x;
  let dq = WG_X;
  if (q0 >= nq || co >= p.cout) { return; }
  let last = nq - 1u;
  let b0 = vec4<u32>(base_of(q0), base_of(min(q0 + dq, last)), base_of(min(q0 + 2u * dq, last)), base_of(min(q0 + 3u * dq, last)));
  let b1 = vec4<u32>(base_of(min(q0 + 4u * dq, last)), base_of(min(q0 + 5u * dq, last)), base_of(min(q0 + 6u * dq, last)), base_of(min(q0 + 7u * dq, last)));
  var init = 0.0;
  if (p.has_bias == 1u) { init = BIAS[co]; }
  var a0 = vec4<f32>(init);
  var a1 = vec4<f32>(init);
  let end = ROWS[co + 1u];
  for (var k = ROWS[co]; k < end; k++) {
    let o = OFFS[k];
    let v = VALS[k];
    a0 += v * vec4<f32>(XP[b0.x + o], XP[b0.y + o], XP[b0.z + o], XP[b0.w + o]);
    a1 += v * vec4<f32>(XP[b1.x + o], XP[b1.y + o], XP[b1.z + o], XP[b1.w + o]);
  }
  store(q0, nq, co, a0.x);
  store(q0 + 1u * dq, nq, co, a0.y);
  store(q0 + 2u * dq, nq, co, a0.z);
  store(q0 + 3u * dq, nq, co, a0.w);
  store(q0 + 4u * dq, nq, co, a1.x);
  store(q0 + 5u * dq, nq, co, a1.y);
  store(q0 + 6u * dq, nq, co, a1.z);
  store(q0 + 7u * dq, nq, co, a1.w);
}
