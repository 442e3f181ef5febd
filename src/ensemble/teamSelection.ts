// Team selection from the pool (algorithms.md §6, "smallest ensemble with high RD"; the rule is
// [X] in the spec and kept as written there):
//   budget: Σ_{j∈T} nnz(F_j) ≤ budget
//   for S = 2 .. S_max (the largest size of which some team fits the budget):
//     T*_S = the most diverse team of size S that fits
//     if RD(T*_S) ≥ τ_RD (0.7): return order(T*_S)
//   return order(T*_{S_max})            (fallback: no affordable team reaches τ_RD)
//   order(T): members by individual validation robust accuracy, descending (DIE runs them in it)
//
// Ties for T*_S: the spec breaks them by the higher validation PGD accuracy of the static team,
// which needs an ensemble attack, so the caller may pass it as `teamRobustAccuracy`. When it is
// absent or equal, the lower P1 (mean member failure rate, the closest host-only proxy) decides
// [X], then the lexicographically smallest member list, so the choice is always deterministic.
//
// Eligibility [X, ours; an improvement of the spec's rule]: a member whose own validation robust
// accuracy is more than `maxAccuracyGap` below the pool's best joins no team. Generalised
// diversity rewards failures that other members do not share, and a collapsed sub-model (one that
// fails on most images) supplies exactly those: in our fmnist run (27 November) every one of the
// five most diverse affordable teams held the two ASE sub-models that pruning at 95% had broken
// (31% and 53% held-out PGD against 67–72% for the other ten), so the spec's rule would have
// built the ensemble around them. "Robust diversity" should be diversity among robust members.
// selectTeam's default (1) is the spec's rule; the pipeline's (rdAccuracyGap, 0.05) admits every
// member within 5 points of the best.

import type { FailureMatrix } from './failureMatrix.js';
import { compareDiversity, diversityOfSums, failureSums, type FailureSums } from './robustDiversity.js';

/** τ_RD [P]. */
export const RD_THRESHOLD = 0.7;

/** Enumerating 2^N teams is meant for pools of about a dozen models (§6: N = 12, 4083 teams). */
const MAX_POOL_SIZE = 20;

export interface TeamSelectionOptions {
  /** Non-zero (prunable) parameter count of each pool member, nnz(F_j). */
  parameterCounts: readonly number[];
  /** Largest Σ nnz a team may have, e.g. (1 − s_r)·P_dense. */
  parameterBudget: number;
  /** τ_RD (default 0.7). */
  rdThreshold?: number;
  /** Validation robust accuracy of a team's static ensemble, for breaking RD ties (higher wins). */
  teamRobustAccuracy?: (team: readonly number[]) => number;
  /**
   * Largest shortfall of a member's own robust accuracy (1 − failures/examples) below the pool's
   * best for it to join a team (default 1: every member, the spec's rule). Where fewer than two
   * members are eligible, the two most robust are.
   */
  maxAccuracyGap?: number;
}

export interface TeamRecord {
  /** Model indices in increasing order. */
  readonly members: readonly number[];
  readonly robustDiversity: number;
  /** Σ nnz of the members. */
  readonly parameters: number;
  readonly fitsBudget: boolean;
  /** Every member is eligible (maxAccuracyGap); only such teams are candidates. */
  readonly eligible: boolean;
}

export interface TeamSelection {
  /** The chosen team in DIE order (individual robust accuracy, descending). */
  readonly team: readonly number[];
  readonly robustDiversity: number;
  readonly parameters: number;
  /** 'threshold': the smallest size with a team reaching τ_RD; 'fallback': none did. */
  readonly reason: 'threshold' | 'fallback';
  /** Every team of size 2..N (within and over budget), by size then member list, for the report. */
  readonly considered: readonly TeamRecord[];
  /** Whether each pool member could join a team (maxAccuracyGap). */
  readonly eligible: readonly boolean[];
}

/** All k-subsets of 0..n−1 in lexicographic order. */
function* combinations(n: number, k: number): Generator<number[]> {
  const idx = Array.from({ length: k }, (_, i) => i);
  while (true) {
    yield idx.slice();
    let i = k - 1;
    while (i >= 0 && idx[i] === n - k + i) i--;
    if (i < 0) return;
    idx[i]++;
    for (let j = i + 1; j < k; j++) idx[j] = idx[j - 1] + 1;
  }
}

function lexicographic(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** DIE order: individual robust accuracy descending (fewest failures first), then model index. */
export function orderByRobustAccuracy(matrix: FailureMatrix, team: readonly number[]): number[] {
  return [...team].sort((a, b) => matrix.failureCounts[a] - matrix.failureCounts[b] || a - b);
}

interface Candidate {
  readonly members: number[];
  readonly sums: FailureSums;
  readonly parameters: number;
}

export function selectTeam(matrix: FailureMatrix, opts: TeamSelectionOptions): TeamSelection {
  const n = matrix.numModels;
  const { parameterCounts, parameterBudget } = opts;
  const threshold = opts.rdThreshold ?? RD_THRESHOLD;
  if (parameterCounts.length !== n)
    throw new Error(`selectTeam: ${parameterCounts.length} parameter counts for a pool of ${n} models`);
  if (n < 2) throw new Error(`selectTeam: a pool of ${n} model(s) has no team of two`);
  if (n > MAX_POOL_SIZE) throw new Error(`selectTeam: a pool of ${n} models has too many teams to enumerate (at most ${MAX_POOL_SIZE} models)`);
  const eligible = eligibleMembers(matrix, opts.maxAccuracyGap ?? 1);

  // Better candidate first: higher RD, then the caller's team accuracy, then lower P1, then lexicographic.
  const accuracyCache = new Map<string, number>();
  const teamAccuracy = (members: readonly number[]): number => {
    const key = members.join(',');
    let v = accuracyCache.get(key);
    if (v === undefined) accuracyCache.set(key, (v = opts.teamRobustAccuracy?.(members) ?? 0));
    return v;
  };
  const better = (a: Candidate, b: Candidate): number => {
    const byRd = compareDiversity(b.sums, a.sums);
    if (byRd !== 0) return byRd;
    if (opts.teamRobustAccuracy) {
      const byAccuracy = teamAccuracy(b.members) - teamAccuracy(a.members);
      if (byAccuracy !== 0) return byAccuracy;
    }
    // Same size, so a lower mean member failure rate is a lower Σ_j |E_j|.
    return a.sums.singles - b.sums.singles || lexicographic(a.members, b.members);
  };

  const considered: TeamRecord[] = [];
  const bestOfSize: (Candidate | undefined)[] = [];
  for (let size = 2; size <= n; size++) {
    for (const members of combinations(n, size)) {
      const sums = failureSums(matrix, members);
      const parameters = members.reduce((s, j) => s + parameterCounts[j], 0);
      const fitsBudget = parameters <= parameterBudget;
      const allEligible = members.every((j) => eligible[j]);
      considered.push({ members, robustDiversity: diversityOfSums(sums), parameters, fitsBudget, eligible: allEligible });
      if (!fitsBudget || !allEligible) continue;
      const candidate: Candidate = { members, sums, parameters };
      const best = bestOfSize[size];
      if (!best || better(candidate, best) < 0) bestOfSize[size] = candidate;
    }
  }

  const finish = (c: Candidate, reason: TeamSelection['reason']): TeamSelection => ({
    team: orderByRobustAccuracy(matrix, c.members),
    robustDiversity: diversityOfSums(c.sums),
    parameters: c.parameters,
    reason,
    considered,
    eligible,
  });
  let largest: Candidate | undefined;
  for (let size = 2; size <= n; size++) {
    const best = bestOfSize[size];
    if (!best) continue;
    if (diversityOfSums(best.sums) >= threshold) return finish(best, 'threshold');
    largest = best;
  }
  if (!largest) {
    const cheapest = parameterCounts.filter((_, j) => eligible[j]).sort((a, b) => a - b);
    const excluded = eligible.filter((e) => !e).length;
    throw new Error(
      `selectTeam: no team of two fits the parameter budget ${parameterBudget} (the two smallest eligible members need ${cheapest[0] + cheapest[1]})` +
        (excluded ? `; ${excluded} member(s) more than maxAccuracyGap below the best were not eligible (a wider gap admits them)` : ''),
    );
  }
  return finish(largest, 'fallback');
}

/**
 * Members within `maxGap` of the pool's best robust accuracy; where fewer than two are, the two
 * most robust (DIE order), so that a team always exists when the budget allows one.
 */
export function eligibleMembers(matrix: FailureMatrix, maxGap: number): boolean[] {
  if (!(maxGap >= 0)) throw new Error(`selectTeam: maxAccuracyGap must be >= 0, got ${maxGap}`);
  const n = matrix.numModels;
  const accuracy = Array.from({ length: n }, (_, j) => matrix.robustAccuracy(j));
  const best = Math.max(...accuracy);
  // A tiny tolerance so that a gap written in points admits a member exactly that far below.
  const out = accuracy.map((a) => a >= best - maxGap - 1e-12);
  if (out.filter(Boolean).length < 2) {
    const top = orderByRobustAccuracy(matrix, Array.from({ length: n }, (_, j) => j)).slice(0, 2);
    for (const j of top) out[j] = true;
  }
  return out;
}
