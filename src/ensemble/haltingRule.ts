// The per-sample halting rule of the Dynamic Inference Ensemble (algorithms.md §8), on the host.
// Members F_1..F_T run in order; after member t the sample's state holds the running ensemble
// prediction ŷ^t_ens (eq. 20) and decides whether to run member t + 1.
//
//   U_t    = KL(ŷ^t_ens ‖ ŷ^{t−1}_ens), U_1 := 0                       (29) [X]
//   Conf_t = (max_c ŷ^t_ens,c)²                                        (30) [X]
//   q_t    = Conf_t·1[U_t ≤ τ_U]  (dieSoft: Conf_t·exp(−U_t/τ_U)), q_T := 1   (31) [X]
//   'argmax' rule: z_x = argmax_t q_t·Π_{i<t}(1 − q_i) (eqs. 21, 28), found sequentially with
//     surv/best: once surv ≤ best no later t can win (P(Z = t') ≤ surv), so the sample stops;
//     the prediction is ŷ^{z_x}_ens (eq. 22), which may be earlier than the last member run.
//   'threshold' rule: stop at the first t with q_t ≥ τ_q and predict ŷ^t_ens.
//
// Everything is kept in log space in float64: members' log-probabilities are finite where f32
// softmax underflows, so the KL of (29) never meets log 0.
//
// Max combiner [X, an extension of §8, which only defines the average]: ŷ^t_ens is the elementwise
// max of the members' probabilities renormalised to sum 1, i.e. softmax of the §0 max-combiner
// logits, the distribution that every other use of those logits (CE, argmax) sees.

export type DieRule = 'argmax' | 'threshold';
export type DieCombiner = 'average' | 'max';

export interface HaltingOptions {
  /** 'argmax' (eq. 21, default) or 'threshold' (first q_t ≥ τ_q). */
  dieRule?: DieRule;
  /** q_t = Conf_t·exp(−U_t/τ_U) instead of the hard gate (default false). */
  dieSoft?: boolean;
  /** τ_U in nats (default 0.05). */
  instabilityThreshold?: number;
  /** τ_q of the threshold rule (default 0.5). */
  haltThreshold?: number;
  /** How ŷ^t_ens combines the first t members (default 'average', eq. 20). */
  combiner?: DieCombiner;
}

export const DIE_DEFAULTS = {
  dieRule: 'argmax',
  dieSoft: false,
  instabilityThreshold: 0.05,
  haltThreshold: 0.5,
  combiner: 'average',
} as const satisfies Required<HaltingOptions>;

export function resolveHaltingOptions(opts: HaltingOptions): Required<HaltingOptions> {
  // Field by field, so that an option given as undefined takes its default.
  const r: Required<HaltingOptions> = {
    dieRule: opts.dieRule ?? DIE_DEFAULTS.dieRule,
    dieSoft: opts.dieSoft ?? DIE_DEFAULTS.dieSoft,
    instabilityThreshold: opts.instabilityThreshold ?? DIE_DEFAULTS.instabilityThreshold,
    haltThreshold: opts.haltThreshold ?? DIE_DEFAULTS.haltThreshold,
    combiner: opts.combiner ?? DIE_DEFAULTS.combiner,
  };
  if (r.dieRule !== 'argmax' && r.dieRule !== 'threshold')
    throw new Error(`dynamic ensemble: unknown dieRule '${String(r.dieRule)}' (expected 'argmax' or 'threshold')`);
  if (r.combiner !== 'average' && r.combiner !== 'max')
    throw new Error(`dynamic ensemble: unknown combiner '${String(r.combiner)}' (expected 'average' or 'max')`);
  if (!(r.instabilityThreshold > 0)) throw new Error(`dynamic ensemble: τ_U must be positive, got ${r.instabilityThreshold}`);
  if (Number.isNaN(r.haltThreshold)) throw new Error('dynamic ensemble: τ_q is NaN');
  return r;
}

function logSumExp(v: Float64Array): number {
  let m = -Infinity;
  for (const x of v) m = Math.max(m, x);
  if (m === -Infinity) return m;
  let s = 0;
  for (const x of v) s += Math.exp(x - m);
  return m + Math.log(s);
}

function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const m = Math.max(a, b);
  return m + Math.log(Math.exp(a - m) + Math.exp(b - m));
}

/** One sample's progress through the team. */
export class HaltingState {
  /** Members run so far (the cost of this sample). */
  membersRun = 0;
  /** z_x: members in the prediction (0 until the first member has run). */
  predictionSize = 0;
  stopped = false;
  /** log ŷ^{z_x}_ens. */
  readonly prediction: Float64Array;
  /** average: log Σ_{i≤t} ŷ_i; max: max_{i≤t} log ŷ_i. */
  private readonly accumulated: Float64Array;
  private readonly current: Float64Array;
  private readonly previous: Float64Array;
  private survival = 1;
  private best = -1;

  constructor(
    readonly numClasses: number,
    readonly numMembers: number,
    private readonly opts: Required<HaltingOptions>,
  ) {
    this.prediction = new Float64Array(numClasses);
    this.accumulated = new Float64Array(numClasses).fill(-Infinity);
    this.current = new Float64Array(numClasses);
    this.previous = new Float64Array(numClasses);
  }

  /** Feeds member t's log-probabilities (t = membersRun + 1); returns true when the sample stops. */
  step(logProbs: ArrayLike<number>): boolean {
    if (this.stopped) throw new Error('HaltingState.step: the sample has already stopped');
    const c = this.numClasses;
    const t = ++this.membersRun;
    this.previous.set(this.current);
    if (this.opts.combiner === 'average') {
      for (let k = 0; k < c; k++) this.accumulated[k] = logAddExp(this.accumulated[k], logProbs[k]);
      const logT = Math.log(t);
      for (let k = 0; k < c; k++) this.current[k] = this.accumulated[k] - logT;
    } else {
      for (let k = 0; k < c; k++) this.accumulated[k] = Math.max(this.accumulated[k], logProbs[k]);
      const norm = logSumExp(this.accumulated);
      for (let k = 0; k < c; k++) this.current[k] = this.accumulated[k] - norm;
    }

    let instability = 0;
    let maxProb = 0;
    for (let k = 0; k < c; k++) {
      const p = Math.exp(this.current[k]);
      maxProb = Math.max(maxProb, p);
      if (t > 1 && p > 0) instability += p * (this.current[k] - this.previous[k]);
    }
    // KL is non-negative; rounding can leave a tiny negative sum when the two predictions agree.
    instability = Math.max(0, instability);
    const confidence = maxProb * maxProb;
    const last = t === this.numMembers;
    const tauU = this.opts.instabilityThreshold;
    const q = last
      ? 1
      : this.opts.dieSoft
        ? confidence * Math.exp(-instability / tauU)
        : instability <= tauU
          ? confidence
          : 0;

    if (this.opts.dieRule === 'threshold') {
      if (q >= this.opts.haltThreshold || last) this.stopAt(t);
      return this.stopped;
    }
    const p = q * this.survival;
    if (p > this.best) {
      this.best = p;
      this.predictionSize = t;
      this.prediction.set(this.current);
    }
    this.survival *= 1 - q;
    if (this.survival <= this.best || last) this.stopped = true;
    return this.stopped;
  }

  private stopAt(t: number): void {
    this.predictionSize = t;
    this.prediction.set(this.current);
    this.stopped = true;
  }
}
