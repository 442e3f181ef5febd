// APGD's step-size checkpoints [C:fra31/auto-attack autopgd_base.py; algorithms.md §11.2]. The
// paper writes them as w_j = ⌈p_j·N_iter⌉ with p_0 = 0, p_1 = 0.22 and
// p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06); the reference code counts in whole iterations:
// the first interval is ⌊0.22·N_iter⌋, and each next one is ⌊0.03·N_iter⌋ shorter, down to
// ⌊0.06·N_iter⌋ (every one at least 1). For N_iter = 100 both give 22, 41, 57, 70, 80, 87, 93, 99.

export interface ApgdCheckpoint {
  /** Iterations completed when the step size is checked. */
  iteration: number;
  /** Iterations since the previous checkpoint (the window of the oscillation test). */
  interval: number;
}

export function apgdCheckpoints(iterations: number): ApgdCheckpoint[] {
  if (!(Number.isInteger(iterations) && iterations >= 0)) throw new Error(`apgdCheckpoints: invalid iteration count ${iterations}`);
  const first = Math.max(Math.floor(0.22 * iterations), 1);
  const decrease = Math.max(Math.floor(0.03 * iterations), 1);
  const shortest = Math.max(Math.floor(0.06 * iterations), 1);
  const out: ApgdCheckpoint[] = [];
  let at = 0;
  for (let interval = first; at + interval <= iterations; interval = Math.max(interval - decrease, shortest)) {
    at += interval;
    out.push({ iteration: at, interval });
  }
  return out;
}
