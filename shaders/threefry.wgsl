// Threefry-2x32 with 20 rounds (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3").
// Counter-based: the value at counter c under key k depends only on (k, c), so a generator is
// reproducible from its seed and position, whatever the dispatch geometry.
fn rotl32(x: u32, r: u32) -> u32 { return (x << r) | (x >> (32u - r)); }

fn threefry2x32(key: vec2<u32>, ctr: vec2<u32>) -> vec2<u32> {
  var ks = array<u32, 3>(key.x, key.y, 0x1BD11BDAu ^ key.x ^ key.y);
  var rot = array<u32, 8>(13u, 15u, 26u, 6u, 17u, 29u, 16u, 24u);
  var x0 = ctr.x + ks[0];
  var x1 = ctr.y + ks[1];
  for (var blk = 0u; blk < 5u; blk++) {
    for (var r = 0u; r < 4u; r++) {
      x0 = x0 + x1;
      x1 = rotl32(x1, rot[(blk % 2u) * 4u + r]);
      x1 = x1 ^ x0;
    }
    let s = blk + 1u;
    x0 = x0 + ks[s % 3u];
    x1 = x1 + ks[(s + 1u) % 3u] + s;
  }
  return vec2<u32>(x0, x1);
}
