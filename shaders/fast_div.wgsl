// Unsigned division without an integer divide. CPU adapters (lavapipe) have no vector integer
// division, so `a / b` with a runtime b is split into one scalar divide per SIMD lane; index math
// with a few such divisions per element made im2col and col2im slower than the GEMM between them.
// The quotient is estimated with an f32 division (vectorised) and corrected by ±1. Exact for
// a < 2^22 and 0 < b < 2^22 (both are exact in f32 and the estimate is off by at most one); the
// launchers only pass tensor extents and indices far below that.
fn udiv(a: u32, b: u32) -> u32 {
  var q = u32(f32(a) / f32(b));
  let qb = q * b;
  if (qb > a) {
    q -= 1u;
  } else if (a - qb >= b) {
    q += 1u;
  }
  return q;
}
