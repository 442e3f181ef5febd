// The store side of the 'grouped' sparse conv kernels: y = acc·SCALE[c] + SHIFT[c], plus RESIDUAL at
// y's own index, then ReLU, each part switched on by a bit of the `flags` parameter. SHIFT alone is
// the conv's bias; SCALE and SHIFT together are an eval-mode batch norm folded in
// (src/ops/batchNorm.ts batchNormFold), so a pruned conv → BN → (+ shortcut) → ReLU stores its
// output once instead of running a second pass over it.
// The includer declares SCALE, SHIFT and RESIDUAL (array<f32>).

const EPI_SCALE: u32 = 1u;
const EPI_SHIFT: u32 = 2u;
const EPI_RESIDUAL: u32 = 4u;
const EPI_RELU: u32 = 8u;

/** Channel co's (scale, shift), read once per channel rather than per output. */
fn channel_affine(flags: u32, co: u32) -> vec2<f32> {
  var st = vec2<f32>(1.0, 0.0);
  if ((flags & EPI_SCALE) != 0u) { st.x = SCALE[co]; }
  if ((flags & EPI_SHIFT) != 0u) { st.y = SHIFT[co]; }
  return st;
}

/** The stored value for accumulator a at output index yi. */
fn finish(flags: u32, st: vec2<f32>, a: f32, yi: u32) -> f32 {
  var y = a * st.x + st.y;
  if ((flags & EPI_RESIDUAL) != 0u) { y += RESIDUAL[yi]; }
  if ((flags & EPI_RELU) != 0u) { y = max(y, 0.0); }
  return y;
}
