// The failure matrix robust diversity is computed from (algorithms.md §6, "defense failure" [X]):
// E[j][n] = 1[F_j(attack_j(x_n)) ≠ y_n], a white-box attack against each pool member alone, on
// the held-out split. Option 'pool' ([X] rdAttack='pool'): one adversarial input per sample,
// crafted against the average ensemble of all members, then judged by each member.

import { averageEnsemble, correctOnHost, type Classifier } from '../attacks/classifier.js';
import { selectRows } from '../attacks/rowSubsets.js';
import { scopeAsync } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { FailureMatrix } from './failureMatrix.js';

export type FailureAttack = (classifier: Classifier, x: Tensor, labels: Tensor) => Tensor | Promise<Tensor>;

export interface MemberFailureOptions {
  /** 'member' (default): attack each member alone; 'pool': attack the average of all members. */
  mode?: 'member' | 'pool';
  batchSize?: number;
}

export async function memberFailures(
  members: readonly Classifier[],
  x: Tensor,
  labels: Tensor,
  attack: FailureAttack,
  opts: MemberFailureOptions = {},
): Promise<FailureMatrix> {
  if (!members.length) throw new Error('memberFailures: no members');
  const n = x.shape[0];
  const batch = opts.batchSize ?? 256;
  const rows: boolean[][] = members.map(() => []);
  const pool = opts.mode === 'pool' ? averageEnsemble(members) : null;
  for (let b0 = 0; b0 < n; b0 += batch) {
    const idx = Array.from({ length: Math.min(batch, n - b0) }, (_, i) => b0 + i);
    await scopeAsync(async () => {
      const xb = selectRows(x, idx);
      const yb = selectRows(labels, idx);
      const shared = pool ? await attack(pool, xb, yb) : null;
      for (let j = 0; j < members.length; j++) {
        const xAdv = shared ?? (await attack(members[j], xb, yb));
        const right = await correctOnHost(members[j], xAdv, yb);
        for (const r of right) rows[j].push(!r);
      }
    });
  }
  return FailureMatrix.fromRows(rows);
}
