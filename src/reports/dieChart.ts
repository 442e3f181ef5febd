// Figure for Table 3: left, how many team members the Dynamic Inference Ensemble ran per sample
// (the share of samples stopping after each member); right, clean and PGD accuracy of the static
// team and of DIE side by side, so the cost saved and the accuracy kept are seen together.

import { chartTitle, legend, linearScale, niceTicks, xAxis, yAxis } from './axes.js';
import { groupedBars } from './barChart.js';
import { fixed } from './format.js';
import type { DieTable } from './report.js';
import { colour, el, svgDocument, text, textWidth, title } from './svg.js';

export function dieChart(die: DieTable): string {
  const series = [die.withoutDie.method, die.withDie.method];
  const height = 360;
  const left = { left: 70, top: 50, width: 270, height: 230 };
  const right = { left: 430, top: 50, width: 180, height: 230 };
  // The legend sits right of the accuracy panel, never over its bars.
  const width = right.left + right.width + 16 + 28 + Math.max(...series.map((s) => textWidth(s))) + 8;
  const body: string[] = [chartTitle(width, `Dynamic Inference Ensemble (team of ${die.teamSize})`)];

  const total = die.membersUsedHistogram.reduce((s, v) => s + v, 0);
  const shares = die.membersUsedHistogram.map((v) => (total > 0 ? v / total : 0));
  const top = Math.max(0.01, ...shares);
  const yTicks = niceTicks(0, top, 4);
  const y = linearScale(0, yTicks[yTicks.length - 1], left.top + left.height, left.top);
  body.push(...yAxis(left, yTicks, y, (v) => `${Math.round(v * 1000) / 10}%`, 'share of samples'));
  const slot = left.width / Math.max(1, shares.length);
  const ticks: { x: number; label: string }[] = [];
  shares.forEach((s, k) => {
    const x = left.left + slot * k;
    ticks.push({ x: x + slot / 2, label: String(k + 1) });
    body.push(
      el(
        'rect',
        {
          class: 'bar',
          'data-value': String(s),
          x: x + slot * 0.15,
          y: y(s),
          width: slot * 0.7,
          height: y(0) - y(s),
          fill: colour(4),
        },
        [title(`${die.membersUsedHistogram[k]} samples ran ${k + 1} member${k ? 's' : ''}`)],
      ),
    );
  });
  body.push(...xAxis(left, ticks, 'members run per sample', false));
  body.push(
    text(left.left + left.width, left.top - 8, `mean ${fixed(die.withDie.meanMembersUsed, 2)} of ${die.teamSize}`, {
      'text-anchor': 'end',
      fill: '#333',
    }),
  );

  body.push(
    ...groupedBars({
      area: right,
      groups: [
        { label: 'Clean', values: [die.withoutDie.clean, die.withDie.clean] },
        { label: 'PGD', values: [die.withoutDie.pgd, die.withDie.pgd] },
      ],
      series,
      xTitle: '',
      yTitle: 'accuracy',
      colours: [colour(0), colour(5)],
    }),
  );
  body.push(...legend(width - 8, right.top, series.map((s, i) => ({ label: s, colour: i ? colour(5) : colour(0) }))));
  return svgDocument(width, height, 'Table 3: EED with and without dynamic inference', body);
}
