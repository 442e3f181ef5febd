// Weight gradient of a convolution whose weights are stored sparse (training a pruned model with its
// masks fixed): only the kept weights get one, so this is a sampled product (SDDMM), not a GEMM:
//   P[s, j] = Σ_{b in slice s} Σ_{oy,ox} GY[b, co_j, oy, ox] · X[b, ci_j, oy·sh + ky_j − ph, ox·sw + kx_j − pw]
// for non-zero j at dense index DIDX[j] = co·(Cin·KH·KW) + (ci·KH + ky)·KW + kx. One invocation per
// (non-zero, slice of batch items): the reduction runs inside the invocation, with no barriers
// (which cost most on CPU adapters), and the slices give a GPU enough invocations when the layer
// keeps few weights (the launcher picks their count per adapter). Consecutive lanes hold
// consecutive non-zeros, mostly of one output channel, so their GY reads coincide.
// sparse_conv2d_grad_weight_scatter.wgsl sums the slices into the dense gradient.
struct Params {
  nnz: u32, items: u32, per_slice: u32, slice0: u32,
  cin: u32, h: u32, w: u32, cout: u32,
  oh: u32, ow: u32, sh: u32, sw: u32,
  ph: u32, pw: u32, kh: u32, kw: u32,
}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> GY: array<f32>;
@group(0) @binding(2) var<storage, read> DIDX: array<u32>;
@group(0) @binding(3) var<storage, read_write> P: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

override WG_X: u32 = 64u;

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  let s = gid.y;
  if (j >= p.nnz) { return; }
  let k = p.cin * p.kh * p.kw;
  let d = DIDX[j];
  let co = d / k;
  let r = d % k;
  let ci = r / (p.kh * p.kw);
  let ky = (r / p.kw) % p.kh;
  let kx = r % p.kw;
  // Output columns whose tap lands inside the row: 0 ≤ ox·sw + kx − pw < w.
  var ox0 = 0u;
  if (kx < p.pw) { ox0 = (p.pw - kx + p.sw - 1u) / p.sw; }
  var ox1 = 0u;
  if (p.w + p.pw > kx) { ox1 = min(p.ow, (p.w + p.pw - kx + p.sw - 1u) / p.sw); }
  let b0 = s * p.per_slice;
  let b1 = min(b0 + p.per_slice, p.items);
  var acc = 0.0;
  for (var b = b0; b < b1; b++) {
    let xbase = (b * p.cin + ci) * p.h * p.w;
    let gbase = (b * p.cout + co) * p.oh * p.ow;
    for (var oy = 0u; oy < p.oh; oy++) {
      let iy = oy * p.sh + ky;
      if (iy < p.ph || iy - p.ph >= p.h) { continue; }
      let xrow = xbase + (iy - p.ph) * p.w + kx - p.pw;
      let grow = gbase + oy * p.ow;
      for (var ox = ox0; ox < ox1; ox++) {
        acc += GY[grow + ox] * X[xrow + ox * p.sw];
      }
    }
  }
  P[(p.slice0 + s) * p.nnz + j] = acc;
}
