// The attack suite (algorithms.md §2, §11): every attack takes a Classifier, images in [0, 1]
// [N, C, H, W] and i32 labels, and returns adversarial images of the same shape.

export { moduleClassifier, averageEnsemble, maxEnsemble, inEvalMode, predict, correctlyClassified, correctOnHost } from './classifier.js';
export type { Classifier } from './classifier.js';
export { linfStep, linfProject } from './project.js';
export { crossEntropyLoss, marginLoss, cwLoss, dlrLoss, dlrTargetedLoss, topClasses, logitAt, largestOtherLogit } from './losses.js';
export { fgsm, type FgsmOptions } from './fgsm.js';
export { pgd, cwLinf, PGD_DEFAULTS, type PgdOptions, type PgdLoss } from './pgd.js';
export { deepfool, DEEPFOOL_DEFAULTS, type DeepFoolOptions, type DeepFoolResult } from './deepfool.js';
export { apgd, apgdTargeted, apgdRun, APGD_DEFAULTS, type ApgdOptions, type ApgdUntargetedOptions, type ApgdTargetedOptions } from './apgd.js';
export { apgdCheckpoints, type ApgdCheckpoint } from './apgdSchedule.js';
export { fabTargeted, FAB_DEFAULTS, type FabOptions } from './fab.js';
export { projectLinf } from './fabProjection.js';
export { squareAttack, squareFraction, squareSide, SQUARE_DEFAULTS, type SquareOptions } from './square.js';
export { autoAttack, standardAttacks, type AutoAttackComponent, type AutoAttackOptions, type AutoAttackReport, type StandardAttackOptions } from './autoAttack.js';
export { untilFooled, type AttackStage, type UntilFooledHooks, type UntilFooledResult } from './robustRestarts.js';
export { DEFAULT_ATTACK_BATCH } from './batching.js';
export {
  evaluateSuite,
  resolveSuiteOptions,
  attackLabel,
  accuracyOf,
  SUITE_ATTACKS,
  type SuiteAttack,
  type SuiteOptions,
  type ResolvedSuiteOptions,
  type SuiteResult,
  type SuiteHooks,
  type SuiteProgress,
  type AttackOutcome,
  type BatchAttackOutcome,
  type AutoAttackOutcome,
  type LabelledImages,
} from './suite.js';
export { measureThroughput, classifierPredictor, speedUp, median, type ThroughputOptions, type ThroughputResult } from './throughput.js';
