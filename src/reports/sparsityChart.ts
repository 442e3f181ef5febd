// Fig. 4: robust accuracy against sparsity, one line per pruning method.

import { chartTitle, legend, linearScale, niceTicks, xAxis, yAxis } from './axes.js';
import { percent } from './format.js';
import type { SparsitySeries } from './report.js';
import { colour, el, polyline, svgDocument, textWidth, title } from './svg.js';

export function sparsityChart(series: readonly SparsitySeries[]): string {
  const legendW = 28 + Math.max(0, ...series.map((s) => textWidth(s.method))) + 16;
  const area = { left: 70, top: 50, width: 440, height: 260 };
  const width = area.left + area.width + legendW + 10;
  const height = 370;
  const points = series.flatMap((s) => s.points);
  const xs = points.map((p) => p.sparsity);
  const ys = points.map((p) => p.robust);
  const xTicks = niceTicks(Math.min(...xs, 1), Math.max(...xs, 0), 5);
  const yTicks = niceTicks(Math.min(0, ...ys), Math.max(...ys, 0.01), 5);
  const x = linearScale(xTicks[0], xTicks[xTicks.length - 1], area.left, area.left + area.width);
  const y = linearScale(yTicks[0], yTicks[yTicks.length - 1], area.top + area.height, area.top);
  const body: string[] = [chartTitle(width, 'Robust accuracy against sparsity')];
  body.push(...yAxis(area, yTicks, y, (v) => `${percent(v, 0)}%`, 'robust accuracy (PGD)'));
  body.push(...xAxis(area, xTicks.map((t) => ({ x: x(t), label: `${percent(t, 0)}%` })), 'sparsity', false));
  series.forEach((s, i) => {
    const pts = [...s.points].sort((a, b) => a.sparsity - b.sparsity);
    body.push(polyline(pts.map((p) => [x(p.sparsity), y(p.robust)] as [number, number]), { stroke: colour(i), 'stroke-width': 2, class: 'series' }));
    for (const p of pts)
      body.push(
        el('circle', { cx: x(p.sparsity), cy: y(p.robust), r: 3.5, fill: colour(i) }, [
          title(`${s.method}: sparsity ${percent(p.sparsity, 1)}%, robust ${percent(p.robust)}%`),
        ]),
      );
  });
  body.push(...legend(width - 8, area.top, series.map((s, i) => ({ label: s.method, colour: colour(i), mark: 'line' as const }))));
  return svgDocument(width, height, 'Fig. 4: robust accuracy against sparsity', body);
}
