// Geometry shared by the pooling kernels: planes = batch·channels, each H×W in, OH×OW out.
struct Params {
  planes: u32, h: u32, w: u32, oh: u32,
  ow: u32, kh: u32, kw: u32, sh: u32,
  sw: u32, ph: u32, pw: u32, nx: u32,
}
