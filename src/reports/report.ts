// The EED pipeline's result as one JSON document (report.json), from which report.md and the SVG
// figures are rendered. Accuracies are fractions in [0, 1]; null means "not run" and renders as
// "—", so a partial run (no AutoAttack, no sweep) still produces a complete, honest report.
// Speed-ups are measured wall-clock against the dense model (src/attacks/throughput.ts), never
// derived from parameter or FLOP counts.

/** Pruning scores as named in src/pruning/scores.ts, with the method each reproduces (Table 1). */
export const SCORE_METHODS = { erm: 'HYDRA', ase: 'MAD', bnsf: 'BNAP', nis: 'NIS' } as const;
export type PruningScoreName = keyof typeof SCORE_METHODS;

export const REPORT_SCHEMA = 'eed-report/1';

export interface StageTime {
  /** E.g. 'train', 'prune', 'failure-matrix', 'team-selection', 'evaluate'. */
  stage: string;
  seconds: number;
  /** Set where the time covers only part of the stage's work (an evaluation resumed from earlier invocations). */
  note?: string;
}

export interface RunInfo {
  /** The command line that produced the report. */
  command: string;
  /** adapterString() of the device (speed-ups only compare within one adapter). */
  adapter: string;
  /** ISO 8601 time the run finished. */
  date: string;
  dataset: string;
  model: string;
  preset: string | null;
  /** The resolved configuration, as JSON. */
  config: { [key: string]: unknown };
  /** Wall-clock seconds per stage, in run order. */
  stages: StageTime[];
}

export type MethodKind = 'dense' | 'pruned' | 'pool-average' | 'team-untrained' | 'eed-static' | 'eed-die' | 'eed-die-adaptive';

/** Accuracies of one method (fractions in [0, 1]; null: not run). */
export interface Accuracies {
  clean: number | null;
  pgd: number | null;
  aa: number | null;
  cw: number | null;
  df: number | null;
}

export const ACCURACY_KEYS = ['clean', 'pgd', 'aa', 'cw', 'df'] as const;
export type AccuracyKey = (typeof ACCURACY_KEYS)[number];
export const ACCURACY_LABELS: Record<AccuracyKey, string> = { clean: 'Clean', pgd: 'PGD', aa: 'AA', cw: 'CW', df: 'DF' };

export interface ParameterCount {
  /** Non-zero prunable (conv and linear) weights, summed over members for an ensemble. */
  nonZero: number;
  /** All parameters (dense count), summed over members for an ensemble. */
  total: number;
}

/** One row of Table 1. */
export interface MethodRow extends Accuracies {
  /** Display name, e.g. "AT (dense)", "HYDRA (ERM)", "Average of all 12", "EED (DIE)". */
  method: string;
  kind: MethodKind;
  /** The importance score of a pruned sub-model; null for the other kinds. */
  score: PruningScoreName | null;
  parameters: ParameterCount;
  /** Measured wall-clock speed-up over the dense model (dense itself: 1); null: not measured. */
  speedUp: number | null;
  /** Measured clean images per second; null: not measured. */
  imagesPerSecond: number | null;
  /**
   * Theoretical FLOP ratio (§11.5): the dense model's conv/linear MACs per image over this row's
   * non-zero ones (DIE: the mean over the clean test images of the members it ran); null: not
   * counted (reports written before it existed lack the field).
   */
  flopRatio?: number | null;
}

/** One row of Table 3 (EED with and without the Dynamic Inference Ensemble). */
export interface DieRow {
  method: string;
  clean: number | null;
  pgd: number | null;
  /** Mean members run per sample (the static team runs all of them). */
  meanMembersUsed: number;
  /** Measured median latency of one batch, in milliseconds per image; null: not measured. */
  msPerImage: number | null;
  /** Measured speed-up over the static team (static itself: 1); null: not measured. */
  speedUp: number | null;
  /** Non-zero conv/linear MACs per image (DIE: mean over the clean test images); null or absent: not counted. */
  macsPerImage?: number | null;
  /** Mean members run on the batch the latency was measured on (its first clean images); absent in older reports. */
  timedMeanMembersUsed?: number;
}

export interface DieTable {
  teamSize: number;
  withoutDie: DieRow;
  withDie: DieRow;
  /** histogram[k]: samples that ran k + 1 members (length teamSize). */
  membersUsedHistogram: number[];
}

export interface PoolMember {
  /** Display name, e.g. "HYDRA #2". */
  label: string;
  score: PruningScoreName;
  parameters: ParameterCount;
  /** Individual validation robust accuracy, when known. */
  robustAccuracy: number | null;
  /** Whether it could join a team (rdAccuracyGap); absent in reports from before the rule. */
  eligible?: boolean;
}

export interface TeamInfo {
  /** Pool indices in increasing order. */
  members: number[];
  /** Robust diversity; null where it is undefined (e.g. no failures). */
  robustDiversity: number | null;
  /** Σ non-zero prunable weights of the members. */
  parameters: number;
  fitsBudget: boolean;
  /** Every member is eligible; absent in reports from before the rule (all were). */
  eligible?: boolean;
  chosen: boolean;
}

export interface TeamSelectionReport {
  pool: PoolMember[];
  /** τ_RD. */
  threshold: number;
  parameterBudget: number;
  /** The chosen team in DIE order (pool indices). */
  chosen: number[];
  /** True when no affordable team reached τ_RD and the largest affordable size's best was taken. */
  fallback: boolean;
  /** Members more than this below the best validation robust accuracy joined no team (absent: no such rule). */
  accuracyGap?: number;
  /** Every team considered (sizes 2..N). */
  teams: TeamInfo[];
}

export interface SparsityPoint {
  /**
   * The point's own fraction of prunable weights removed, in [0, 1), measured from its non-zero
   * weights against the dense model's (older reports, without targetSparsity, put every series at s_r).
   */
  sparsity: number;
  /** The ensemble's target sparsity s_r in the sweep run the point comes from; absent in older reports. */
  targetSparsity?: number;
  /** Robust (PGD) accuracy. */
  robust: number;
  clean: number | null;
}

export interface SparsitySeries {
  method: string;
  points: SparsityPoint[];
}

/** Fig. 4 sweep. */
export interface SweepReport {
  /** Robust accuracy against sparsity, one line per method. */
  robustness: SparsitySeries[];
  /** Best RD found per team size, when swept separately from the chosen selection. */
  rdByTeamSize: { size: number; robustDiversity: number }[] | null;
}

/** The ensemble stage in brief (§7): how long it trained and which epoch's members EED uses. */
export interface EnsembleTrainingInfo {
  epochs: number;
  /** The epoch kept (0: the team as selected, before training; the last without validation). */
  selectedEpoch: number;
  /** The static team's held-out PGD accuracy before training and after each epoch (index: epoch; null: not measured). */
  heldOutPgd: (number | null)[];
}

export interface EedReport {
  schema: typeof REPORT_SCHEMA;
  run: RunInfo;
  /** The threat model, in words (attacks, norms, ε, counts, what the attacker knows). */
  threatModel: string;
  /** Table 1 rows in display order. */
  methods: MethodRow[];
  die: DieTable | null;
  teamSelection: TeamSelectionReport | null;
  /** Absent in reports from before it was recorded. */
  ensembleTraining?: EnsembleTrainingInfo;
  sweep: SweepReport | null;
}

/** The single pruned sub-model with the highest PGD accuracy (the first on a tie), or null if none has one. */
export function strongestSingle(methods: readonly MethodRow[]): MethodRow | null {
  const singles = methods.filter((m) => m.kind === 'pruned' && m.pgd !== null);
  return singles.length ? singles.reduce((a, b) => ((b.pgd as number) > (a.pgd as number) ? b : a)) : null;
}
