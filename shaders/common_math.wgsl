// Shared scalar helpers.
// Built from a runtime value: WGSL rejects NaN and infinity in constant expressions.
fn nan_f32() -> f32 { var bits = 0x7fc00000u; return bitcast<f32>(bits); }
fn inf_f32() -> f32 { var bits = 0x7f800000u; return bitcast<f32>(bits); }

// WGSL's pow is undefined for negative bases; integer exponents of negative bases are common
// (squares in variance, cubes in tests), so they are handled explicitly.
fn pow_f32(v: f32, a: f32) -> f32 {
  if (a == 2.0) { return v * v; }
  if (a == 1.0) { return v; }
  if (a == 0.0) { return 1.0; }
  if (a == 0.5) { return sqrt(v); }
  if (a == -1.0) { return 1.0 / v; }
  let r = pow(abs(v), a);
  if (v < 0.0) {
    if (fract(a) != 0.0) { return nan_f32(); }
    if (fract(a * 0.5) != 0.0) { return -r; }
    return r;
  }
  if (v == 0.0) {
    if (a > 0.0) { return 0.0; }
    return inf_f32();
  }
  return r;
}
