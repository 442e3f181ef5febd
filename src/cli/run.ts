// `eed run`: the whole EED pipeline (src/pipeline/) in one resumable run directory, or one stage
// of it, or one pool job (`--stage pool --job k`) so the pool can be spread over processes or
// machines that share the run folder.

import { init, shutdown } from '../engine/engine.js';
import { checkPipelineConfig, PIPELINE_OPTIONS, PIPELINE_PRESETS } from '../pipeline/config.js';
import { openPipeline, PipelineInterrupted } from '../pipeline/context.js';
import { runPipeline, STAGES, type Stage } from '../pipeline/pipeline.js';
import { copyEarlierStages } from '../pipeline/sharedStages.js';
import { onInterrupt } from './interrupt.js';
import { optionHelp, resolveOptions, type OptionTable } from './options.js';

/** Options of the invocation, not of the run: they are not recorded in the run's config. */
export const RUN_FLAGS = {
  stage: { type: 'enum', values: STAGES, default: 'eval', help: 'last stage to run' },
  job: { type: 'number', default: -1, min: -1, integer: true, help: 'with --stage pool: run only this pool job (-1: every job)' },
  fresh: { type: 'boolean', default: false, help: 'discard an existing run directory first' },
  baselineOnly: {
    type: 'boolean',
    default: false,
    help: 'evaluate only the dense baseline into eval/ and stop (needs only the base model: a second process can run it beside the pool or ensemble stage)',
  },
  stagesFrom: {
    type: 'string',
    default: '',
    help: 'copy the finished base, pool, team and evaluation rows of this run folder, which must match in every setting before the ensemble stage (ablations of the ensemble stage)',
  },
  evalHelper: {
    type: 'boolean',
    default: false,
    help: 'help another process evaluate this run: compute the EED rows from the longest (AutoAttack) down, skipping rows being computed, and stop (needs the trained ensemble)',
  },
} satisfies OptionTable;

export const RUN_HELP = `Usage: eed run [--preset quick|fmnist|cifar10-resnet18|svhn-vgg16] [--config FILE.json] [--stage S] [--job K] [options]

Runs Efficient Ensemble Defense end to end in one run directory (--out):
  base      adversarially pre-train the dense model (or take --base-checkpoint)
  pool      prune 4 scores × (chunks − 1) sub-models, one job each (pool/job-KK-<score>-<s>/)
  select    failure matrix on the held-out split, robust diversity, the team (select/selection.json)
  ensemble  train the team together (DVERGE + L_R + L_C by default) → ensemble/manifest.json
  eval      attack EED and the baselines; report.md, report.json and SVG figures
Every stage skips itself when its output exists: rerunning the command resumes an interrupted run
(Ctrl-C stops at a safe point). --stage S stops after stage S. --stage pool --job K runs exactly
pool job K, so several processes or machines sharing the folder can split the pool; jobs lock.
Evaluation settings may change between runs; changing anything else needs a new --out or --fresh.

Presets: ${Object.keys(PIPELINE_PRESETS).join(', ')}

Options:
${optionHelp(RUN_FLAGS)}
${optionHelp(PIPELINE_OPTIONS)}`;

export async function runCommand(argvIn: string[]): Promise<number> {
  const { config, flags, help, preset, explicit } = resolveOptions('run', PIPELINE_OPTIONS, PIPELINE_PRESETS, argvIn, RUN_FLAGS);
  if (help) {
    console.log(RUN_HELP);
    return 0;
  }
  const stage = flags.stage as Stage;
  const job = flags.job >= 0 ? flags.job : undefined;
  if (job !== undefined && stage !== 'pool') throw new Error('--job needs --stage pool');
  if (flags.baselineOnly && (stage !== 'eval' || job !== undefined)) throw new Error('--baseline-only runs alone: without --stage or --job');
  if (flags.evalHelper && (stage !== 'eval' || job !== undefined || flags.baselineOnly)) throw new Error('--eval-helper runs alone: without --stage, --job or --baseline-only');
  checkPipelineConfig(config);
  await init();
  const { signal, release } = onInterrupt('interrupting at the next safe point (Ctrl-C again to quit at once; the run resumes from its last checkpoint)');
  const t0 = performance.now();
  try {
    const ctx = await openPipeline(config, { fresh: flags.fresh, signal, explicit });
    ctx.log(`eed run${preset ? ` --preset ${preset}` : ''}: ${config.dataset}, ${config.model} (width ${config.width}), ${ctx.train.labels.length} training images, adapter ${ctx.adapter}`);
    if (flags.stagesFrom) {
      const copied = copyEarlierStages(ctx, flags.stagesFrom);
      ctx.log(`--stages-from ${flags.stagesFrom}: ${copied.length ? `copied ${copied.join(', ')}` : 'nothing to copy (this run has them already)'}`);
    }
    const alone = flags.baselineOnly || flags.evalHelper;
    const outcome = await runPipeline(ctx, { stage: alone ? undefined : stage, job, preset, baselineOnly: flags.baselineOnly, evalHelper: flags.evalHelper });
    const minutes = ((performance.now() - t0) / 60000).toFixed(1);
    if (outcome.report) {
      const eed = outcome.report.methods.find((m) => m.kind === 'eed-die');
      const dense = outcome.report.methods.find((m) => m.kind === 'dense');
      const pct = (v: number | null | undefined) => (v === null || v === undefined ? '—' : `${(v * 100).toFixed(1)}%`);
      console.log(
        `done in ${minutes} min: EED (DIE) clean ${pct(eed?.clean)}, PGD ${pct(eed?.pgd)}, AA ${pct(eed?.aa)}, speed-up ${eed?.speedUp?.toFixed(2) ?? '—'}× ` +
          `(dense AT: clean ${pct(dense?.clean)}, PGD ${pct(dense?.pgd)}); report in ${outcome.reportDir}/report.md`,
      );
    } else console.log(`done in ${minutes} min: ran ${outcome.stagesRun.join(', ')} in ${config.out}`);
    return 0;
  } catch (e) {
    if (e instanceof PipelineInterrupted) {
      console.error(`eed run: ${e.message}`);
      return 130;
    }
    throw e;
  } finally {
    release();
    shutdown();
  }
}
