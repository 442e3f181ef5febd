// The op of unary.wgsl and unary_vec4.wgsl: f(v) for `override OP`; alpha/beta come from p.
fn apply(v: f32) -> f32 {
  switch OP {
    case 0u: { return v; }
    case 1u: { return -v; }
    case 2u: { return exp(v); }
    case 3u: { return log(v); }
    case 4u: { return sqrt(v); }
    case 5u: { return abs(v); }
    case 6u: { return sign(v); }
    case 7u: { return max_nan(v, 0.0); }
    case 8u: { return select(0.0, 1.0, v > 0.0); }
    case 9u: { return p.alpha * v + p.beta; }
    case 10u: { return pow_f32(v, p.alpha); }
    case 11u: { return select(clamp(v, p.alpha, p.beta), v, is_nan(v)); }
    case 12u: { return select(0.0, 1.0, v >= p.alpha && v <= p.beta); }
    case 13u: { return p.beta; }
    case 14u: { return 1.0 / v; }
    case 15u: { return v * v; }
    case 16u: { return inverseSqrt(v + p.alpha); }
    case 17u: { return select(0.0, 1.0, is_nan(v)); }
    default: { return v; }
  }
}
