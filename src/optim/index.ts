export { SGD, type SgdOptions } from './sgd.js';
export { MultiStepLR, CosineAnnealingLR, StagedLR, type LrSchedule } from './schedule.js';
