// The op of binary.wgsl and binary_vec4.wgsl: u (op) v for `override OP`.
fn apply(u: f32, v: f32) -> f32 {
  switch OP {
    case 0u: { return u + v; }
    case 1u: { return u - v; }
    case 2u: { return u * v; }
    case 3u: { return u / v; }
    case 4u: { return min_nan(u, v); }
    case 5u: { return max_nan(u, v); }
    case 6u: { return pow_f32(u, v); }
    case 7u: { return select(0.0, 1.0, u > v); }
    case 8u: { return select(0.0, 1.0, u >= v); }
    case 9u: { return select(0.0, 1.0, u < v); }
    case 10u: { return select(0.0, 1.0, u <= v); }
    case 11u: { return select(0.0, 1.0, u == v); }
    case 12u: { return select(0.0, 1.0, u != v || is_nan(u) || is_nan(v)); }
    default: { return u; }
  }
}
