// Finite-difference gradients and a tolerance check, the two halves of every gradient test: the
// engine's backward pass is compared with a numeric derivative of the float64 reference forward.

import { nd, numel, type NDArray } from './ndarray.js';

/**
 * d/d(inputs[wrt]) of sum(f(inputs) · cotangent), by central differences
 * (L(x + h) − L(x − h)) / 2h per element. That scalar's gradient is exactly the vector–Jacobian
 * product a backward pass computes when seeded with `cotangent`, so the two compare directly.
 * Central differences have O(h²) error; in float64 with h = 1e-5 that leaves ~1e-10 absolute error
 * for smooth f, far below float32 tolerances. Near a kink (relu at 0, max ties, abs at 0) the
 * estimate is meaningless: keep test inputs more than h away from such points.
 */
export function numericGrad(
  f: (inputs: NDArray[]) => NDArray,
  inputs: NDArray[],
  wrt: number,
  cotangent: NDArray,
  h = 1e-5,
): NDArray {
  if (wrt < 0 || wrt >= inputs.length) throw new Error(`numericGrad: no input ${wrt}`);
  // Perturb a private copy so the caller's inputs are never touched, even if f throws.
  const perturbed = nd(inputs[wrt].shape, inputs[wrt].data);
  const args = inputs.map((x, k) => (k === wrt ? perturbed : x));
  const objective = (): number => {
    const out = f(args);
    if (numel(out.shape) !== numel(cotangent.shape)) {
      throw new Error(
        `numericGrad: cotangent [${cotangent.shape.join(', ')}] does not match output [${out.shape.join(', ')}]`,
      );
    }
    let acc = 0;
    for (let i = 0; i < out.data.length; i++) acc += out.data[i] * cotangent.data[i];
    return acc;
  };
  const grad = nd(perturbed.shape);
  for (let i = 0; i < perturbed.data.length; i++) {
    const original = perturbed.data[i];
    perturbed.data[i] = original + h;
    const plus = objective();
    perturbed.data[i] = original - h;
    const minus = objective();
    perturbed.data[i] = original;
    grad.data[i] = (plus - minus) / (2 * h);
  }
  return grad;
}

export interface CloseOptions {
  /** Relative tolerance, scaled by |expected|. Default 1e-5. */
  rtol?: number;
  /** Absolute tolerance. Default 1e-6. */
  atol?: number;
  /** Prefixed to the error message, to say which check failed. */
  label?: string;
}

/**
 * Throws unless every element satisfies |actual − expected| ≤ atol + rtol·|expected| (NumPy's
 * isclose). NaN must appear exactly where expected has NaN, and an infinite expected value must
 * be matched exactly (the formula alone would accept anything next to ∞). The message names the
 * worst offender, i.e. the element exceeding its tolerance by the most.
 */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, opts: CloseOptions = {}): void {
  const rtol = opts.rtol ?? 1e-5;
  const atol = opts.atol ?? 1e-6;
  const prefix = opts.label === undefined ? '' : `${opts.label}: `;
  if (actual.length !== expected.length) {
    throw new Error(`${prefix}length mismatch: actual has ${actual.length} elements, expected ${expected.length}`);
  }
  let failures = 0;
  let worst = -1;
  let worstExcess = -Infinity;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const tol = atol + rtol * Math.abs(e);
    let excess: number;
    if (Number.isNaN(e) || Number.isNaN(a)) {
      // A NaN mismatch is worse than any finite error, so it is reported first.
      excess = Number.isNaN(e) && Number.isNaN(a) ? -Infinity : Infinity;
    } else if (!Number.isFinite(e)) {
      excess = a === e ? -Infinity : Infinity;
    } else {
      excess = Math.abs(a - e) - tol;
    }
    if (excess > 0) {
      failures++;
      if (excess > worstExcess) {
        worstExcess = excess;
        worst = i;
      }
    }
  }
  if (failures > 0) {
    const a = actual[worst];
    const e = expected[worst];
    const tol = atol + rtol * Math.abs(e);
    throw new Error(
      `${prefix}${failures} of ${actual.length} elements differ; worst at index ${worst}: ` +
        `actual ${a}, expected ${e}, |diff| ${Math.abs(a - e)} > tolerance ${tol} (atol ${atol}, rtol ${rtol})`,
    );
  }
}
