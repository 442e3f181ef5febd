// Per-sample random crop (of the zero-padded image) and horizontal mirror, as torchvision's
// RandomCrop(size, padding) followed by RandomHorizontalFlip:
//   y[b, c, i, j] = x[b, c, i + dy, (flip ? W − 1 − j : j) + dx], and 0 outside the image,
// where CHOICE holds (dy, dx, flip) for each sample b as three i32 (flip is 0 or 1).
struct Params {
  planes: u32, channels: u32, h: u32, w: u32,
  nx: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> CHOICE: array<i32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x + gid.y * p.nx;
  let hw = p.h * p.w;
  if (t >= p.planes * hw) { return; }
  let plane = t / hw;
  let within = t - plane * hw;
  let i = i32(within / p.w);
  let j = i32(within % p.w);
  let b = plane / p.channels;
  let dy = CHOICE[3u * b];
  let dx = CHOICE[3u * b + 1u];
  let col = select(j, i32(p.w) - 1 - j, CHOICE[3u * b + 2u] != 0);
  let si = i + dy;
  let sj = col + dx;
  if (si < 0 || sj < 0 || si >= i32(p.h) || sj >= i32(p.w)) {
    Y[t] = 0.0;
    return;
  }
  Y[t] = X[plane * hw + u32(si) * p.w + u32(sj)];
}
