// The ℓ∞ attack step and projection, fused into one pass:
//   MODE 0: y = P(x + step[sample]·sign(g))
//   MODE 1: y = P(x)                          (g and step are not read; the launcher binds x there)
// with P(v) = clamp(min(max(v, x0 − ε), x0 + ε), 0, 1), the projection onto the ε-box around the
// clean image x0 intersected with the image domain. `step` holds one step size per sample (APGD
// halves them per sample); a sample is `per_sample` consecutive elements.
override MODE: u32 = 0u;
struct Params { n: u32, nx: u32, per_sample: u32, pad0: u32, eps: f32, pad1: u32, pad2: u32, pad3: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> x0: array<f32>;
@group(0) @binding(3) var<storage, read> step: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.nx;
  if (i >= p.n) { return; }
  var v = x[i];
  if (MODE == 0u) {
    // step·sign(g) is exactly ±step or 0, so a fused multiply-add rounds like the separate ops.
    v = v + step[i / p.per_sample] * sign(g[i]);
  }
  let c = x0[i];
  y[i] = clamp(min(max(v, c - p.eps), c + p.eps), 0.0, 1.0);
}
