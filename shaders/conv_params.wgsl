// Geometry shared by the direct convolution kernels (kernels/conv2d.ts writes it).
struct Params {
  batch: u32, cin: u32, h: u32, w: u32,
  cout: u32, oh: u32, ow: u32, kh: u32,
  kw: u32, sh: u32, sw: u32, ph: u32,
  pw: u32, pad0: u32, pad1: u32, pad2: u32,
}
