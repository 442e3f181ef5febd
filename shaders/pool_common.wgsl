// Geometry shared by the pooling kernels: planes = batch·channels, each H×W in, OH×OW out.
struct Params {
  planes: u32, h: u32, w: u32, oh: u32,
  ow: u32, kh: u32, kw: u32, sh: u32,
  sw: u32, ph: u32, pw: u32, nx: u32,
}

// The output windows (oy, ox) whose receptive field covers input (iy, ix):
// oy·sh − ph ≤ iy ≤ oy·sh − ph + kh − 1, clipped to the output. Returns (ylo, yhi, xlo, xhi).
fn covering_windows(iy: i32, ix: i32) -> vec4<i32> {
  let ylo = max(0, (iy + i32(p.ph) - i32(p.kh) + i32(p.sh)) / i32(p.sh));
  let yhi = min(i32(p.oh) - 1, (iy + i32(p.ph)) / i32(p.sh));
  let xlo = max(0, (ix + i32(p.pw) - i32(p.kw) + i32(p.sw)) / i32(p.sw));
  let xhi = min(i32(p.ow) - 1, (ix + i32(p.pw)) / i32(p.sw));
  return vec4<i32>(ylo, yhi, xlo, xhi);
}
