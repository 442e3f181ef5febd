// FAB's ℓ∞ projection onto a hyperplane within the image box
// [C:fra31/auto-attack fab_projections.py projection_linf], for one point:
//   d = argmin ‖d‖∞  subject to  w·(t + d) = b  and  t + d ∈ [0, 1]^n,
// or, when the box cannot reach the hyperplane, the box corner that gets closest to it.
// Every coordinate moves towards the side that lowers w·(t + d) (after orienting the hyperplane
// so that w·t ≥ b); with radius λ, coordinate i moves by min(λ, p_i), p_i being its room to the
// box edge. The change in w·x is then piecewise linear in λ: the reference sorts the p_i and
// binary-searches the piece where it reaches b − w·t, and so does this port.
//
// It runs on the host: it is a per-sample sort and search (no f32 argsort in the engine), and FAB
// reads the gradient back every iteration anyway.

/** The ℓ∞-minimal step d from t onto {x : w·x = b} ∩ [0, 1]^n (see the file comment). */
export function projectLinf(t: ArrayLike<number>, wIn: ArrayLike<number>, bIn: number): Float64Array {
  const n = t.length;
  if (wIn.length !== n) throw new Error(`projectLinf: point has ${n} coordinates, normal ${wIn.length}`);
  let dotWT = 0;
  for (let i = 0; i < n; i++) dotWT += wIn[i] * t[i];
  const orient = dotWT - bIn >= 0 ? 1 : -1;
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = wIn[i] * orient;
  const b = bIn * orient;

  // a_i = 1: coordinate i moves up (towards 1); d_i: the full move to that edge; p_i: its length.
  const a = new Float64Array(n);
  const d = new Float64Array(n);
  const p = new Float64Array(n);
  let wt = 0;
  let b0 = 0;
  for (let i = 0; i < n; i++) {
    a[i] = w[i] < 0 ? 1 : 0;
    d[i] = w[i] !== 0 ? a[i] - t[i] : 0;
    p[i] = a[i] - t[i] * (2 * a[i] - 1);
    wt += w[i] * t[i];
    b0 += w[i] * d[i];
  }
  const target = b - wt; // the change of w·x needed (≤ 0)
  const ascending = byRoom(p);

  // Coordinates by decreasing room: after j + 1 of them, s[j] = Σ|w| over them and
  // sb[j] = b0 − Σ w·d over them, so a radius λ below their rooms changes w·x by sb[j] − s[j]·λ.
  const s = new Float64Array(n);
  const sb = new Float64Array(n);
  let accS = 0;
  let accB = b0;
  for (let j = 0; j < n; j++) {
    const i = ascending[n - 1 - j];
    accS += Math.abs(w[i]);
    accB += -w[i] * d[i];
    s[j] = accS;
    sb[j] = accB;
  }

  const bSmallest = sb[n - 1] - s[n - 1] * p[ascending[0]];
  if (target - bSmallest > 0) {
    // Reached before any coordinate hits its edge: every coordinate moves by λ.
    const lambda = Math.max((target - sb[n - 1]) / -s[n - 1], 0);
    for (let i = 0; i < n; i++) d[i] = w[i] !== 0 ? (2 * a[i] - 1) * lambda : 0;
    return d;
  }
  if (target - b0 > 0) {
    let lb = 0;
    let ub = n - 1;
    for (let k = 0; k < Math.ceil(Math.log2(n)); k++) {
      const mid = Math.floor((lb + ub) / 2);
      const bMid = sb[mid] - s[mid] * p[ascending[n - 1 - mid]];
      if (target - bMid > 0) lb = mid;
      else ub = mid;
    }
    const lambda = Math.max((target - sb[lb]) / -s[lb], 0);
    for (let i = 0; i < n; i++) d[i] = w[i] !== 0 ? (a[i] ? Math.min(lambda, d[i]) : Math.max(-lambda, d[i])) : 0;
  }
  // Otherwise the hyperplane is out of the box's reach: d is the full move to the corner.
  return d;
}

const INDEX_BITS = 2 ** 20;

/**
 * The indices of p in ascending order of p, ties by index (what a stable sort of 0..n−1 by p
 * gives). FAB sorts every sample's rooms twice per iteration, so this is its hot loop: the indices
 * ride in the low bits of float64 keys of p quantised to 2^−32, which the engine's native numeric
 * sort orders several times faster than a comparator; an insertion pass then restores the exact
 * order among the (rare) values that quantisation merged.
 */
export function byRoom(p: ArrayLike<number>): Uint32Array {
  const n = p.length;
  const order = new Uint32Array(n);
  if (n >= INDEX_BITS) {
    const idx = Array.from({ length: n }, (_, i) => i).sort((i, j) => p[i] - p[j]);
    order.set(idx);
    return order;
  }
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = Math.floor(Math.min(Math.max(p[i], 0), 1) * 2 ** 32) * INDEX_BITS + i;
  keys.sort();
  for (let k = 0; k < n; k++) order[k] = keys[k] % INDEX_BITS;
  for (let k = 1; k < n; k++) {
    const i = order[k];
    let j = k - 1;
    while (j >= 0 && (p[order[j]] > p[i] || (p[order[j]] === p[i] && order[j] > i))) {
      order[j + 1] = order[j];
      j--;
    }
    order[j + 1] = i;
  }
  return order;
}
