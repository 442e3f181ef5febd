// The row loop of the gathering 'grouped' kernels (sparse_conv2d_grouped_direct.wgsl forward,
// sparse_conv2d_grad_input_grouped.wgsl input gradient): for each entry of ENTRIES in
// [first, end), the row's values at the lane's V vec4s of positions, gathered by the includer's
// gather(o, entry.x, entry.w >> 16, entry.w & 0xffff), go to group_row (sparse_group_row.wgsl)
// with the group's values from GVALS[vp0] on. The includer declares ENTRIES, Origins and gather.
//#include "sparse_group_row"

fn accumulate_rows(first: u32, end: u32, vp0: u32, o0: Origins, o1: Origins, o2: Origins, o3: Origins, acc: ptr<function, array<vec4<f32>, 256>>) {
  var x: array<vec4<f32>, 4>;
  var vp = vp0;
  for (var e = first; e < end; e++) {
    let entry = ENTRIES[e];
    let hi = i32(entry.w >> 16u);
    let lo = i32(entry.w & 0xffffu);
    x[0] = gather(o0, entry.x, hi, lo);
    if (V > 1u) { x[1] = gather(o1, entry.x, hi, lo); }
    if (V > 2u) { x[2] = gather(o2, entry.x, hi, lo); }
    if (V > 3u) { x[3] = gather(o3, entry.x, hi, lo); }
    group_row(entry.yz, &vp, acc, &x);
  }
}
