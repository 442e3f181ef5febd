// Settings of ensemble training (algorithms.md §7; the ablation losses of §9), with the paper's
// defaults and a check that names the offending field.

import type { RegType } from './robustnessLoss.js';

export const DIVERSITIES = ['dverge', 'adp', 'gal', 'soe', 'none'] as const;
/** The Div term of eq. 14: DVERGE (EED's choice), or an Appendix-C alternative, or none. */
export type Diversity = (typeof DIVERSITIES)[number];

export interface EnsembleTrainSettings {
  epochs: number;
  batchSize: number;
  /** Multi-step learning rates, switching at equal fractions of the stage ({0.01, 0.002} CIFAR-10). */
  lrValues: number[];
  momentum: number;
  weightDecay: number;
  /** ℓ∞ budget, step and steps of the PGD for x_adv,i and x_ens (8/255, 2/255, 20). */
  eps: number;
  stepSize: number;
  attackSteps: number;
  /** β of eq. 14 (the Div weight; 1.0 as in DVERGE). */
  beta: number;
  /** ω of eq. 19 (10). */
  omega: number;
  /** γ of eq. 19 (4). */
  gamma: number;
  /** λ1, λ2 of eq. 18 (0.7, 0.25). */
  lambda1: number;
  lambda2: number;
  /** DVERGE distillation ε_d, a_d, K (0.05, 0.005, 10). */
  distillEps: number;
  distillStep: number;
  distillSteps: number;
  /** 1: eq. 15 (max over members); 0: iGAT's per-member form summed over members. */
  regType: RegType;
  diversity: Diversity;
  augment: boolean;
  seed: number;
  /** ADP's α, β (2, 0.5; eq. 32). */
  adpAlpha: number;
  adpBeta: number;
  /** GAL's λ, κ and label smoothing (0.5, 0.5, 0.1; eq. 33). */
  galLambda: number;
  galKappa: number;
  galSmoothing: number;
  /** SoE: epochs of phase 1 (DVERGE) before the expert-assignment loss of eq. 35 [X]. */
  soeWarmupEpochs: number;
}

/** The paper's values for everything but the epoch count and the seed-dependent bits. */
export const ENSEMBLE_TRAIN_DEFAULTS: EnsembleTrainSettings = {
  epochs: 80,
  batchSize: 512,
  lrValues: [0.01, 0.002],
  momentum: 0.9,
  weightDecay: 5e-4,
  eps: 8 / 255,
  stepSize: 2 / 255,
  attackSteps: 20,
  beta: 1,
  omega: 10,
  gamma: 4,
  lambda1: 0.7,
  lambda2: 0.25,
  distillEps: 0.05,
  distillStep: 0.005,
  distillSteps: 10,
  regType: 1,
  diversity: 'dverge',
  augment: true,
  seed: 0,
  adpAlpha: 2,
  adpBeta: 0.5,
  galLambda: 0.5,
  galKappa: 0.5,
  galSmoothing: 0.1,
  soeWarmupEpochs: 40,
};

/** Defaults overridden by `s`; soeWarmupEpochs follows the epoch count (half) unless given. */
export function ensembleTrainSettings(s: Partial<EnsembleTrainSettings> = {}): EnsembleTrainSettings {
  const epochs = s.epochs ?? ENSEMBLE_TRAIN_DEFAULTS.epochs;
  return { ...ENSEMBLE_TRAIN_DEFAULTS, soeWarmupEpochs: Math.floor(epochs / 2), ...s };
}

/** Throws naming the first field that is missing or out of range. */
export function checkEnsembleTrainSettings(s: EnsembleTrainSettings, where = 'ensemble training'): void {
  const bad = (field: string, expected: string) => {
    const v = (s as unknown as Record<string, unknown>)[field];
    throw new Error(`${where}: ${field} must be ${expected}, got ${JSON.stringify(v)}`);
  };
  const positiveInt = ['epochs', 'batchSize'] as const;
  for (const k of positiveInt) if (!(Number.isInteger(s[k]) && s[k] >= 1)) bad(k, 'a positive integer');
  for (const k of ['attackSteps', 'distillSteps', 'seed', 'soeWarmupEpochs'] as const)
    if (!(Number.isInteger(s[k]) && s[k] >= 0)) bad(k, 'a non-negative integer');
  const nonNegative = [
    'momentum',
    'weightDecay',
    'eps',
    'stepSize',
    'beta',
    'omega',
    'gamma',
    'lambda1',
    'lambda2',
    'distillEps',
    'distillStep',
    'adpAlpha',
    'adpBeta',
    'galLambda',
    'galKappa',
  ] as const;
  for (const k of nonNegative) if (!(typeof s[k] === 'number' && s[k] >= 0 && Number.isFinite(s[k]))) bad(k, 'a finite number ≥ 0');
  if (!(s.galSmoothing >= 0 && s.galSmoothing <= 1)) bad('galSmoothing', 'in [0, 1]');
  if (!Array.isArray(s.lrValues) || !s.lrValues.length || !s.lrValues.every((v) => typeof v === 'number' && v > 0))
    bad('lrValues', 'a non-empty list of positive learning rates');
  if (s.regType !== 0 && s.regType !== 1) bad('regType', '0 or 1');
  if (!(DIVERSITIES as readonly string[]).includes(s.diversity)) bad('diversity', `one of ${DIVERSITIES.join(', ')}`);
  if (typeof s.augment !== 'boolean') bad('augment', 'true or false');
}
