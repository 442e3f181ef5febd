// Per-model defence failures on the held-out split (algorithms.md §6): E[j][n] = 1 when pool member
// j misclassifies validation example n under the attack that §6 names (white-box PGD-20 against j
// alone by default, or the common pool attack with rdAttack='pool'). Producing E needs the GPU;
// everything downstream of it (failure statistics, RD, team selection) is host arithmetic.
//
// Stored as bit-packed rows, one per model, as §6 suggests: the pairwise co-failure counts that RD
// needs are then popcounts of ANDed words, and all 4083 teams of a 12-model pool take milliseconds.

/** One row per model: a failure flag (true or non-zero) per validation example. */
export type FailureRows = readonly ArrayLike<boolean | number>[];

function popcount32(v: number): number {
  let x = v - ((v >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

export class FailureMatrix {
  readonly numModels: number;
  readonly numExamples: number;
  private readonly bits: Uint32Array[];
  /** failureCounts[j] = number of examples model j fails on. */
  readonly failureCounts: Int32Array;
  /** coFailures[j·M + k] = number of examples both j and k fail on (diagonal = failureCounts). */
  private readonly coFailures: Int32Array;

  private constructor(bits: Uint32Array[], numExamples: number) {
    this.numModels = bits.length;
    this.numExamples = numExamples;
    this.bits = bits;
    const m = this.numModels;
    this.coFailures = new Int32Array(m * m);
    for (let j = 0; j < m; j++)
      for (let k = j; k < m; k++) {
        let count = 0;
        const a = bits[j];
        const b = bits[k];
        for (let w = 0; w < a.length; w++) count += popcount32(a[w] & b[w]);
        this.coFailures[j * m + k] = count;
        this.coFailures[k * m + j] = count;
      }
    this.failureCounts = Int32Array.from({ length: m }, (_, j) => this.coFailures[j * m + j]);
  }

  /** Packs model-by-example failure flags; every row must cover the same examples. */
  static fromRows(rows: FailureRows): FailureMatrix {
    if (!rows.length) throw new Error('FailureMatrix: no models');
    const numExamples = rows[0].length;
    const words = Math.ceil(numExamples / 32);
    const bits = rows.map((row, j) => {
      if (row.length !== numExamples)
        throw new Error(`FailureMatrix: model ${j} has ${row.length} examples, model 0 has ${numExamples}`);
      const packed = new Uint32Array(words);
      for (let n = 0; n < numExamples; n++) if (row[n]) packed[n >>> 5] |= 1 << (n & 31);
      return packed;
    });
    return new FailureMatrix(bits, numExamples);
  }

  failed(model: number, example: number): boolean {
    return ((this.bits[model][example >>> 5] >>> (example & 31)) & 1) === 1;
  }

  /** Number of examples on which both models fail. */
  coFailureCount(a: number, b: number): number {
    return this.coFailures[a * this.numModels + b];
  }

  /** Fraction of examples the model withstands: its individual validation robust accuracy. */
  robustAccuracy(model: number): number {
    return this.numExamples ? 1 - this.failureCounts[model] / this.numExamples : 1;
  }
}
