// report.md: the numbers of a hand-built report land in the right cells, missing values are
// dashes, and names cannot break the tables or inject HTML.

import { describe, expect, it } from 'vitest';
import { compactCount, factor, percent } from '../../src/reports/format.js';
import { renderMarkdown, topTeamsBySize } from '../../src/reports/markdown.js';
import { sampleReport } from './fixtures.js';

/** The rows of the markdown table under `heading` as arrays of cells (header first, separator dropped). */
function tableAfter(md: string, heading: string): string[][] {
  const lines = md.split('\n');
  let i = lines.findIndex((l) => l.startsWith(heading));
  expect(i, `heading ${heading}`).toBeGreaterThanOrEqual(0);
  while (!lines[i].startsWith('|')) i++;
  const rows: string[][] = [];
  for (; i < lines.length && lines[i].startsWith('|'); i++)
    rows.push(
      lines[i]
        .slice(2, -2)
        .split(/(?<!\\) \| /)
        .map((c) => c.trim()),
    );
  return [rows[0], ...rows.slice(2)];
}

/** Row `method` of a table as {column header: cell}. */
function rowOf(table: string[][], method: string): Record<string, string> {
  const row = table.find((r) => r[0] === method);
  expect(row, `row ${method}`).toBeDefined();
  return Object.fromEntries(table[0].map((h, i) => [h, row![i]]));
}

describe('renderMarkdown', () => {
  const md = renderMarkdown(sampleReport());

  it('Table 1: accuracies as percentages, parameters, measured speed-up and throughput per method', () => {
    const t = tableAfter(md, '## Table 1');
    expect(t[0]).toEqual(['Method', 'Clean (%)', 'PGD (%)', 'AA (%)', 'CW (%)', 'DF (%)', 'Params (non-zero)', 'Params (total)', 'Speed-up', 'Images/s', 'FLOP ratio']);
    expect(t.map((r) => r[0])).toEqual(['Method', 'AT (dense)', 'HYDRA (ERM) #1', 'MAD &lt;&amp;&gt; "x"', 'Average of all 4', 'EED (static team)', 'EED (DIE)']);
    expect(rowOf(t, 'AT (dense)')).toEqual({
      Method: 'AT (dense)',
      'Clean (%)': '85.23',
      'PGD (%)': '45.67',
      'AA (%)': '40.12',
      'CW (%)': '43.21',
      'DF (%)': '50.00',
      'Params (non-zero)': '93.7K (99.5%)',
      'Params (total)': '94.2K',
      'Speed-up': '1.00×',
      'Images/s': '231.3',
      'FLOP ratio': '1.00×',
    });
    const hydra = rowOf(t, 'HYDRA (ERM) #1');
    expect([hydra['AA (%)'], hydra['CW (%)'], hydra['Params (non-zero)'], hydra['Speed-up']]).toEqual(['—', '39.00', '9.37K (10.0%)', '1.80×']);
    // An ensemble's share is of one dense model (the budget's basis), not of its T dense copies.
    expect(rowOf(t, 'EED (static team)')['Params (non-zero)']).toBe('28K (29.7%)');
    expect(rowOf(t, 'EED (static team)')['Params (total)']).toBe('283K');
    const die = rowOf(t, 'EED (DIE)');
    expect([die['Clean (%)'], die['PGD (%)'], die['AA (%)'], die['CW (%)'], die['Speed-up'], die['Images/s'], die['FLOP ratio']]).toEqual(['84.50', '47.10', '41.90', '—', '1.35×', '300.0', '4.13×']);
    expect(rowOf(t, 'HYDRA (ERM) #1')['FLOP ratio']).toBe('9.25×');
    // Not counted (a report from before the field existed): a dash.
    expect(rowOf(t, 'Average of all 4')['FLOP ratio']).toBe('—');
  });

  it('nulls render as an em dash, never 0 or NaN', () => {
    const mad = rowOf(tableAfter(md, '## Table 1'), 'MAD &lt;&amp;&gt; "x"');
    expect([mad['AA (%)'], mad['CW (%)'], mad['DF (%)'], mad['Speed-up'], mad['Images/s']]).toEqual(['—', '—', '—', '—', '—']);
    expect(md).not.toMatch(/NaN|undefined|null/);
    const partial = { ...sampleReport(), die: null, teamSelection: null, sweep: null };
    const text = renderMarkdown(partial);
    expect(text).toContain('## Table 3: dynamic inference\n\n— (not run)');
    expect(text).toContain('## Team selection\n\n— (not run)');
    expect(text).not.toContain('Fig. 4');
  });

  it('Table 3: static team and DIE with members used, latency and speed-up', () => {
    const t = tableAfter(md, '## Table 3');
    expect(t).toEqual([
      ['Method', 'Clean (%)', 'PGD (%)', 'Members used (mean)', 'Latency (ms/image)', 'Speed-up', 'MACs/image'],
      ['EED w/o DIE (static)', '84.00', '47.00', '3.00 / 3', '4.500', '1.00×', '4.2M'],
      ['EED with DIE', '84.50', '47.10', '1.60 / 3', '3.000', '1.50×', '2.24M'],
    ]);
    expect(md).toContain('Samples by members run: 1: 120 (60.0%), 2: 40 (20.0%), 3: 40 (20.0%).');
    expect(md).toContain('members used is the mean over the clean test images, 1.75 on the batch the latency was measured on.');
  });

  it('team selection: chosen team, threshold, budget and the top teams of each size with the chosen one marked', () => {
    expect(md).toContain('Chosen team (DIE order): **HYDRA #1, BNAP #1**, RD 0.700, 20K non-zero parameters of a budget of 30K.');
    expect(md).toContain('reaching τ_RD = 0.70');
    expect(md).toContain('11 teams considered, 10 within budget');
    const t = tableAfter(md, 'Most diverse teams per size');
    expect(t[0]).toEqual(['Size', 'Members', 'RD', 'Params', 'Fits budget', 'Eligible', 'Chosen']);
    // Three per size plus the chosen team (fourth best of size 2), one team of size 4.
    expect(t.slice(1).map((r) => r[0])).toEqual(['2', '2', '2', '2', '3', '3', '3', '4']);
    expect(t[1]).toEqual(['2', 'BNAP #1, NIS #1', '0.720', '20K', 'yes', '—', '']);
    expect(t.find((r) => r[6] === '**✓**')).toEqual(['2', 'HYDRA #1, BNAP #1', '0.700', '20K', 'yes', '—', '**✓**']);
    expect(t[8]).toEqual(['4', 'HYDRA #1, MAD #1, BNAP #1, NIS #1', '0.500', '40K', 'no', '—', '']);
    // A report from before the eligibility rule says nothing of it.
    expect(md).not.toContain('Every member is within');
    expect(md).not.toContain('joined no team');
    const fallback = sampleReport();
    fallback.teamSelection!.fallback = true;
    expect(renderMarkdown(fallback)).toContain('No affordable team reached τ_RD = 0.70: fallback');
    expect(topTeamsBySize(sampleReport().teamSelection!, 1).length).toBe(4);
  });

  it('team selection: names the members the accuracy gap kept out of every team', () => {
    const r = sampleReport();
    const s = r.teamSelection!;
    s.accuracyGap = 0.05;
    s.pool.forEach((p, i) => (p.eligible = i !== 2));
    for (const t of s.teams) t.eligible = !t.members.includes(2);
    const text = renderMarkdown(r);
    expect(text).toMatch(new RegExp(`Members more than 5\\.0 points below the best held-out PGD accuracy joined no team: ${s.pool[2].label.replace(/[^A-Za-z0-9 #]/g, '.')} \\(\\d+\\.\\d%\\)`));
    const t = tableAfter(text, 'Most diverse teams per size');
    for (const row of t.slice(1)) expect(row[5]).toBe(row[1].includes(s.pool[2].label) ? 'no' : 'yes');
    s.pool.forEach((p) => (p.eligible = true));
    expect(renderMarkdown(r)).toContain('Every member is within 5.0 points of the best held-out PGD accuracy');
  });

  it('ensemble training: the epoch EED uses and the held-out PGD accuracy it was chosen by', () => {
    const r = sampleReport();
    expect(renderMarkdown(r)).toContain(
      "2 epoch(s) of joint training (§7); EED uses the members of **epoch 1**, the best by the static team's held-out PGD accuracy: before training 43.00%, epoch 1 45.50%, epoch 2 45.00%.",
    );
    r.ensembleTraining = { epochs: 2, selectedEpoch: 0, heldOutPgd: [0.5, 0.45, null] };
    expect(renderMarkdown(r)).toContain('EED uses the members of **epoch 0, the team as selected, before training**, the best by');
    expect(renderMarkdown(r)).toContain('epoch 2 —.');
    r.ensembleTraining = { epochs: 2, selectedEpoch: 2, heldOutPgd: [null, null, null] };
    expect(renderMarkdown(r)).toContain('EED uses the members of **epoch 2** (the last; no held-out check).');
    r.ensembleTraining = { epochs: 0, selectedEpoch: 0, heldOutPgd: [null] };
    expect(renderMarkdown(r)).toContain('No joint training (§7): EED uses the members as selected.');
    delete r.ensembleTraining;
    expect(renderMarkdown(r)).not.toContain('## Ensemble training');
  });

  it('sweep table: robust accuracy per method and target sparsity, its own sparsity where it differs, — where a method has no point', () => {
    expect(tableAfter(md, '## Robustness against sparsity')).toEqual([
      ['Method', 's_r 50.0%', 's_r 90.0%', 's_r 99.0%'],
      ['HYDRA', '45.00 at 87.5% sparse', '41.00', '30.00'],
      ['NIS', '46.00', '43.00', '—'],
    ]);
    // The columns are the ensemble's target sparsity; the note says where the baselines really are.
    expect(md).toMatch(/## Robustness against sparsity \(Fig\. 4\)\n\nColumns are the ensemble's target sparsity s_r[^\n]*c_r = 1 − \(1 − s_r\)\/4/);
    // The sample mixes in an older report's points (no targetSparsity): the note says they sit at s_r.
    expect(md).toMatch(/the figure draws every series there/);
    const current = sampleReport();
    for (const series of current.sweep!.robustness) for (const p of series.points) p.targetSparsity ??= p.sparsity;
    const note = renderMarkdown(current);
    expect(note).toMatch(/at its own measured sparsity \(given where it differs from s_r\)/);
    expect(note).not.toMatch(/the figure draws every series there/);
  });

  it('threat model and run info, with text escaped', () => {
    expect(md).toContain('## Threat model\n\nWhite-box ℓ∞ attacks, ε = 0.1 &lt;all&gt; &amp; more\n');
    expect(md).toContain('| Command | `eed run --preset quick` |');
    expect(md).toContain('| Adapter | mesa / software / llvmpipe |');
    expect(tableAfter(md, 'Wall time per stage')).toEqual([
      ['Stage', 'Time'],
      ['train', '2m05s'],
      ['eval', '42.0 s'],
      ['**total**', '**2m47s**'],
    ]);
    expect(md).toContain('"evalCount": 200');
    const resumed = sampleReport();
    resumed.run.stages[1].note = 'time of this invocation only: of its 9 evaluation rows (eval/), 7 finished by earlier invocations';
    const stageTable = tableAfter(renderMarkdown(resumed), 'Wall time per stage');
    expect(stageTable[2]).toEqual(['eval (time of this invocation only: of its 9 evaluation rows (eval/), 7 finished by earlier invocations)', '42.0 s']);
    expect(stageTable[3]).toEqual(['**total** (of the times above)', '**2m47s**']);
    const piped = sampleReport();
    piped.methods[0].method = 'a | b';
    piped.run.command = 'eed run | tee log';
    const text = renderMarkdown(piped);
    expect(text).toContain('| a \\| b | 85.23 |');
    expect(text).toContain('`eed run \\| tee log`');
  });

  it('embeds figures only when given their links', () => {
    expect(md).not.toContain('![');
    const linked = renderMarkdown(sampleReport(), { figures: { accuracy: 'accuracy.svg', teams: 'my teams.svg' } });
    expect(linked).toContain('![Accuracy by method](accuracy.svg)');
    expect(linked).toContain('![Robust diversity against team size](my%20teams.svg)');
    expect(linked).not.toContain('die.svg');
  });

  it('formats numbers consistently', () => {
    expect([percent(0.8523), percent(1), percent(0), percent(null), percent(Number.NaN), percent(0.12345, 1)]).toEqual(['85.23', '100.00', '0.00', '—', '—', '12.3']);
    expect([compactCount(999), compactCount(93_728), compactCount(100_000), compactCount(999_950), compactCount(11_200_000)]).toEqual(['999', '93.7K', '100K', '1M', '11.2M']);
    expect([factor(2.314), factor(null)]).toEqual(['2.31×', '—']);
  });
});
