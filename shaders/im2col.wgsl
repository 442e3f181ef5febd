// Unfolds convolution patches: cols[b, r, q] = x[b0 + b, ci, oy·sh − ph + ky, ox·sw − pw + kx]
// (0 outside the image) with r = (ci·KH + ky)·KW + kx, q = oy·OW + ox. Rows r ≥ Cin·KH·KW up to
// `rows` are zero padding, so the GEMM that follows can read 16-byte groups along r.
// Grid: x = q, y = r, z = batch item within the chunk.
struct Params {
  cin: u32, h: u32, w: u32, oh: u32,
  ow: u32, kh: u32, kw: u32, sh: u32,
  sw: u32, ph: u32, pw: u32, rows: u32,
  x_off: u32, pitch: u32, pad1: u32, pad2: u32,
}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> COLS: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(64, 4, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let q = gid.x;
  let r = gid.y;
  let npos = p.oh * p.ow;
  if (q >= p.pitch || r >= p.rows) { return; }
  let out = (gid.z * p.rows + r) * p.pitch + q;
  let ksz = p.kh * p.kw;
  if (r >= p.cin * ksz || q >= npos) { COLS[out] = 0.0; return; }
  let ci = r / ksz;
  let kr = r % ksz;
  let iy = i32((q / p.ow) * p.sh + kr / p.kw) - i32(p.ph);
  let ix = i32((q % p.ow) * p.sw + kr % p.kw) - i32(p.pw);
  var v = 0.0;
  if (iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w)) {
    v = X[p.x_off + ((gid.z * p.cin + ci) * p.h + u32(iy)) * p.w + u32(ix)];
  }
  COLS[out] = v;
}
