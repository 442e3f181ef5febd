// EED ensemble stages: robust-diversity team selection (§6) and dynamic inference (§8).
export { FailureMatrix } from './failureMatrix.js';
export type { FailureRows } from './failureMatrix.js';
export { robustDiversity, failureStatistics, failureSums, compareDiversity } from './robustDiversity.js';
export type { FailureStatistics, FailureSums } from './robustDiversity.js';
export { selectTeam, orderByRobustAccuracy, RD_THRESHOLD } from './teamSelection.js';
export type { TeamSelection, TeamSelectionOptions, TeamRecord } from './teamSelection.js';
export { dynamicEnsemble } from './dynamicEnsemble.js';
export type { DynamicEnsembleOptions, DynamicEnsembleResult } from './dynamicEnsemble.js';
export { staticEnsemble } from './staticEnsemble.js';
export { HaltingState, DIE_DEFAULTS, resolveHaltingOptions } from './haltingRule.js';
export type { DieRule, DieCombiner, HaltingOptions } from './haltingRule.js';
export { memberFailures, type FailureAttack, type MemberFailureOptions } from './memberFailures.js';
export {
  applyMasks,
  buildArchitecture,
  checkArchitecture,
  countParameters,
  disposeSubModel,
  masksOf,
  releaseMasks,
  subModelFromContent,
  type ArchitectureSpec,
  type ParameterCount,
} from './subModel.js';
export { loadSubModel, saveSubModel } from './subModelFile.js';
export { MANIFEST_FILE, parseManifest, serializeManifest, type EnsembleManifest, type ManifestMember } from './manifest.js';
export { loadEnsemble, readManifest, writeEnsemble, type LoadedEnsemble } from './ensembleDir.js';
// Ensemble training (§7) and the Appendix-C diversity losses (§9).
export { trainEnsemble, distillationLayer, diversityAt, COMPLEXITY_RATIO_RANGE } from './training/trainEnsemble.js';
export type { EnsembleEpochMetrics, EnsembleTrainHooks, EnsembleTrainResult } from './training/trainEnsemble.js';
export { ensembleLoss, type EnsembleLossTerms, type EnsembleLossOptions } from './training/ensembleLoss.js';
export { DIVERSITIES, ENSEMBLE_TRAIN_DEFAULTS, ensembleTrainSettings, checkEnsembleTrainSettings } from './training/settings.js';
export type { Diversity, EnsembleTrainSettings } from './training/settings.js';
export { distill, featuresAt, featureTarget, featureDistance, DISTILL_DEFAULTS, type DistillOptions } from './training/distill.js';
export { robustnessLoss, ensembleMisclassified, ROBUST_PROB_CLIP, type RegType } from './training/robustnessLoss.js';
export { maskedWeightL1, memberWeightL1, activationL1, activationDensity } from './training/complexityLoss.js';
export { diversityTerm, needsDistillation, type DiversityInputs } from './training/diversity.js';
export { adpRegularizer, entropy, logDetCholesky, ADP_DEFAULTS, type AdpOptions } from './training/adpLoss.js';
export { galLoss, jensenShannon, GAL_DEFAULTS, type GalOptions } from './training/galLoss.js';
export { soeLoss } from './training/soeLoss.js';
export { layerPositions, macCount, dynamicEnsembleMacs, type MacCount } from './macs.js';
