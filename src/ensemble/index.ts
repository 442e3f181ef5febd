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
