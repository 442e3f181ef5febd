// Index gathers and their adjoints on [outer, D, inner] views (D = the indexed axis).
// MODE 0 index_select: y[o,j,i] = x[o, idx[j], i]
// MODE 1 gather:       y[o,j,i] = x[o, idx[o,j,i], i]               (torch.gather)
// MODE 2 index_add:    y[o,d,i] = Σ_{j: idx[j] = d} g[o,j,i]        (adjoint of 0)
// MODE 3 scatter_add:  y[o,d,i] = Σ_{j: idx[o,j,i] = d} g[o,j,i]    (adjoint of 1)
// The adjoints loop over j instead of using float atomics (WGSL has none), so they are exact and
// deterministic. Out-of-range indices read as 0.
override MODE: u32 = 0u;
struct Params { outer: u32, d: u32, j: u32, inner: u32, nx: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<storage, read> S: array<u32>;
@group(0) @binding(1) var<storage, read> I: array<i32>;
@group(0) @binding(2) var<storage, read_write> Y: array<u32>;
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x + gid.y * p.nx;
  if (MODE <= 1u) {
    if (t >= p.outer * p.j * p.inner) { return; }
    let o = t / (p.j * p.inner);
    let r = t % (p.j * p.inner);
    let jj = r / p.inner;
    let i = r % p.inner;
    var idx: i32;
    if (MODE == 0u) { idx = I[jj]; } else { idx = I[t]; }
    if (idx < 0 || u32(idx) >= p.d) { Y[t] = 0u; return; }
    Y[t] = S[(o * p.d + u32(idx)) * p.inner + i];
  } else {
    if (t >= p.outer * p.d * p.inner) { return; }
    let o = t / (p.d * p.inner);
    let r = t % (p.d * p.inner);
    let dd = i32(r / p.inner);
    let i = r % p.inner;
    var s = 0.0;
    for (var jj = 0u; jj < p.j; jj++) {
      let g = (o * p.j + jj) * p.inner + i;
      var idx: i32;
      if (MODE == 2u) { idx = I[jj]; } else { idx = I[g]; }
      if (idx == dd) { s += bitcast<f32>(S[g]); }
    }
    Y[t] = bitcast<u32>(s);
  }
}
