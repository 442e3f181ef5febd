// The Dynamic Inference Ensemble, DIE (algorithms.md §8), batched: every sample starts with F_1;
// after each member the halting rule (haltingRule.ts) stops the samples it is sure about, and only
// the rows still active are gathered (indexSelect) for the next member. The members' forward
// passes are the expensive part, so the saving is the rows that never reach later members.
//
// The halting decisions are taken on the host: which rows the next member sees depends on them,
// so a read-back per member is needed whatever is computed where, and reading the [n, C]
// log-probabilities costs the same synchronisation as reading q_t. Results are scattered back
// into per-sample host state, and the final predictions are uploaded once. Inference only: no
// gradient is recorded (attacks use the differentiable static team, §11).

import type { Classifier } from '../attacks/classifier.js';
import { selectRows } from '../attacks/rowSubsets.js';
import { noGrad } from '../engine/autograd.js';
import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { tensor } from '../ops/creation.js';
import { logSoftmax } from '../ops/loss.js';
import { HaltingState, resolveHaltingOptions, type HaltingOptions } from './haltingRule.js';

export type DynamicEnsembleOptions = HaltingOptions;

export interface DynamicEnsembleResult {
  /** ŷ_ens per sample (eq. 22), f32 [N, C]. */
  readonly probabilities: Tensor;
  /** argmax of ŷ_ens per sample. */
  readonly predictions: Int32Array;
  /** Members actually run per sample (the cost, §8). */
  readonly membersUsed: Int32Array;
  /** z_x per sample: members averaged in the prediction (≤ membersUsed under the argmax rule). */
  readonly predictionSize: Int32Array;
  /** Rows each member evaluated: rowsPerMember[t] = #{samples with membersUsed > t}. */
  readonly rowsPerMember: Int32Array;
}

function checkTeam(members: readonly Classifier[]): number {
  if (!members.length) throw new Error('dynamicEnsemble: the team has no members');
  const c = members[0].numClasses;
  const odd = members.find((m) => m.numClasses !== c);
  if (odd) throw new Error(`dynamicEnsemble: members disagree on the class count (${c} and ${odd.numClasses})`);
  return c;
}

/** Members' log-probabilities of some rows of x, read back to the host. */
async function memberLogProbs(member: Classifier, x: Tensor, rows: readonly number[], numClasses: number): Promise<Float32Array> {
  const all = rows.length === x.shape[0];
  const logProbs = scope(() => noGrad(() => logSoftmax(member.logits(all ? x : selectRows(x, rows)), 1)));
  try {
    if (logProbs.shape.length !== 2 || logProbs.shape[0] !== rows.length || logProbs.shape[1] !== numClasses)
      throw new Error(`dynamicEnsemble: a member returned logits [${logProbs.shape.join(', ')}] for ${rows.length} rows of ${numClasses} classes`);
    const host = await logProbs.data();
    if (!(host instanceof Float32Array)) throw new Error(`dynamicEnsemble: member logits must be f32, got ${logProbs.dtype}`);
    return host;
  } finally {
    logProbs.dispose();
  }
}

/** DIE over an ordered team (§6 order) on images x [N, ...]. */
export async function dynamicEnsemble(
  members: readonly Classifier[],
  x: Tensor,
  opts: DynamicEnsembleOptions = {},
): Promise<DynamicEnsembleResult> {
  const numClasses = checkTeam(members);
  const resolved = resolveHaltingOptions(opts);
  const n = x.shape[0];
  const states = Array.from({ length: n }, () => new HaltingState(numClasses, members.length, resolved));
  const rowsPerMember = new Int32Array(members.length);

  // Active rows stay in increasing order, so the first member (and any member reached by every
  // sample) sees x itself with no gather.
  let active = Array.from({ length: n }, (_, i) => i);
  for (let t = 0; t < members.length && active.length; t++) {
    rowsPerMember[t] = active.length;
    const logProbs = await memberLogProbs(members[t], x, active, numClasses);
    const stillActive: number[] = [];
    active.forEach((sample, r) => {
      if (!states[sample].step(logProbs.subarray(r * numClasses, (r + 1) * numClasses))) stillActive.push(sample);
    });
    active = stillActive;
  }

  const probs = new Float32Array(n * numClasses);
  const predictions = new Int32Array(n);
  states.forEach((s, i) => {
    let best = 0;
    for (let k = 0; k < numClasses; k++) {
      probs[i * numClasses + k] = Math.exp(s.prediction[k]);
      if (s.prediction[k] > s.prediction[best]) best = k;
    }
    predictions[i] = best;
  });
  return {
    probabilities: tensor(probs, [n, numClasses]),
    predictions,
    membersUsed: Int32Array.from(states, (s) => s.membersRun),
    predictionSize: Int32Array.from(states, (s) => s.predictionSize),
    rowsPerMember,
  };
}
