// Fig. 4 of the paper: robustness against sparsity. `--sweep 0.5,0.9` reruns the pool, team,
// ensemble and evaluation stages at each extra target sparsity s_r (sub-models at
// c_r = 1 − (1 − s_r)/4, so four of them fill the budget, as 95% does for 80%), each in its own run
// directory sweep/s-<s_r>/ that reuses the main run's dense base model; the points of every run,
// the main one included, go into the main report's `sweep` section, each at its measured sparsity. Each sweep run is an
// ordinary resumable run, so an interrupted sweep continues where it stopped.

import { join } from 'node:path';
import { strongestSingle, type EedReport, type MethodRow, type SparsityPoint, type SparsitySeries } from '../reports/report.js';
import { parseSweep, subSparsityFor, type PipelineConfig } from './config.js';
import { openPipeline, type PipelineContext } from './context.js';

/** The run-directory config of one sweep point. */
export function sweepConfig(main: PipelineConfig, sparsity: number, baseCheckpoint: string): PipelineConfig {
  return {
    ...main,
    sparsity,
    subSparsity: subSparsityFor(sparsity),
    baseCheckpoint,
    sweep: '',
    out: join(main.out, 'sweep', `s-${sparsity}`),
  };
}

/**
 * The Fig. 4 points of one sweep run (target sparsity s_r), each method at its own measured
 * sparsity: the best single sub-model sits at about c_r, sparser than s_r, and a team smaller than
 * four below its budget. The paper draws every method at the same sparsity because its baselines are
 * pruned to it; ours are the run's own sub-models, so drawing them at s_r would misplace them.
 * The average of the pool is left out: its twelve sub-models keep 12·(1 − c_r) of the weights, at
 * no point of a sparsity axis (Table 1 has it).
 */
export function sweepPoints(report: EedReport, targetSparsity: number): Map<string, SparsityPoint> {
  const out = new Map<string, SparsityPoint>();
  // Without the dense row there is nothing to measure a sparsity against: no points (a series
  // must not mix measured and target positions).
  const dense = report.methods.find((m) => m.kind === 'dense')?.parameters.nonZero;
  if (!dense) return new Map();
  const point = (m: MethodRow): SparsityPoint | null =>
    m.pgd === null
      ? null
      : {
          sparsity: Math.min(Math.max(1 - m.parameters.nonZero / dense, 0), 1 - 1e-9),
          targetSparsity,
          robust: m.pgd,
          clean: m.clean,
        };
  const add = (method: string, p: SparsityPoint | null) => p && out.set(method, p);
  for (const m of report.methods) {
    if (m.kind === 'eed-die') add('EED (DIE)', point(m));
    if (m.kind === 'eed-static') add('EED (static team)', point(m));
  }
  const best = strongestSingle(report.methods);
  if (best) add('Best single sub-model', point(best));
  return out;
}

export function mergeSweep(points: Map<string, SparsityPoint>[]): SparsitySeries[] {
  const series = new Map<string, SparsityPoint[]>();
  for (const run of points) for (const [method, p] of run) series.set(method, [...(series.get(method) ?? []), p]);
  return [...series].map(([method, pts]) => ({ method, points: pts.sort((a, b) => a.sparsity - b.sparsity) }));
}

/**
 * Runs every sweep point (skipping the main run's own sparsity) and returns the main report with
 * its `sweep` section filled. `run` is the pipeline runner (injected to keep this file free of a
 * cycle with pipeline.ts).
 */
export async function runSweep(
  ctx: PipelineContext,
  main: EedReport,
  baseCheckpoint: string,
  run: (ctx: PipelineContext) => Promise<EedReport>,
): Promise<EedReport> {
  const sparsities = parseSweep(ctx.config.sweep).filter((s) => Math.abs(s - ctx.config.sparsity) > 1e-9);
  const points = [sweepPoints(main, ctx.config.sparsity)];
  for (const s of sparsities) {
    ctx.log(`sweep: target sparsity ${s} (sub-models at ${subSparsityFor(s)})`);
    const sub = await openPipeline(sweepConfig(ctx.config, s, baseCheckpoint), { signal: ctx.signal });
    points.push(sweepPoints(await run(sub), s));
  }
  return { ...main, sweep: { robustness: mergeSweep(points), rdByTeamSize: null } };
}
