// Learning-rate schedules as pure functions of the epoch (so a resumed run recomputes the same
// rate), with the semantics of torch.optim.lr_scheduler.MultiStepLR and CosineAnnealingLR.

export interface LrSchedule {
  /** Learning rate for `epoch` (0-based). */
  at(epoch: number): number;
}

export class MultiStepLR implements LrSchedule {
  constructor(
    readonly baseLr: number,
    readonly milestones: readonly number[],
    readonly gamma = 0.1,
  ) {}

  at(epoch: number): number {
    const passed = this.milestones.filter((m) => epoch >= m).length;
    return this.baseLr * this.gamma ** passed;
  }
}

export class CosineAnnealingLR implements LrSchedule {
  constructor(
    readonly baseLr: number,
    readonly tMax: number,
    readonly etaMin = 0,
  ) {
    if (tMax <= 0) throw new Error(`CosineAnnealingLR: tMax must be > 0, got ${tMax}`);
  }

  at(epoch: number): number {
    const t = Math.min(epoch, this.tMax);
    return this.etaMin + ((this.baseLr - this.etaMin) * (1 + Math.cos((Math.PI * t) / this.tMax))) / 2;
  }
}

/** Piecewise-constant rates switching at equal fractions of the stage (EED's multi-step LRs). */
export class StagedLR implements LrSchedule {
  constructor(
    readonly rates: readonly number[],
    readonly epochs: number,
  ) {
    if (!rates.length) throw new Error('StagedLR: no rates');
  }

  at(epoch: number): number {
    const k = Math.min(this.rates.length - 1, Math.floor((epoch * this.rates.length) / this.epochs));
    return this.rates[k];
  }
}
