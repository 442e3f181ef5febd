// A hand-built EED report with known numbers in every table, for the rendering tests.

import { REPORT_SCHEMA, type EedReport, type MethodRow, type TeamInfo } from '../../src/reports/report.js';

function row(method: string, kind: MethodRow['kind'], values: Partial<MethodRow>): MethodRow {
  return {
    method,
    kind,
    score: null,
    clean: null,
    pgd: null,
    aa: null,
    cw: null,
    df: null,
    parameters: { nonZero: 100_000, total: 100_000 },
    speedUp: null,
    imagesPerSecond: null,
    ...values,
  };
}

/** All teams of 2..4 of a pool of 4, RD decreasing with size; team [0, 2] chosen. */
function teams(): TeamInfo[] {
  const out: TeamInfo[] = [];
  const pool = [0, 1, 2, 3];
  const subsets = (k: number, start = 0): number[][] =>
    k === 0 ? [[]] : pool.slice(start).flatMap((m) => subsets(k - 1, m + 1).map((rest) => [m, ...rest]));
  for (let size = 2; size <= 4; size++)
    for (const members of subsets(size)) {
      const rd = 0.9 - 0.1 * size + 0.01 * members[0];
      out.push({ members, robustDiversity: rd, parameters: 10_000 * size, fitsBudget: size <= 3, chosen: members.join(',') === '0,2' });
    }
  return out;
}

export function sampleReport(): EedReport {
  return {
    schema: REPORT_SCHEMA,
    run: {
      command: 'eed run --preset quick',
      adapter: 'mesa / software / llvmpipe',
      date: '2026-11-26T13:00:00.000Z',
      dataset: 'fashion-mnist',
      model: 'smallcnn',
      preset: 'quick',
      config: { eps: 0.1, evalCount: 200 },
      stages: [
        { stage: 'train', seconds: 125.5 },
        { stage: 'eval', seconds: 42 },
      ],
    },
    threatModel: 'White-box ℓ∞ attacks, ε = 0.1 <all> & more',
    methods: [
      row('AT (dense)', 'dense', { clean: 0.8523, pgd: 0.4567, aa: 0.4012, cw: 0.4321, df: 0.5, parameters: { nonZero: 93_728, total: 94_186 }, speedUp: 1, imagesPerSecond: 231.27, flopRatio: 1 }),
      row('HYDRA (ERM) #1', 'pruned', { score: 'erm', clean: 0.8, pgd: 0.41, cw: 0.39, df: 0.45, parameters: { nonZero: 9_373, total: 94_186 }, speedUp: 1.8, imagesPerSecond: 400, flopRatio: 9.25 }),
      row('MAD <&> "x"', 'pruned', { score: 'ase', clean: 0.79, pgd: 0.4 }),
      row('Average of all 4', 'pool-average', { clean: 0.83, pgd: 0.44 }),
      row('EED (static team)', 'eed-static', { clean: 0.84, pgd: 0.47, aa: 0.42, parameters: { nonZero: 28_000, total: 3 * 94_186 }, speedUp: 0.9 }),
      row('EED (DIE)', 'eed-die', { clean: 0.845, pgd: 0.471, aa: 0.419, speedUp: 1.35, imagesPerSecond: 300.04, flopRatio: 4.125 }),
    ],
    die: {
      teamSize: 3,
      withoutDie: { method: 'EED w/o DIE (static)', clean: 0.84, pgd: 0.47, meanMembersUsed: 3, msPerImage: 4.5, speedUp: 1, macsPerImage: 4_200_000 },
      withDie: { method: 'EED with DIE', clean: 0.845, pgd: 0.471, meanMembersUsed: 1.6, msPerImage: 3, speedUp: 1.5, macsPerImage: 2_240_000, timedMeanMembersUsed: 1.75 },
      membersUsedHistogram: [120, 40, 40],
    },
    teamSelection: {
      pool: [
        { label: 'HYDRA #1', score: 'erm', parameters: { nonZero: 10_000, total: 94_186 }, robustAccuracy: 0.41 },
        { label: 'MAD #1', score: 'ase', parameters: { nonZero: 10_000, total: 94_186 }, robustAccuracy: 0.4 },
        { label: 'BNAP #1', score: 'bnsf', parameters: { nonZero: 10_000, total: 94_186 }, robustAccuracy: 0.39 },
        { label: 'NIS #1', score: 'nis', parameters: { nonZero: 10_000, total: 94_186 }, robustAccuracy: null },
      ],
      threshold: 0.7,
      parameterBudget: 30_000,
      chosen: [0, 2],
      fallback: false,
      teams: teams(),
    },
    ensembleTraining: { epochs: 2, selectedEpoch: 1, heldOutPgd: [0.43, 0.455, 0.45] },
    sweep: {
      robustness: [
        // HYDRA's points carry the run's target (its first sits away from it); NIS's are an older report's.
        {
          method: 'HYDRA',
          points: [
            { sparsity: 0.875, targetSparsity: 0.5, robust: 0.45, clean: 0.82 },
            { sparsity: 0.9, targetSparsity: 0.9, robust: 0.41, clean: 0.8 },
            { sparsity: 0.99, targetSparsity: 0.99, robust: 0.3, clean: null },
          ],
        },
        { method: 'NIS', points: [{ sparsity: 0.9, robust: 0.43, clean: null }, { sparsity: 0.5, robust: 0.46, clean: null }] },
      ],
      rdByTeamSize: [
        { size: 2, robustDiversity: 0.72 },
        { size: 3, robustDiversity: 0.62 },
      ],
    },
  };
}
