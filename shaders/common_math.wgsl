// Shared scalar helpers.
// Built from a runtime value: WGSL rejects NaN and infinity in constant expressions.
fn nan_f32() -> f32 { var bits = 0x7fc00000u; return bitcast<f32>(bits); }
fn inf_f32() -> f32 { var bits = 0x7f800000u; return bitcast<f32>(bits); }

// NaN tests look at the bits: compilers that assume no NaNs (Dawn → SPIR-V → lavapipe does) fold
// `v != v` to false and let max/min drop a NaN operand, so comparisons cannot be trusted with NaN.
fn is_nan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }
// max/min that propagate NaN (torch.maximum, amax, relu and clamp do).
fn max_nan(a: f32, b: f32) -> f32 {
  if (is_nan(a)) { return a; }
  if (is_nan(b)) { return b; }
  return max(a, b);
}
fn min_nan(a: f32, b: f32) -> f32 {
  if (is_nan(a)) { return a; }
  if (is_nan(b)) { return b; }
  return min(a, b);
}

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
