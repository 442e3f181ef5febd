// Stage 4 (algorithms.md §8, §11, issue 7 items 5–6): the attack suite against EED and the
// baselines, DIE statistics, measured speed-ups, and the report (Table 1, Table 3, figures).
//
// Threat model: every attack is white-box against the full differentiable model; for EED that is
// the static team (average or max combiner over all members, §11), and the reported EED (DIE)
// prediction is the Dynamic Inference Ensemble's on the same adversarial images. The static
// row scores those same images with the static team, so both rows share one set of attacks.
// Adaptive check (§11 [X]): DIE may halt at its first member, so that member is also attacked
// alone and DIE judged on its adversarial images; "EED (DIE, adaptive)" counts, per attack, the
// images DIE gets right under both (the per-image worst case).
// Speed-ups are wall-clock medians on this adapter: dense model vs the pruned models running the
// zero-skipping sparse kernels (src/pruning/sparseInference.ts), and DIE vs the static team.

import { createHash } from 'node:crypto';
import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { fileDigest } from '../io/fileDigest.js';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { averageEnsemble, correctOnHost, moduleClassifier, type Classifier } from '../attacks/classifier.js';
import { accuracyOf, evaluateSuite, SUITE_ATTACKS, verdictBits, worstCaseAccuracy, type SuiteAttack, type SuiteOptions, type SuiteProgress, type SuiteResult } from '../attacks/suite.js';
import { DEEPFOOL_DEFAULTS } from '../attacks/deepfool.js';
import { classifierPredictor, measureThroughputInterleaved, speedUp, type ThroughputResult } from '../attacks/throughput.js';
import { GpuDataset } from '../data/batches.js';
import { selectSamples } from '../data/dataset.js';
import { dynamicEnsemble } from '../ensemble/dynamicEnsemble.js';
import { datasetDigest } from '../data/datasetDigest.js';
import { loadEnsemble, type LoadedEnsemble } from '../ensemble/ensembleDir.js';
import { tuneConvForward } from '../engine/autotune.js';
import { runtime } from '../engine/engine.js';
import { recordConvCalls } from '../nn/convCalls.js';
import { dynamicEnsembleMacs, layerPositions, macCount } from '../ensemble/macs.js';
import { staticTeam } from '../ensemble/staticEnsemble.js';
import { buildArchitecture, countParameters, disposeSubModel } from '../ensemble/subModel.js';
import { loadSubModel } from '../ensemble/subModelFile.js';
import type { Tensor } from '../engine/tensor.js';
import { loadStateDict } from '../io/checkpoint.js';
import type { Module } from '../nn/module.js';
import { compressForInference, sparseKernelsPay } from '../pruning/sparseInference.js';
import { disposeAutoAttackProgress, EvalProgress, resumableSuite } from '../attacks/evalProgress.js';
import { REPORT_SCHEMA, SCORE_METHODS, strongestSingle, type DieTable, type EedReport, type MethodRow, type PruningScoreName } from '../reports/report.js';
import { parseList, type PipelineConfig } from './config.js';
import { PipelineInterrupted, readStageJson, resolveInRun, writeStageJson, type PipelineContext } from './context.js';
import { ensembleDir, ensembleStageReport } from './ensembleStage.js';
import { tryLock } from './jobLock.js';
import type { PoolJobReport } from './poolStage.js';
import type { Selection } from './selectStage.js';

const EVAL_ATTACKS = SUITE_ATTACKS.filter((a) => a !== 'autoattack');

let autoAttackSettings: SuiteOptions['autoAttack'] | undefined;
/** AutoAttack's iterations, queries and targets in every row (tests: a token one); undefined restores the standard version. */
export function setEvalAutoAttack(settings: SuiteOptions['autoAttack'] | undefined): void {
  autoAttackSettings = settings;
}

function suiteOptions(c: PipelineConfig, attacks: readonly SuiteAttack[]): SuiteOptions {
  return {
    ...(autoAttackSettings ? { autoAttack: autoAttackSettings } : {}),
    attacks,
    eps: c.eps,
    count: c.evalCount,
    aaCount: c.aaCount,
    batchSize: c.batchSize,
    seed: c.seed,
    pgd: { steps: c.evalSteps, stepSize: c.evalStepSize },
    cw: { steps: c.evalSteps, stepSize: c.evalStepSize },
  };
}

function attacksOf(text: string, field: string, withAutoAttack: boolean, c: PipelineConfig): SuiteAttack[] {
  const list: SuiteAttack[] = parseList(text, EVAL_ATTACKS, field);
  return withAutoAttack && c.aaCount > 0 ? [...list, 'autoattack'] : list;
}

function accuracies(r: SuiteResult): Pick<MethodRow, 'clean' | 'pgd' | 'aa' | 'cw' | 'df'> {
  return { clean: accuracyOf(r, 'clean'), pgd: accuracyOf(r, 'pgd'), aa: accuracyOf(r, 'autoattack'), cw: accuracyOf(r, 'cw'), df: accuracyOf(r, 'deepfool') };
}

/** Throws at a Ctrl-C: between rows, and between the attacks of a row (each is kept in its progress file). */
const stopAtInterrupt = (ctx: PipelineContext) => () => {
  if (ctx.signal.aborted) throw new PipelineInterrupted('evaluation');
};

/** A model file as a cache key: its content (a retrained stage rewrites it; a copied run keeps it). */
const fileKey = (path: string) => {
  const key = `sha256:${fileDigest(path)}`;
  const st = statSync(path);
  legacyFileKeys.set(key, `${path}@${st.mtimeMs}:${st.size}`);
  return key;
};

// Rows written before 27 November named their model files by path and modification time. Such a
// row still counts while that file has the same time and size (then it is moved under its content
// key); a copied folder's rows, with other times, are computed again, as they were then.
const legacyFileKeys = new Map<string, string>();
const legacyKey = (key: unknown): unknown =>
  typeof key === 'string'
    ? (legacyFileKeys.get(key) ?? key)
    : Array.isArray(key)
      ? key.map(legacyKey)
      : key !== null && typeof key === 'object'
        ? Object.fromEntries(Object.entries(key).map(([k, v]) => [k, legacyKey(v)]))
        : key;
const rowDigest = (key: unknown) => createHash('sha256').update(JSON.stringify(key)).digest('hex').slice(0, 16);

/** Moves a row (or a row's progress files) written under the legacy form of `key` to its name under `key`. */
async function adoptLegacyRow(ctx: PipelineContext, key: unknown, digest: string): Promise<void> {
  const legacy = legacyKey(key);
  if (JSON.stringify(legacy) === JSON.stringify(key)) return;
  const old = rowDigest(legacy);
  const file = (d: string, ext: string) => ctx.run.file(join('eval', `${d}${ext}`));
  const row = readStageJson<{ key: unknown; value: unknown }>(file(old, '.json'));
  if (row && JSON.stringify(row.key) === JSON.stringify(legacy) && !existsSync(file(digest, '.json'))) {
    await writeStageJson(file(digest, '.json'), { key, value: row.value });
    rmSync(file(old, '.json'));
  }
  // Progress files keep their legacy key inside (EvalProgress accepts it as an older key).
  for (const ext of ['.partial.json', '.partial.autoattack.safetensors'])
    if (existsSync(file(old, ext)) && !existsSync(file(digest, ext))) renameSync(file(old, ext), file(digest, ext));
}

/**
 * Where one evaluation's rows came from: computed by this invocation from the start, resumed from
 * the progress an earlier one left inside the row, finished before this invocation began to look
 * at it, or finished meanwhile by another process (`--baseline-only`, `--eval-helper`) while this
 * one waited. The report's stage times say when the evaluation's own time covers only part of the
 * work: the time of earlier invocations and other processes is not recorded.
 */
export interface EvalRowOrigins {
  computed: number;
  resumed: number;
  finishedBefore: number;
  finishedElsewhere: number;
}
const rowOrigins = new WeakMap<PipelineContext, EvalRowOrigins>();

export function evalRowOrigins(ctx: PipelineContext): EvalRowOrigins {
  let o = rowOrigins.get(ctx);
  if (!o) rowOrigins.set(ctx, (o = { computed: 0, resumed: 0, finishedBefore: 0, finishedElsewhere: 0 }));
  return o;
}

/**
 * Attack results are kept per row in eval/, keyed by what determines them (the model files, the
 * DIE settings and the suite options), so an interrupted evaluation resumes at the row it was
 * on and a changed setting recomputes only what it affects. Timings are always re-measured.
 */
async function cached<T>(ctx: PipelineContext, key: unknown, compute: (progress: EvalProgress) => Promise<T>): Promise<T>;
async function cached<T>(ctx: PipelineContext, key: unknown, compute: (progress: EvalProgress) => Promise<T>, busy: 'skip'): Promise<T | undefined>;
async function cached<T>(ctx: PipelineContext, key: unknown, compute: (progress: EvalProgress) => Promise<T>, busy: 'wait' | 'skip' = 'wait'): Promise<T | undefined> {
  const digest = rowDigest(key);
  const path = ctx.run.file(join('eval', `${digest}.json`));
  await adoptLegacyRow(ctx, key, digest);
  /** The row's file, if it holds this key's result. */
  const finished = () => {
    const file = readStageJson<{ key: unknown; value: T }>(path);
    return file && JSON.stringify(file.key) === JSON.stringify(key) ? file : null;
  };
  const origins = evalRowOrigins(ctx);
  const hit = finished();
  if (hit) {
    origins.finishedBefore++;
    return hit.value;
  }
  // Ctrl-C stops at the next row to compute (each row is kept as it finishes, the resume point).
  stopAtInterrupt(ctx)();
  await mkdir(ctx.run.file('eval'), { recursive: true });
  // One process computes a row; another that reaches it (`eed run --baseline-only` beside the main
  // run) waits for it, and takes it over if its owner dies.
  const lockPath = ctx.run.file(join('eval', `${digest}.lock`));
  let lock = tryLock(lockPath);
  // A helper process (--eval-helper) leaves a row another process computes to it and goes on.
  if (!lock.acquired && busy === 'skip') {
    ctx.log(`eval: this row is being computed by ${lock.owner}; on to the next`);
    return undefined;
  }
  if (!lock.acquired) ctx.log(`eval: this row is being computed by ${lock.owner}; waiting for it`);
  while (!lock.acquired) {
    if (ctx.signal.aborted) throw new PipelineInterrupted('the wait for an evaluation row');
    await new Promise((r) => setTimeout(r, rowWaitMs));
    const done = finished();
    if (done) {
      origins.finishedElsewhere++;
      return done.value;
    }
    lock = tryLock(lockPath);
  }
  try {
    const again = finished(); // finished while we took the lock
    if (again) {
      origins.finishedElsewhere++;
      return again.value;
    }
    // Inside a row, its finished attacks and AutoAttack's state inside its attacks (an hour or more
    // each on a CPU adapter) are kept beside it until the row is done: a run stopped in the middle,
    // as a session's end stops it, loses at most one attack other than AutoAttack, or one target
    // class, batch or 250 Square queries of AutoAttack.
    const progress = await EvalProgress.open(ctx.run.file(join('eval', `${digest}.partial.json`)), key, [legacyKey(key)], 'eed run');
    if (await progress.holdsEarlierWork()) origins.resumed++;
    else origins.computed++;
    const value = await compute(progress);
    await writeStageJson(path, { key, value });
    progress.remove();
    return value;
  } finally {
    lock.release();
  }
}

/** Polling interval of a process waiting for another one's evaluation row (lowered by tests). */
let rowWaitMs = 10_000;
export function setEvalRowWaitMs(ms: number): void {
  rowWaitMs = ms;
}

/**
 * The speed measurements of one evaluation: each row registers its predictor while its attacks
 * run, and all are timed together at the end, interleaved (measureThroughputInterleaved), so that
 * the hours between the dense row and the last row, and any change of load in them, do not scale
 * the speed-ups.
 */
class SpeedRuns {
  private readonly predicts: (() => Promise<void>)[] = [];
  private results: ThroughputResult[] | null = null;

  add(predict: () => Promise<void>): number {
    this.predicts.push(predict);
    return this.predicts.length - 1;
  }

  async measure(images: number, c: PipelineConfig): Promise<void> {
    // After hours of attacks the buffer pool may sit at its cap, destroying and re-creating
    // buffers on every release; emptied, each predictor's warm-up refills what it needs.
    runtime().pool.trim();
    this.results = await measureThroughputInterleaved(this.predicts, { images, warmup: 1, repeats: c.speedRepeats });
  }

  get(k: number): ThroughputResult {
    if (!this.results) throw new Error('SpeedRuns: measure() first');
    return this.results[k];
  }
}

/** The first evalCount test images, on the device (the caller disposes them). */
function evalImages(ctx: PipelineContext): { data: GpuDataset; n: number } {
  const n = Math.min(ctx.config.evalCount, ctx.test.labels.length);
  return { data: GpuDataset.upload(selectSamples(ctx.test, Int32Array.from({ length: n }, (_, i) => i), `${ctx.test.name} (first ${n} test images)`)), n };
}

/** Logs each finished attack of the row `what`. */
const logAttacks = (ctx: PipelineContext, what: string) => (e: SuiteProgress) => {
  if (e.kind === 'attack') ctx.log(`  ${what}: ${e.outcome.label} ${(e.outcome.accuracy * 100).toFixed(2)}% (${e.outcome.seconds.toFixed(1)} s)`);
};

/** The dense AT baseline's row: the whole attack suite on the base model (cached in eval/). */
async function denseRow(ctx: PipelineContext, basePath: string, dense: Module, data: GpuDataset): Promise<SuiteResult> {
  const c = ctx.config;
  const mainAttacks = attacksOf(c.evalAttacks, 'evalAttacks', true, c);
  const options = suiteOptions(c, mainAttacks);
  ctx.log(`eval: dense AT on ${data.size} test images`);
  return cached(ctx, { row: 'dense', model: fileKey(basePath), options, testData: datasetDigest(ctx.test) }, (saved) =>
    resumableSuite(saved, moduleClassifier(dense), data, options, { onProgress: logAttacks(ctx, 'dense') }, ctx.log, stopAtInterrupt(ctx)),
  );
}

/**
 * `eed run --baseline-only`: the dense baseline's row alone (it needs only the base model), so that
 * a second process can compute it while the main run is still in the pool, team or ensemble stage;
 * the evaluation then takes it from eval/ (or waits for it, if it is still being computed).
 */
export async function evalBaseline(ctx: PipelineContext, basePath: string): Promise<void> {
  const { data } = evalImages(ctx);
  let dense: Module | null = null;
  try {
    dense = buildArchitecture(ctx.architecture, ctx.config.seed);
    const loaded = await loadStateDict(basePath, dense);
    for (const m of loaded.masks.values()) m.dispose();
    dense.eval();
    await denseRow(ctx, basePath, dense, data);
  } finally {
    dense?.dispose();
    data.dispose();
  }
}

/** One EED row under one attack: DIE's result, the static team's verdicts on the same images, and members used. */
interface EedRowOutcome {
  dieResult: SuiteResult;
  staticAccuracy: number;
  staticCorrect: string;
  histogram: number[];
}

/** A cached row: its key (without the test data, which cachedRow adds) and how to compute it. */
interface RowSpec<T> {
  key: Record<string, unknown>;
  compute: (saved: EvalProgress) => Promise<T>;
}

/**
 * The EED rows of the evaluation (the team attacked with DIE judging, and the first member alone
 * attacked with DIE judging), built in one place for the evaluation and for a helper process
 * (--eval-helper), which must compute them under exactly the keys the evaluation looks for.
 */
function eedRows(ctx: PipelineContext, team: LoadedEnsemble, data: GpuDataset, stopHere: () => void) {
  const c = ctx.config;
  const memberClassifiers: Classifier[] = team.members.map((m) => moduleClassifier(m));
  const die = team.manifest.die;
  const teamClassifier = staticTeam(memberClassifiers, die.combiner);
  const teamFiles = team.manifest.members.map((m) => fileKey(join(ensembleDir(ctx), m.file)));
  /** DIE's verdict per image, and how many members each image ran. */
  const dieOn = async (x: Tensor, y: Tensor): Promise<{ right: boolean[]; membersUsed: Int32Array }> => {
    const labels = await y.data();
    const r = await dynamicEnsemble(memberClassifiers, x, die);
    r.probabilities.dispose();
    return { right: Array.from(r.predictions, (p, i) => p === labels[i]), membersUsed: r.membersUsed };
  };
  const teamRow = (attack: SuiteAttack): RowSpec<EedRowOutcome> => ({
    // verdicts: rows cached before the per-image verdicts existed are recomputed (the adaptive row needs them).
    key: { row: 'eed', verdicts: 1, ensemble: team.manifest, files: teamFiles, options: suiteOptions(c, [attack]) },
    compute: async (saved) => {
      const staticFlags: boolean[] = [];
      const histogram = new Array<number>(team.members.length).fill(0);
      const judge = async (x: Tensor, y: Tensor): Promise<boolean[]> => {
        const { right, membersUsed } = await dieOn(x, y);
        staticFlags.push(...(await correctOnHost(teamClassifier, x, y)));
        for (const k of membersUsed) histogram[k - 1]++;
        return right;
      };
      // The judge's tallies are complete on a resumed AutoAttack too (it judges the final images
      // only); an attack taken whole from the progress file (stopped just before the row was
      // kept) ran no judge here, so it runs again.
      const hooks = { onProgress: logAttacks(ctx, 'EED (DIE)'), judge };
      let dieResult = await resumableSuite(saved, teamClassifier, data, suiteOptions(c, [attack]), hooks, ctx.log, stopHere);
      if (dieResult.rows.length && staticFlags.length !== dieResult.rows[0].count) {
        staticFlags.length = 0;
        histogram.fill(0);
        // AutoAttack's state after its last attack is still there: only the judge runs again.
        const resume = attack === 'autoattack' ? await saved.autoAttackState() : undefined;
        try {
          dieResult = await evaluateSuite(teamClassifier, data, suiteOptions(c, [attack]), { ...hooks, autoAttackResume: resume });
        } finally {
          if (resume) disposeAutoAttackProgress(resume);
        }
      }
      return { dieResult, staticAccuracy: staticFlags.filter(Boolean).length / Math.max(1, staticFlags.length), staticCorrect: verdictBits(staticFlags), histogram };
    },
  });
  const dieJudge = async (x: Tensor, y: Tensor): Promise<boolean[]> => (await dieOn(x, y)).right;
  const firstMemberRow = (attack: SuiteAttack): RowSpec<SuiteResult> => ({
    key: { row: 'eed-first-member', verdicts: 1, ensemble: team.manifest, files: teamFiles, options: suiteOptions(c, [attack]) },
    compute: (saved) =>
      resumableSuite(saved, memberClassifiers[0], data, suiteOptions(c, [attack]), { onProgress: logAttacks(ctx, 'EED (DIE) vs first member'), judge: dieJudge }, ctx.log, stopHere),
  });
  return { memberClassifiers, teamClassifier, die, dieOn, teamRow, firstMemberRow };
}

/**
 * `eed run --eval-helper`: a second process for a run whose evaluation another process does. It
 * computes the EED rows (the team's without AutoAttack first, then the team's AutoAttack, then the
 * first member's from the end of the evaluation's order), skipping any row another process is
 * computing, and stops there: the main process computes the rows the helper does not hold, takes
 * the helper's from eval/ (waiting for the one it is on last), and alone times the models and
 * writes the report.
 */
export async function evalHelper(ctx: PipelineContext): Promise<void> {
  const c = ctx.config;
  const testData = datasetDigest(ctx.test);
  const team = await loadEnsemble(ensembleDir(ctx));
  const { data, n } = evalImages(ctx);
  const speed = data.gather(Int32Array.from({ length: Math.min(c.batchSize, n) }, (_, i) => i));
  try {
    // The members as the evaluation attacks them (on the sparse kernels where those pay).
    if (sparseKernelsPay()) for (const m of team.members) await compressForInference(m, { sample: speed.x });
    const eed = eedRows(ctx, team, data, stopAtInterrupt(ctx));
    const mainAttacks = attacksOf(c.evalAttacks, 'evalAttacks', true, c);
    const teamRow = (a: SuiteAttack): [string, RowSpec<unknown>] => [`EED team under ${a}`, eed.teamRow(a)];
    const firstMemberRow = (a: SuiteAttack): [string, RowSpec<unknown>] => [`EED first member alone under ${a}`, eed.firstMemberRow(a)];
    // The team's rows without AutoAttack first: they are the table's headline and, on a CPU
    // adapter, take an hour where AutoAttack takes hours (the main process reaches them only after
    // every sub-model's row). Then the team's AutoAttack, the longest row, so that it starts while
    // the main process still has the others to do (it leaves a held row for last), then the
    // first member's rows from the end of the evaluation's order (the main process starts them
    // from the front).
    const rows: [string, RowSpec<unknown>][] = [
      ...mainAttacks.filter((a) => a !== 'autoattack').map(teamRow),
      ...mainAttacks.filter((a) => a === 'autoattack').map(teamRow),
      ...mainAttacks.filter((a) => a !== 'clean').reverse().map(firstMemberRow),
    ];
    for (const [what, row] of rows) {
      ctx.log(`eval helper: ${what}`);
      await cached(ctx, { ...row.key, testData }, row.compute, 'skip');
    }
  } finally {
    speed.x.dispose();
    speed.y.dispose();
    data.dispose();
    team.dispose();
  }
}

export async function evalStage(
  ctx: PipelineContext,
  basePath: string,
  pool: PoolJobReport[],
  selection: Selection,
  stageSeconds: { stage: string; seconds: number }[],
): Promise<EedReport> {
  const c = ctx.config;
  const testData = datasetDigest(ctx.test);
  const cachedRow = <T>(key: Record<string, unknown>, compute: (progress: EvalProgress) => Promise<T>): Promise<T> => cached(ctx, { ...key, testData }, compute);
  const stopHere = stopAtInterrupt(ctx);
  // Loaded before anything is uploaded: a missing or damaged ensemble then leaks nothing.
  const team = await loadEnsemble(ensembleDir(ctx));
  const { data, n } = evalImages(ctx);
  const speedBatch = Math.min(c.batchSize, n);
  const speed = data.gather(Int32Array.from({ length: speedBatch }, (_, i) => i));
  const mainAttacks = attacksOf(c.evalAttacks, 'evalAttacks', true, c);
  const singleAttacks = attacksOf(c.singleAttacks, 'singleAttacks', false, c);
  const methods: MethodRow[] = [];
  const speeds = new SpeedRuns();
  // Rows whose speed is filled in once all are timed: [row, its predictor, the baseline's].
  const timedRows: [MethodRow, number][] = [];
  const poolModels: Module[] = [];
  const poolMacs: number[] = [];
  let dense: Module | null = null;
  try {
    // Dense AT base.
    dense = buildArchitecture(ctx.architecture, c.seed);
    const loaded = await loadStateDict(basePath, dense);
    for (const m of loaded.masks.values()) m.dispose();
    dense.eval();
    // The speed batch was never tuned (`eed tune` knows batch 32 and 128): race the forward conv
    // strategies at it first, so the dense baseline, like the pruned models' dense layers (whose
    // sparse kernels race them in compressForInference), runs the faster one, not the default.
    // Pruned models are compressed for the timing (the sparse kernel where it measured faster);
    // where sparse attacks pay (CPU adapters) before their attacks, so those run it too, and
    // elsewhere just before the timing, so the attacks keep the dense path.
    const attacksSparse = sparseKernelsPay();
    const compressLater: Module[] = [];
    const compressForTiming = async (m: Module): Promise<void> => {
      if (attacksSparse) await compressForInference(m, { sample: speed.x });
      else compressLater.push(m);
    };
    const denseCount = await countParameters(dense);
    // §11.5's theoretical FLOP ratio beside the measured speed-ups: MACs per image of each row.
    const positions = layerPositions(ctx.architecture);
    const denseMacs = (await macCount(dense, positions)).dense;
    const flopRatio = (macs: number): number | null => (macs > 0 ? denseMacs / macs : null);
    const denseSuite = await denseRow(ctx, basePath, dense, data);
    // Raced after the dense row, which another process (--baseline-only) may still be computing
    // when this one gets here: the race is timed, and a loaded machine would skew its pick.
    const raced = await tuneConvForward(
      [...recordConvCalls(dense, speed.x).values()].map((r) => ({ input: r.input, weight: r.conv.weight.shape, stride: r.conv.stride, padding: r.conv.padding })),
    );
    if (raced) ctx.log(`eval: raced the conv strategies of ${raced} layer shape(s) at batch ${speedBatch}`);
    const denseTime = speeds.add(classifierPredictor(moduleClassifier(dense), speed.x));
    const timedRow = (row: MethodRow, k: number) => {
      methods.push(row);
      timedRows.push([row, k]);
    };
    timedRow(
      {
        method: 'AT (dense)', kind: 'dense', score: null, ...accuracies(denseSuite),
        parameters: { nonZero: denseCount.prunableNonZero, total: denseCount.parameters },
        speedUp: 1, imagesPerSecond: null, flopRatio: 1,
      },
      denseTime,
    );

    // Each sub-model of the pool, on the sparse kernels for the timing.
    for (const p of pool) {
      const { module } = await loadSubModel(resolveInRun(ctx, p.checkpoint), ctx.architecture);
      poolModels.push(module.eval());
      await compressForTiming(module);
      const count = await countParameters(module);
      const macs = (await macCount(module, positions)).nonZero;
      poolMacs.push(macs);
      const method = SCORE_METHODS[p.score as PruningScoreName];
      const label = `${method}${method === p.score.toUpperCase() ? '' : ` (${p.score.toUpperCase()})`} #${p.subset}`;
      ctx.log(`eval: ${label}`);
      const suite = await cachedRow({ row: label, model: fileKey(resolveInRun(ctx, p.checkpoint)), options: suiteOptions(c, singleAttacks) }, (saved) =>
        resumableSuite(saved, moduleClassifier(module), data, suiteOptions(c, singleAttacks), { onProgress: logAttacks(ctx, label) }, ctx.log, stopHere),
      );
      timedRow(
        {
          method: label, kind: 'pruned', score: p.score as PruningScoreName, ...accuracies(suite),
          parameters: { nonZero: count.prunableNonZero, total: count.parameters },
          speedUp: null, imagesPerSecond: null, flopRatio: flopRatio(macs),
        },
        speeds.add(classifierPredictor(moduleClassifier(module), speed.x)),
      );
    }

    // AutoAttack on the strongest single sub-model (highest PGD accuracy) as well: the baseline
    // issue 7's acceptance compares EED with (the other sub-models' AutoAttack would cost as much
    // again each, and their ranking is PGD's).
    const best = strongestSingle(methods);
    if (mainAttacks.includes('autoattack') && !singleAttacks.includes('autoattack') && best) {
      const k = methods.filter((r) => r.kind === 'pruned').indexOf(best);
      const aaOptions = suiteOptions(c, ['autoattack']);
      ctx.log(`eval: AutoAttack on the strongest single sub-model by PGD, ${best.method}`);
      const aaSuite = await cachedRow({ row: best.method, model: fileKey(resolveInRun(ctx, pool[k].checkpoint)), options: aaOptions }, (saved) =>
        resumableSuite(saved, moduleClassifier(poolModels[k]), data, aaOptions, { onProgress: logAttacks(ctx, best.method) }, ctx.log, stopHere),
      );
      best.aa = accuracyOf(aaSuite, 'autoattack');
    }

    // The average of the whole pool.
    const poolClassifier = averageEnsemble(poolModels.map((m) => moduleClassifier(m)));
    const poolLabel = `Average of all ${pool.length}`;
    ctx.log(`eval: ${poolLabel}`);
    const poolSuite = await cachedRow({ row: poolLabel, models: pool.map((p) => fileKey(resolveInRun(ctx, p.checkpoint))), options: suiteOptions(c, singleAttacks) }, (saved) =>
      resumableSuite(saved, poolClassifier, data, suiteOptions(c, singleAttacks), { onProgress: logAttacks(ctx, poolLabel) }, ctx.log, stopHere),
    );
    timedRow(
      {
        method: poolLabel, kind: 'pool-average', score: null, ...accuracies(poolSuite),
        parameters: { nonZero: pool.reduce((s, p) => s + p.prunableNonZero, 0), total: denseCount.parameters * pool.length },
        speedUp: null, imagesPerSecond: null, flopRatio: flopRatio(poolMacs.reduce((a, b) => a + b, 0)),
      },
      speeds.add(classifierPredictor(poolClassifier, speed.x)),
    );

    // The selected team as the pool left it, before ensemble training (§7): the row that shows what
    // the joint training added or cost. Ours ([X]); the paper's tables have no such row. Left out
    // where EED's members are those very weights (no training, or its epoch 0 kept).
    const trained = ensembleStageReport(ctx);
    const trainedEpochs = trained?.history ?? [];
    const untrainedIsEed = trainedEpochs.length === 0 || trained?.selectedEpoch === 0;
    const untrainedLabel = 'Team before ensemble training';
    if (!untrainedIsEed) {
      const untrainedTeam = staticTeam(selection.team.map((k) => moduleClassifier(poolModels[k])), team.manifest.die.combiner);
      ctx.log(`eval: ${untrainedLabel} (${selection.teamNames.join(', ')})`);
      const untrainedSuite = await cachedRow(
        { row: untrainedLabel, models: selection.team.map((k) => fileKey(resolveInRun(ctx, pool[k].checkpoint))), combiner: team.manifest.die.combiner, options: suiteOptions(c, singleAttacks) },
        (saved) => resumableSuite(saved, untrainedTeam, data, suiteOptions(c, singleAttacks), { onProgress: logAttacks(ctx, untrainedLabel) }, ctx.log, stopHere),
      );
      timedRow(
        {
          method: untrainedLabel, kind: 'team-untrained', score: null, ...accuracies(untrainedSuite),
          parameters: { nonZero: selection.team.reduce((s, k) => s + pool[k].prunableNonZero, 0), total: denseCount.parameters * selection.team.length },
          speedUp: null, imagesPerSecond: null, flopRatio: flopRatio(selection.team.reduce((s, k) => s + poolMacs[k], 0)),
        },
        speeds.add(classifierPredictor(untrainedTeam, speed.x)),
      );
    }

    // EED: attack the static team, score with the static team and with DIE.
    for (const m of team.members) await compressForTiming(m);
    const eed = eedRows(ctx, team, data, stopHere);
    const { memberClassifiers, teamClassifier, die } = eed;
    const membersUsedHistogram = new Array<number>(team.members.length).fill(0);
    const eedCount = team.manifest.members.reduce((s, m) => s + m.prunableNonZero, 0);
    // The team's rows and the adaptive check's (the first member alone attacked, DIE judging). A row
    // another process (--eval-helper) is computing is left for last, so that this one does the
    // others meanwhile instead of waiting at the first it reaches.
    const teamNames = team.manifest.members.map((m) => m.name).join(', ');
    const eedSpecs: [string, RowSpec<unknown>][] = [
      ...mainAttacks.map((attack): [string, RowSpec<unknown>] => [`eval: EED team (${teamNames}) under ${attack}`, eed.teamRow(attack)]),
      ...mainAttacks
        .filter((a) => a !== 'clean')
        .map((attack): [string, RowSpec<unknown>] => [`eval: EED first member (${team.manifest.members[0].name}) alone under ${attack}, DIE judging (adaptive check)`, eed.firstMemberRow(attack)]),
    ];
    const eedValues: unknown[] = [];
    for (const [i, [what, row]] of eedSpecs.entries()) {
      ctx.log(what);
      eedValues[i] = await cached(ctx, { ...row.key, testData }, row.compute, 'skip');
    }
    for (const [i, [what, row]] of eedSpecs.entries())
      if (eedValues[i] === undefined) {
        ctx.log(what);
        eedValues[i] = await cachedRow(row.key, row.compute);
      }
    const teamOutcomes = eedValues.slice(0, mainAttacks.length) as EedRowOutcome[];
    const firstMemberSuite = eedValues.slice(mainAttacks.length) as SuiteResult[];
    const staticSuite: SuiteResult[] = [];
    const dieSuite: SuiteResult[] = [];
    for (const [a, attack] of mainAttacks.entries()) {
      const outcome = teamOutcomes[a];
      dieSuite.push(outcome.dieResult);
      // The same adversarial images, scored by the static team.
      staticSuite.push({
        ...outcome.dieResult,
        rows: outcome.dieResult.rows.map((row) => ({ ...row, accuracy: outcome.staticAccuracy, correct: outcome.staticCorrect })),
        autoAttack: null,
      });
      if (attack === 'clean') outcome.histogram.forEach((k, i) => (membersUsedHistogram[i] += k));
    }
    // Without a clean row, DIE still runs on the clean images once, for Table 3's members used.
    if (!mainAttacks.includes('clean'))
      for (let b0 = 0; b0 < n; b0 += c.batchSize) {
        const { x, y } = data.gather(Int32Array.from({ length: Math.min(c.batchSize, n - b0) }, (_, i) => b0 + i));
        try {
          for (const k of (await eed.dieOn(x, y)).membersUsed) membersUsedHistogram[k - 1]++;
        } finally {
          x.dispose();
          y.dispose();
        }
      }
    const merged = (parts: SuiteResult[]): SuiteResult => ({ rows: parts.flatMap((p) => p.rows), autoAttack: null, options: parts[0].options });

    const staticTimer = speeds.add(classifierPredictor(teamClassifier, speed.x));
    let timedMembers = 0;
    const dieTimer = speeds.add(async () => {
      const r = await dynamicEnsemble(memberClassifiers, speed.x, die);
      r.probabilities.dispose();
      timedMembers = r.membersUsed.reduce((a, b) => a + b, 0) / r.membersUsed.length;
    });
    const eedParameters = { nonZero: eedCount, total: denseCount.parameters * team.members.length };
    // Members in DIE order: an image that ran k members cost the first k members' MACs.
    const memberMacs: number[] = [];
    for (const m of team.members) memberMacs.push((await macCount(m, positions)).nonZero);
    const staticMacs = memberMacs.reduce((a, b) => a + b, 0);
    const dieMacs = dynamicEnsembleMacs(memberMacs, membersUsedHistogram);
    timedRow(
      {
        method: 'EED (static team)', kind: 'eed-static', score: null, ...accuracies(merged(staticSuite)),
        parameters: eedParameters, speedUp: null, imagesPerSecond: null, flopRatio: flopRatio(staticMacs),
      },
      staticTimer,
    );
    timedRow(
      {
        method: 'EED (DIE)', kind: 'eed-die', score: null, ...accuracies(merged(dieSuite)),
        parameters: eedParameters, speedUp: null, imagesPerSecond: null, flopRatio: flopRatio(dieMacs),
      },
      dieTimer,
    );
    const adaptive = (attack: SuiteAttack) => worstCaseAccuracy(merged(dieSuite), firstMemberSuite.length ? merged(firstMemberSuite) : null, attack);
    timedRow(
      {
        method: 'EED (DIE, adaptive)', kind: 'eed-die-adaptive', score: null,
        clean: accuracyOf(merged(dieSuite), 'clean'),
        pgd: adaptive('pgd'),
        aa: adaptive('autoattack'),
        cw: adaptive('cw'),
        df: adaptive('deepfool'),
        parameters: eedParameters, speedUp: null, imagesPerSecond: null, flopRatio: flopRatio(dieMacs),
      },
      dieTimer,
    );
    ctx.log(`eval: timing ${timedRows.length} predictors on ${speedBatch} images, interleaved (${c.speedRepeats} rounds)`);
    // Emptied first, as speeds.measure does: a pool at its cap after the attacks would slow both
    // sides of each layer's race.
    if (compressLater.length) runtime().pool.trim();
    for (const m of compressLater) await compressForInference(m, { sample: speed.x });
    await speeds.measure(speedBatch, c);
    for (const [row, k] of timedRows) {
      row.speedUp = speedUp(speeds.get(denseTime), speeds.get(k));
      row.imagesPerSecond = speeds.get(k).imagesPerSecond;
    }
    const staticTime = speeds.get(staticTimer);
    const dieTime = speeds.get(dieTimer);
    const cleanJudged = membersUsedHistogram.reduce((a, b) => a + b, 0);
    const meanMembers = cleanJudged ? membersUsedHistogram.reduce((s, k, i) => s + k * (i + 1), 0) / cleanJudged : team.members.length;
    const staticRow = methods.find((m) => m.kind === 'eed-static')!;
    const dieRow = methods.find((m) => m.kind === 'eed-die')!;
    const dieTable: DieTable = {
      teamSize: team.members.length,
      withoutDie: { method: 'EED w/o DIE (static)', clean: staticRow.clean, pgd: staticRow.pgd, meanMembersUsed: team.members.length, msPerImage: staticTime.msPerImage, speedUp: 1, macsPerImage: staticMacs },
      withDie: { method: 'EED with DIE', clean: dieRow.clean, pgd: dieRow.pgd, meanMembersUsed: meanMembers, msPerImage: dieTime.msPerImage, speedUp: speedUp(staticTime, dieTime), macsPerImage: dieMacs, timedMeanMembersUsed: timedMembers },
      membersUsedHistogram,
    };

    const sortedTeam = [...selection.team].sort((a, b) => a - b).join(',');
    return {
      schema: REPORT_SCHEMA,
      run: {
        command: `eed run ${process.argv.slice(3).join(' ')}`.trim(),
        adapter: ctx.adapter,
        date: new Date().toISOString(),
        dataset: c.dataset,
        model: `${c.model}${c.width !== 1 ? ` (width ${c.width})` : ''}`,
        preset: null,
        config: { ...c },
        stages: stageSeconds,
      },
      threatModel:
        `White-box ℓ∞ attacks with ε = ${c.eps} on the first ${n} test images (AutoAttack: ${c.aaCount > 0 ? `first ${Math.min(c.aaCount, n)}, on the dense model, EED and the single sub-model with the highest PGD accuracy` : 'not run'}); ` +
        `PGD-${c.evalSteps} (step ${c.evalStepSize}, random start) and C&W-ℓ∞ (PGD on the margin loss); DeepFool, where run, is ℓ2 (budget ε₂ = ${DEEPFOOL_DEFAULTS.eps}, overshoot ${DEEPFOOL_DEFAULTS.overshoot}, ${DEEPFOOL_DEFAULTS.steps} iterations). ` +
        'Each single model is attacked alone. EED is attacked through its full differentiable static team ' +
        `(${die.combiner} combiner over all ${team.members.length} members); the EED (DIE) row reports the Dynamic Inference Ensemble's ` +
        'prediction on those adversarial images, the static row the team’s; EED (DIE, adaptive) also attacks the first member alone ' +
        '(where DIE may halt) and counts, per attack, the images DIE classifies correctly under both attacks. ' +
        'The team before ensemble training, where shown, is attacked through its own static team (the same combiner). ' +
        'Speed-ups are measured wall-clock medians on this adapter, ' +
        `batch ${speedBatch}, pruned models on the sparse kernels.`,
      methods,
      die: dieTable,
      teamSelection: {
        pool: selection.pool.map((p, j) => ({
          label: `${SCORE_METHODS[p.score as PruningScoreName]} #${p.subset}`,
          score: p.score as PruningScoreName,
          parameters: { nonZero: p.prunableNonZero, total: denseCount.parameters },
          robustAccuracy: p.validationPgd,
          eligible: selection.eligible?.[j] ?? true,
        })),
        threshold: selection.threshold,
        accuracyGap: selection.accuracyGap,
        parameterBudget: selection.budget,
        chosen: selection.team,
        fallback: selection.reason === 'fallback',
        teams: selection.considered.map(([members, rd, parameters, fits, eligible]) => ({
          members, robustDiversity: Number.isFinite(rd) ? rd : null, parameters, fitsBudget: fits, eligible: eligible ?? true, chosen: members.join(',') === sortedTeam,
        })),
      },
      ...(trained
        ? {
            ensembleTraining: {
              epochs: trainedEpochs.length,
              selectedEpoch: trained.selectedEpoch ?? trainedEpochs.length,
              heldOutPgd: [trained.initialValidationPgd ?? null, ...trainedEpochs.map((h) => h.validationPgd ?? null)],
            },
          }
        : {}),
      sweep: null,
    };
  } finally {
    speed.x.dispose();
    speed.y.dispose();
    data.dispose();
    dense?.dispose();
    poolModels.forEach(disposeSubModel);
    team.dispose();
  }
}
