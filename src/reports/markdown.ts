// report.md: Table 1 and Table 3 in the paper's layout, the team selection, the threat model and
// how the numbers were produced. Accuracies are percentages with two decimals; anything not run or
// not measured is "—".

import { cell, compactCount, duration, factor, fixed, MISSING, percent, prose } from './format.js';
import { ACCURACY_KEYS, ACCURACY_LABELS, type EedReport, type SparsityPoint, type TeamInfo, type TeamSelectionReport } from './report.js';

/** Relative links of the figures to embed (writeReport passes the files it writes). */
export interface FigureLinks {
  accuracy?: string;
  die?: string;
  teams?: string;
  sparsity?: string;
}

export interface MarkdownOptions {
  figures?: FigureLinks;
  /** Teams listed per size in the selection summary (default 3). */
  teamsPerSize?: number;
}

function table(header: readonly string[], rows: readonly (readonly string[])[], align?: readonly ('l' | 'r' | 'c')[]): string {
  const sep = header.map((_, i) => {
    const a = align?.[i] ?? 'l';
    return a === 'r' ? '---:' : a === 'c' ? ':---:' : '---';
  });
  return [header, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

function figure(alt: string, link: string | undefined): string[] {
  return link ? [`![${cell(alt)}](${encodeURI(link)})`, ''] : [];
}

/** "93.7K (10.0%)": non-zero prunable weights and their share of the total. */
/** Non-zero weights, with their share of `base` (the dense model's parameters: the budget's basis). */
function parameters(nonZero: number, base: number): string {
  const share = base > 0 ? ` (${percent(nonZero / base, 1)}%)` : '';
  return `${compactCount(nonZero)}${share}`;
}

function teamName(selection: TeamSelectionReport, members: readonly number[]): string {
  return members.map((m) => selection.pool[m]?.label ?? `#${m}`).join(', ');
}

/** Best teams of each size by RD (ties: fewer parameters), chosen team always included. */
export function topTeamsBySize(selection: TeamSelectionReport, perSize: number): TeamInfo[] {
  const bySize = new Map<number, TeamInfo[]>();
  for (const t of selection.teams) {
    const list = bySize.get(t.members.length) ?? [];
    list.push(t);
    bySize.set(t.members.length, list);
  }
  const out: TeamInfo[] = [];
  for (const size of [...bySize.keys()].sort((a, b) => a - b)) {
    const ranked = bySize
      .get(size)!
      .slice()
      .sort((a, b) => (b.robustDiversity ?? -Infinity) - (a.robustDiversity ?? -Infinity) || a.parameters - b.parameters);
    const top = ranked.slice(0, perSize);
    const chosen = ranked.find((t) => t.chosen);
    if (chosen && !top.includes(chosen)) top.push(chosen);
    out.push(...top);
  }
  return out;
}

function runInfo(report: EedReport): string[] {
  const r = report.run;
  const total = r.stages.reduce((s, st) => s + st.seconds, 0);
  const lines = [
    '## Run',
    '',
    table(
      ['', ''],
      [
        // Inside a code span only a pipe still needs escaping (GFM tables split on it).
        ['Command', `\`${r.command.replace(/`/g, "'").replace(/\|/g, '\\|')}\``],
        ['Adapter', cell(r.adapter)],
        ['Date', cell(r.date)],
        ['Dataset', cell(r.dataset)],
        ['Model', cell(r.model)],
        ['Preset', r.preset ? cell(r.preset) : MISSING],
      ],
    ),
    '',
  ];
  if (r.stages.length) {
    lines.push('Wall time per stage:', '');
    lines.push(
      table(
        ['Stage', 'Time'],
        [
          ...r.stages.map((s) => [cell(s.note ? `${s.stage} (${s.note})` : s.stage), duration(s.seconds)]),
          [r.stages.some((s) => s.note) ? '**total** (of the times above)' : '**total**', `**${duration(total)}**`],
        ],
        ['l', 'r'],
      ),
      '',
    );
  }
  lines.push('<details><summary>Configuration</summary>', '', '```json', JSON.stringify(r.config, null, 2), '```', '', '</details>', '');
  return lines;
}

export function renderMarkdown(report: EedReport, opts: MarkdownOptions = {}): string {
  const figures = opts.figures ?? {};
  const out: string[] = [`# EED report: ${cell(report.run.model)} on ${cell(report.run.dataset)}`, ''];

  out.push('## Threat model', '', prose(report.threatModel), '');

  out.push('## Table 1: accuracy, size and speed', '');
  // Shares are of one dense model, not of T dense copies: an ensemble within an 80% budget reads 20%.
  const denseBase = report.methods.find((m) => m.kind === 'dense')?.parameters.total;
  out.push(
    table(
      ['Method', ...ACCURACY_KEYS.map((k) => `${ACCURACY_LABELS[k]} (%)`), 'Params (non-zero)', 'Params (total)', 'Speed-up', 'Images/s', 'FLOP ratio'],
      report.methods.map((m) => [
        cell(m.method),
        ...ACCURACY_KEYS.map((k) => percent(m[k])),
        parameters(m.parameters.nonZero, denseBase ?? m.parameters.total),
        compactCount(m.parameters.total),
        factor(m.speedUp),
        fixed(m.imagesPerSecond, 1),
        factor(m.flopRatio ?? null),
      ]),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    'Speed-ups are measured wall-clock against the dense model on the adapter above, not counted in FLOPs; ' +
      "the FLOP ratio is the theoretical one beside it (§11.5): the dense model's conv and linear multiply-accumulates per image over the row's non-zero ones " +
      '(summed over the members an ensemble runs; for DIE the mean over the clean test images of the members it ran). ' +
      'Params (non-zero) counts the non-zero conv and linear weights (summed over members for ensembles), ' +
      (denseBase ? "with their share of the dense model's parameters (batch norm included); " : 'with their share of Params (total); ') +
      'Params (total) is the dense count, times the members for ensembles.',
    '',
  );
  out.push(...figure('Accuracy by method', figures.accuracy));

  out.push('## Table 3: dynamic inference', '');
  if (report.die) {
    const d = report.die;
    out.push(
      table(
        ['Method', 'Clean (%)', 'PGD (%)', 'Members used (mean)', 'Latency (ms/image)', 'Speed-up', 'MACs/image'],
        [d.withoutDie, d.withDie].map((r) => [
          cell(r.method),
          percent(r.clean),
          percent(r.pgd),
          `${fixed(r.meanMembersUsed, 2)} / ${d.teamSize}`,
          fixed(r.msPerImage, 3),
          factor(r.speedUp),
          r.macsPerImage === undefined || r.macsPerImage === null ? MISSING : compactCount(Math.round(r.macsPerImage)),
        ]),
        ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
      '',
      "Speed-up here is against the static team (Table 1's is against the dense model); members used is the mean over the clean test images" +
        (d.withDie.timedMeanMembersUsed !== undefined ? `, ${fixed(d.withDie.timedMeanMembersUsed, 2)} on the batch the latency was measured on.` : '.'),
      '',
    );
    const total = d.membersUsedHistogram.reduce((s, v) => s + v, 0);
    if (total > 0)
      out.push(
        'Samples by members run: ' + d.membersUsedHistogram.map((v, k) => `${k + 1}: ${v} (${percent(v / total, 1)}%)`).join(', ') + '.',
        '',
      );
    out.push(...figure('Dynamic inference', figures.die));
  } else out.push(`${MISSING} (not run)`, '');

  out.push('## Team selection', '');
  const s = report.teamSelection;
  if (s) {
    const chosen = s.teams.find((t) => t.chosen);
    out.push(
      `Chosen team (DIE order): **${cell(teamName(s, s.chosen))}**, RD ${fixed(chosen?.robustDiversity, 3)}, ` +
        `${compactCount(chosen?.parameters)} non-zero parameters of a budget of ${compactCount(s.parameterBudget)}. ` +
        (s.fallback
          ? `No affordable team reached τ_RD = ${fixed(s.threshold, 2)}: fallback to the most diverse team of the largest affordable size.`
          : `Smallest size with an affordable team reaching τ_RD = ${fixed(s.threshold, 2)}.`) +
        ` ${s.teams.length} teams considered, ${s.teams.filter((t) => t.fitsBudget).length} within budget.` +
        eligibilityNote(s),
      '',
    );
    const perSize = opts.teamsPerSize ?? 3;
    out.push(
      `Most diverse teams per size (top ${perSize}):`,
      '',
      table(
        ['Size', 'Members', 'RD', 'Params', 'Fits budget', 'Eligible', 'Chosen'],
        topTeamsBySize(s, perSize).map((t) => [
          String(t.members.length),
          cell(teamName(s, t.members)),
          fixed(t.robustDiversity, 3),
          compactCount(t.parameters),
          t.fitsBudget ? 'yes' : 'no',
          t.eligible === undefined ? MISSING : t.eligible ? 'yes' : 'no',
          t.chosen ? '**✓**' : '',
        ]),
        ['r', 'l', 'r', 'r', 'c', 'c', 'c'],
      ),
      '',
    );
    out.push(...figure('Robust diversity against team size', figures.teams));
  } else out.push(`${MISSING} (not run)`, '');

  const e = report.ensembleTraining;
  if (e) {
    out.push('## Ensemble training', '');
    const measured = e.heldOutPgd.some((v) => v !== null);
    if (e.epochs === 0) out.push('No joint training (§7): EED uses the members as selected.', '');
    else
      out.push(
        `${e.epochs} epoch(s) of joint training (§7); EED uses the members of ` +
          (e.selectedEpoch === 0 ? '**epoch 0, the team as selected, before training**' : `**epoch ${e.selectedEpoch}**`) +
          (measured
            ? ', the best by the static team\'s held-out PGD accuracy: ' +
              e.heldOutPgd.map((v, k) => `${k === 0 ? 'before training' : `epoch ${k}`} ${v === null ? MISSING : `${percent(v)}%`}`).join(', ') +
              '.'
            : ' (the last; no held-out check).'),
        '',
      );
  }

  if (report.sweep?.robustness.length) {
    out.push(
      '## Robustness against sparsity (Fig. 4)',
      '',
      report.sweep.robustness.every((r) => r.points.every((p) => p.targetSparsity !== undefined))
        ? "Columns are the ensemble's target sparsity s_r of each sweep run; each cell is the robust accuracy of that run's " +
            'row at its own measured sparsity (given where it differs from s_r), and the figure draws it there: the best ' +
            'single sub-model is pruned to c_r = 1 − (1 − s_r)/4, sparser than s_r, and a team of fewer than four stays under ' +
            'its budget. The average of the pool (Table 1) keeps more weights than the budget and is not drawn.'
        : // A report written before the points carried their own sparsity: every series sits at s_r.
          "Columns are the ensemble's target sparsity s_r of each sweep run, and the figure draws every series there. The " +
            'baselines are that run\'s: its best single sub-model is pruned to c_r = 1 − (1 − s_r)/4 (sparser than s_r), and the ' +
            'pool average holds all of its sub-models (denser than s_r).',
      '',
    );
    const target = (p: SparsityPoint) => p.targetSparsity ?? p.sparsity;
    const targets = [...new Set(report.sweep.robustness.flatMap((r) => r.points.map(target)))].sort((a, b) => a - b);
    const at = (p: SparsityPoint | undefined) =>
      p === undefined ? percent(null) : Math.abs(p.sparsity - target(p)) < 0.0005 ? percent(p.robust) : `${percent(p.robust)} at ${percent(p.sparsity, 1)}% sparse`;
    out.push(
      table(
        ['Method', ...targets.map((v) => `s_r ${percent(v, 1)}%`)],
        report.sweep.robustness.map((r) => [cell(r.method), ...targets.map((v) => at(r.points.find((p) => target(p) === v)))]),
        ['l', ...targets.map(() => 'r' as const)],
      ),
      '',
    );
    out.push(...figure('Robust accuracy against sparsity', figures.sparsity));
  }

  out.push(...runInfo(report));
  return out.join('\n');
}

/** Which members the accuracy gap kept out of every team, for the selection's summary line. */
function eligibilityNote(s: TeamSelectionReport): string {
  if (s.accuracyGap === undefined) return '';
  const out = s.pool.filter((p) => p.eligible === false);
  const gap = `${fixed(s.accuracyGap * 100, 1)} points`;
  if (!out.length) return ` Every member is within ${gap} of the best held-out PGD accuracy (rdAccuracyGap), so none was left out.`;
  return (
    ` Members more than ${gap} below the best held-out PGD accuracy joined no team: ` +
    out.map((p) => `${cell(p.label)} (${fixed(p.robustAccuracy === null ? null : p.robustAccuracy * 100, 1)}%)`).join(', ') +
    ` (rdAccuracyGap; generalised diversity alone favours members that fail where the others do not, collapsed ones most).`
  );
}
