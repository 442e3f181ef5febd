// Figure for Table 1: accuracy of every method under every attack that ran, as grouped bars.
// Attacks that no method ran are left out rather than drawn as a row of dashes.

import { chartTitle, legend } from './axes.js';
import { groupedBars } from './barChart.js';
import { ACCURACY_KEYS, ACCURACY_LABELS, type EedReport } from './report.js';
import { colour, svgDocument, textWidth } from './svg.js';

export function accuracyChart(report: EedReport): string {
  const keys = ACCURACY_KEYS.filter((k) => report.methods.some((m) => m[k] !== null));
  const series = keys.map((k) => ACCURACY_LABELS[k]);
  // One colour per attack whatever else ran, so figures of different runs compare at a glance.
  const colours = keys.map((k) => colour(ACCURACY_KEYS.indexOf(k)));
  const longest = Math.max(0, ...report.methods.map((m) => textWidth(m.method)));
  const legendW = 28 + Math.max(0, ...series.map((s) => textWidth(s))) + 16;
  const slot = Math.max(48, keys.length * 16 + 16);
  const area = { left: 70, top: 40, width: Math.max(360, slot * report.methods.length), height: 260 };
  // Rotated labels at −30° need about half their length below the axis.
  const bottom = 40 + longest * 0.5 + 10;
  const width = area.left + area.width + legendW + 10;
  const height = area.top + area.height + bottom;
  const body = [
    chartTitle(width, `Accuracy by method (${report.run.dataset}, ${report.run.model})`),
    ...groupedBars({
      area,
      groups: report.methods.map((m) => ({ label: m.method, values: keys.map((k) => m[k]) })),
      series,
      xTitle: '',
      yTitle: 'accuracy',
      rotateLabels: true,
      colours,
    }),
    ...legend(width - 8, area.top, series.map((s, i) => ({ label: s, colour: colours[i] }))),
  ];
  return svgDocument(width, height, 'Table 1: accuracy by method and attack', body);
}
