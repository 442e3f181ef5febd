// Stage 2 (algorithms.md §6): the failure matrix of the pool on the held-out split (PGD against
// each member, or against the pool average), robust diversity of every team, and the smallest
// team with RD ≥ τ_RD inside the parameter budget (1 − s_r)·P_dense, with the spec's fallback.
// Writes select/selection.json, which lists every team considered.

import { join } from 'node:path';
import { moduleClassifier } from '../attacks/classifier.js';
import { pgd } from '../attacks/pgd.js';
import { memberFailures } from '../ensemble/memberFailures.js';
import { selectTeam } from '../ensemble/teamSelection.js';
import { disposeSubModel } from '../ensemble/subModel.js';
import { loadSubModel } from '../ensemble/subModelFile.js';
import type { Module } from '../nn/module.js';
import { Generator } from '../ops/random.js';
import { heldOutBatch, readStageJson, resolveInRun, writeStageJson, type PipelineContext } from './context.js';
import type { PoolJobReport } from './poolStage.js';

export interface PoolMemberSummary {
  job: number;
  name: string;
  score: string;
  subset: number;
  checkpoint: string;
  prunableNonZero: number;
  /** 1 − its failure rate on the held-out split (PGD per rdAttack). */
  validationPgd: number;
}

export interface Selection {
  heldOut: number;
  attack: { mode: string; steps: number; stepSize: number; eps: number };
  pool: PoolMemberSummary[];
  /** failures[j][n] = '1' when member j fails on held-out sample n. */
  failures: string[];
  prunableTotal: number;
  budget: number;
  threshold: number;
  /** Pool indices in DIE order. */
  team: number[];
  teamNames: string[];
  robustDiversity: number;
  parameters: number;
  reason: 'threshold' | 'fallback';
  /** The eligibility gap (rdAccuracyGap) and the pool members it admitted (absent before the rule: every member). */
  accuracyGap?: number;
  eligible?: boolean[];
  /** Every team: [members, RD, Σ nnz, fits the budget, every member eligible (absent before the rule)]. */
  considered: [number[], number, number, boolean, boolean?][];
  seconds: number;
}

export const selectionPath = (ctx: PipelineContext) => ctx.run.file(join('select', 'selection.json'));

export async function selectStage(ctx: PipelineContext, pool: PoolJobReport[]): Promise<Selection> {
  const done = readStageJson<Selection>(selectionPath(ctx));
  if (done) {
    ctx.log(`select: done (team ${done.teamNames.join(', ')}, RD ${done.robustDiversity.toFixed(3)})`);
    return done;
  }
  const c = ctx.config;
  const t0 = performance.now();
  const members: Module[] = [];
  try {
    for (const p of pool) members.push((await loadSubModel(resolveInRun(ctx, p.checkpoint), ctx.architecture)).module.eval());
    const { x, y } = heldOutBatch(ctx);
    const heldOut = x.shape[0];
    const gen = new Generator(c.seed).fork(2);
    ctx.log(`select: PGD-${c.rdSteps} against ${c.rdAttack === 'pool' ? 'the pool average' : 'each member'} on ${heldOut} held-out images`);
    let matrix;
    try {
      matrix = await memberFailures(
        members.map((m) => moduleClassifier(m)),
        x,
        y,
        (classifier, xb, yb) => pgd(classifier, xb, yb, { eps: c.eps, stepSize: c.rdStepSize, steps: c.rdSteps, randomStart: true, generator: gen }),
        { mode: c.rdAttack as 'member' | 'pool', batchSize: c.batchSize },
      );
    } finally {
      x.dispose();
      y.dispose();
    }
    const prunableTotal = pool[0].prunableTotal;
    const budget = (1 - c.sparsity) * prunableTotal;
    const choice = selectTeam(matrix, {
      parameterCounts: pool.map((p) => p.prunableNonZero),
      parameterBudget: budget,
      rdThreshold: c.rdThreshold,
      maxAccuracyGap: c.rdAccuracyGap,
    });
    const excluded = pool.filter((_, j) => !choice.eligible[j]);
    if (excluded.length)
      ctx.log(
        `select: ${excluded.map((p) => p.name).join(', ')} more than ${(c.rdAccuracyGap * 100).toFixed(1)} points below the best held-out PGD ` +
          `(${(Math.max(...pool.map((_, j) => matrix.robustAccuracy(j))) * 100).toFixed(1)}%): in no team`,
      );
    const selection: Selection = {
      heldOut,
      attack: { mode: c.rdAttack, steps: c.rdSteps, stepSize: c.rdStepSize, eps: c.eps },
      pool: pool.map((p, j) => ({
        job: p.job, name: p.name, score: p.score, subset: p.subset, checkpoint: p.checkpoint, prunableNonZero: p.prunableNonZero,
        validationPgd: matrix.robustAccuracy(j),
      })),
      failures: pool.map((_, j) => Array.from({ length: matrix.numExamples }, (_, n) => (matrix.failed(j, n) ? '1' : '0')).join('')),
      prunableTotal,
      budget,
      threshold: c.rdThreshold,
      team: [...choice.team],
      teamNames: choice.team.map((j) => pool[j].name),
      robustDiversity: choice.robustDiversity,
      parameters: choice.parameters,
      reason: choice.reason,
      accuracyGap: c.rdAccuracyGap,
      eligible: [...choice.eligible],
      considered: choice.considered.map((t) => [[...t.members], t.robustDiversity, t.parameters, t.fitsBudget, t.eligible]),
      seconds: (performance.now() - t0) / 1000,
    };
    await writeStageJson(selectionPath(ctx), selection);
    ctx.log(
      `select: team ${selection.teamNames.join(', ')} (RD ${choice.robustDiversity.toFixed(3)}, ${choice.reason === 'fallback' ? `no affordable team reaches ${c.rdThreshold}: most diverse of the largest affordable size` : `smallest size reaching ${c.rdThreshold}`}; ` +
        `${choice.parameters} of budget ${Math.floor(budget)} weights)`,
    );
    return selection;
  } finally {
    members.forEach(disposeSubModel);
  }
}
