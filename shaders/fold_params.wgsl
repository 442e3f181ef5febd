// Geometry shared by im2col.wgsl, col2im.wgsl and their '_lanes' variants (kernels/conv2d.ts
// foldParams writes it): `rows` patch rows (padded to a multiple of 4), `pitch` positions per row, `x_off` the image offset.
struct Params {
  cin: u32, h: u32, w: u32, oh: u32,
  ow: u32, kh: u32, kw: u32, sh: u32,
  sw: u32, ph: u32, pw: u32, rows: u32,
  x_off: u32, pitch: u32, pad1: u32, pad2: u32,
}
