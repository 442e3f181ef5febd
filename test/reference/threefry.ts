// Reference Threefry-2x32-20, the counter-based generator of Salmon et al., "Parallel Random
// Numbers: As Easy as 1, 2, 3" (SC 2011), as implemented in Random123. Being a pure function of
// (key, counter), it lets the GPU's random numbers be checked bit for bit on the CPU.

/** Rotation amounts for rounds 0..7, repeating every 8 rounds (Random123's R_32x2_*). */
const ROTATIONS = [13, 15, 26, 6, 17, 29, 16, 24] as const;

/** Threefish's key-schedule constant: the third key word is it XOR both key words, so it is never
 * simply zero or a copy of a key word. */
const SKEIN_KS_PARITY32 = 0x1bd11bda;

const ROUNDS = 20;

function rotl32(x: number, r: number): number {
  return ((x << r) | (x >>> (32 - r))) >>> 0;
}

/**
 * One Threefry-2x32 block with 20 rounds on u32 words. Every sum is reduced with `>>> 0` so that
 * JavaScript's float64 arithmetic reproduces u32 wrap-around exactly (sums stay below 2^53).
 */
export function threefry2x32(key: [number, number], ctr: [number, number]): [number, number] {
  const k0 = key[0] >>> 0;
  const k1 = key[1] >>> 0;
  const ks = [k0, k1, (SKEIN_KS_PARITY32 ^ k0 ^ k1) >>> 0];
  let x0 = (ctr[0] + ks[0]) >>> 0;
  let x1 = (ctr[1] + ks[1]) >>> 0;
  for (let round = 0; round < ROUNDS; round++) {
    x0 = (x0 + x1) >>> 0;
    x1 = rotl32(x1, ROTATIONS[round % 8]) ^ x0;
    x1 >>>= 0;
    if (round % 4 === 3) {
      // Key injection s (1..5) after every fourth round; adding s breaks the symmetry between
      // injections that would otherwise reuse the same key words every third time.
      const s = (round + 1) / 4;
      x0 = (x0 + ks[s % 3]) >>> 0;
      x1 = (x1 + ks[(s + 1) % 3] + s) >>> 0;
    }
  }
  return [x0, x1];
}

/**
 * Map 32 random bits to a float in [0, 1) using the top 24 bits: exactly representable in float32
 * (24-bit mantissa), so the GPU's conversion can match this bit for bit and never rounds up to 1.
 */
export function uniformFromBits(u: number): number {
  return (u >>> 8) * 2 ** -24;
}
