// One patch row of a 64-channel group (the 'grouped' sparse conv kernels): for each channel whose
// bit is set in the row's mask m (channels 0–31 in m.x, 32–63 in m.y), the next value GVALS[*vp]
// times the row's V vec4s of patches x, added to that channel's accumulators acc[4c .. 4c + V).
// The includer declares GVALS and V. The 64 channels are written out one call each so that every
// accumulator index is a constant after inlining: llvmpipe turns a private array indexed by a loop
// counter into per-lane gathers and scatters. 64 channels measured 1.05–1.26× faster than 32 at
// 80% sparsity on lavapipe (each row's patch loads shared by twice the non-zeros).

const GROUP: u32 = 64u;

fn ch(c: u32, m: vec2<u32>, vp: ptr<function, u32>, acc: ptr<function, array<vec4<f32>, 256>>, x: ptr<function, array<vec4<f32>, 4>>) {
  let word = select(m.x, m.y, c >= 32u);
  if ((word & (1u << (c & 31u))) == 0u) { return; }
  let v = GVALS[*vp];
  *vp += 1u;
  (*acc)[c * 4u] += v * (*x)[0];
  if (V > 1u) { (*acc)[c * 4u + 1u] += v * (*x)[1]; }
  if (V > 2u) { (*acc)[c * 4u + 2u] += v * (*x)[2]; }
  if (V > 3u) { (*acc)[c * 4u + 3u] += v * (*x)[3]; }
}

fn group_row(m: vec2<u32>, vp: ptr<function, u32>, acc: ptr<function, array<vec4<f32>, 256>>, x: ptr<function, array<vec4<f32>, 4>>) {
  ch(0u, m, vp, acc, x);
  ch(1u, m, vp, acc, x);
  ch(2u, m, vp, acc, x);
  ch(3u, m, vp, acc, x);
  ch(4u, m, vp, acc, x);
  ch(5u, m, vp, acc, x);
  ch(6u, m, vp, acc, x);
  ch(7u, m, vp, acc, x);
  ch(8u, m, vp, acc, x);
  ch(9u, m, vp, acc, x);
  ch(10u, m, vp, acc, x);
  ch(11u, m, vp, acc, x);
  ch(12u, m, vp, acc, x);
  ch(13u, m, vp, acc, x);
  ch(14u, m, vp, acc, x);
  ch(15u, m, vp, acc, x);
  ch(16u, m, vp, acc, x);
  ch(17u, m, vp, acc, x);
  ch(18u, m, vp, acc, x);
  ch(19u, m, vp, acc, x);
  ch(20u, m, vp, acc, x);
  ch(21u, m, vp, acc, x);
  ch(22u, m, vp, acc, x);
  ch(23u, m, vp, acc, x);
  ch(24u, m, vp, acc, x);
  ch(25u, m, vp, acc, x);
  ch(26u, m, vp, acc, x);
  ch(27u, m, vp, acc, x);
  ch(28u, m, vp, acc, x);
  ch(29u, m, vp, acc, x);
  ch(30u, m, vp, acc, x);
  ch(31u, m, vp, acc, x);
  ch(32u, m, vp, acc, x);
  ch(33u, m, vp, acc, x);
  ch(34u, m, vp, acc, x);
  ch(35u, m, vp, acc, x);
  ch(36u, m, vp, acc, x);
  ch(37u, m, vp, acc, x);
  ch(38u, m, vp, acc, x);
  ch(39u, m, vp, acc, x);
  ch(40u, m, vp, acc, x);
  ch(41u, m, vp, acc, x);
  ch(42u, m, vp, acc, x);
  ch(43u, m, vp, acc, x);
  ch(44u, m, vp, acc, x);
  ch(45u, m, vp, acc, x);
  ch(46u, m, vp, acc, x);
  ch(47u, m, vp, acc, x);
  ch(48u, m, vp, acc, x);
  ch(49u, m, vp, acc, x);
  ch(50u, m, vp, acc, x);
  ch(51u, m, vp, acc, x);
  ch(52u, m, vp, acc, x);
  ch(53u, m, vp, acc, x);
  ch(54u, m, vp, acc, x);
  ch(55u, m, vp, acc, x);
  ch(56u, m, vp, acc, x);
  ch(57u, m, vp, acc, x);
  ch(58u, m, vp, acc, x);
  ch(59u, m, vp, acc, x);
  ch(60u, m, vp, acc, x);
  ch(61u, m, vp, acc, x);
  ch(62u, m, vp, acc, x);
  ch(63u, m, vp, acc, x);
}
