// Robust Diversity of a team (algorithms.md §6, eqs. 12–13, in the corrected form: Partridge &
// Krzanowski's generalised diversity as in [C:git-disl/EnsembleBench diversityMetrics.py
// generalized_diversity]). With c_n the number of the S team members that fail on example n and
// p_i = #{n : c_n = i} / n_val:
//   P1 = Σ_{i=1..S} (i/S)·p_i                 (a random member fails)
//   P2 = Σ_{i=1..S} i(i−1)/(S(S−1))·p_i       (two distinct random members both fail)
//   RD = 1 − P2/P1, and RD = 1 when P1 = 0.
//
// Both sums only need Σ_n c_n = Σ_{j∈T} |E_j| and Σ_n c_n(c_n−1) = Σ_{j≠k∈T} |E_j ∧ E_k|, so RD is
// computed from the matrix's pairwise co-failure counts in O(S²) integer arithmetic; the explicit
// distribution p_i is also available (and the tests check that both routes agree).

import type { FailureMatrix } from './failureMatrix.js';

export interface FailureStatistics {
  /** p[i] = fraction of examples on which exactly i members fail, i = 0..S. */
  readonly distribution: Float64Array;
  readonly pOne: number;
  readonly pTwo: number;
  readonly robustDiversity: number;
}

/**
 * The integer sums behind RD: singles = Σ_n c_n, pairs = Σ_n c_n(c_n − 1). RD = 1 − pairs /
 * ((S − 1)·singles), kept as integers so that teams can be compared exactly (see compareDiversity).
 */
export interface FailureSums {
  readonly size: number;
  readonly singles: number;
  readonly pairs: number;
}

function checkTeam(matrix: FailureMatrix, team: readonly number[]): void {
  if (team.length < 2) throw new Error(`robust diversity needs a team of at least 2 members, got ${team.length}`);
  const seen = new Set<number>();
  for (const j of team) {
    if (!Number.isInteger(j) || j < 0 || j >= matrix.numModels)
      throw new Error(`robust diversity: member ${j} is not a model index in [0, ${matrix.numModels})`);
    if (seen.has(j)) throw new Error(`robust diversity: member ${j} appears twice in the team`);
    seen.add(j);
  }
}

export function failureSums(matrix: FailureMatrix, team: readonly number[]): FailureSums {
  checkTeam(matrix, team);
  let singles = 0;
  let pairs = 0;
  for (let a = 0; a < team.length; a++) {
    singles += matrix.failureCounts[team[a]];
    for (let b = a + 1; b < team.length; b++) pairs += 2 * matrix.coFailureCount(team[a], team[b]);
  }
  return { size: team.length, singles, pairs };
}

export function diversityOfSums(s: FailureSums): number {
  return s.singles === 0 ? 1 : 1 - s.pairs / ((s.size - 1) * s.singles);
}

/** RD (eq. 13) of a team given as model indices. */
export function robustDiversity(matrix: FailureMatrix, team: readonly number[]): number {
  return diversityOfSums(failureSums(matrix, team));
}

/**
 * Orders teams by RD exactly: negative when a is less diverse than b, 0 when equal. The ratio
 * pairs/((S−1)·singles) is compared by cross-multiplying integers (exact below 2^53), so equal RDs
 * of different teams compare equal and tie-breaks never depend on rounding.
 */
export function compareDiversity(a: FailureSums, b: FailureSums): number {
  // Ratio r = pairs / den with den = (S−1)·singles; RD = 1 − r, and r := 0 when singles = 0.
  const denA = (a.size - 1) * a.singles;
  const denB = (b.size - 1) * b.singles;
  if (denA === 0 || denB === 0) {
    const zeroA = denA === 0 || a.pairs === 0;
    const zeroB = denB === 0 || b.pairs === 0;
    return zeroA === zeroB ? 0 : zeroA ? 1 : -1;
  }
  // RD_a − RD_b has the sign of r_b − r_a = (pairs_b·denA − pairs_a·denB) / (denA·denB).
  return Math.sign(b.pairs * denA - a.pairs * denB);
}

/** The full statistics of eq. 12 computed from the distribution of failing-member counts. */
export function failureStatistics(matrix: FailureMatrix, team: readonly number[]): FailureStatistics {
  checkTeam(matrix, team);
  const s = team.length;
  const counts = new Float64Array(s + 1);
  for (let n = 0; n < matrix.numExamples; n++) {
    let c = 0;
    for (const j of team) if (matrix.failed(j, n)) c++;
    counts[c]++;
  }
  const distribution = counts.map((c) => (matrix.numExamples ? c / matrix.numExamples : 0));
  let pOne = 0;
  let pTwo = 0;
  for (let i = 1; i <= s; i++) {
    pOne += (i / s) * distribution[i];
    pTwo += ((i * (i - 1)) / (s * (s - 1))) * distribution[i];
  }
  return { distribution, pOne, pTwo, robustDiversity: pOne === 0 ? 1 : 1 - pTwo / pOne };
}
