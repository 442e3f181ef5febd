// Index helpers for strided (broadcast, permuted, sliced) access. Shapes and strides are passed as
// array<vec4<u32>, 2> (up to 8 dimensions).
fn dim_at(a: array<vec4<u32>, 2>, d: u32) -> u32 { return a[d / 4u][d % 4u]; }

// Element offset of linear (row-major) index `i` of `shape` under `strides`.
fn strided_offset(i: u32, ndim: u32, shape: array<vec4<u32>, 2>, strides: array<vec4<u32>, 2>) -> u32 {
  var rem = i;
  var off = 0u;
  for (var k = 0u; k < ndim; k++) {
    let d = ndim - 1u - k;
    let s = dim_at(shape, d);
    off += (rem % s) * dim_at(strides, d);
    rem = rem / s;
  }
  return off;
}
