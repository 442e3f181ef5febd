// Grouped vertical bars on a 0–100 % axis: the drawing behind the Table 1 figure and the DIE
// comparison. Bars start at 0, so their heights are proportional to the values; a missing value
// gets a dash at the baseline instead of a zero-height bar that would read as 0 %.

import { linearScale, niceTicks, xAxis, yAxis, type Area } from './axes.js';
import { MISSING, percent } from './format.js';
import { colour, el, text, title } from './svg.js';

export interface BarGroup {
  label: string;
  /** One value per series (fraction in [0, 1]; null: missing). */
  values: (number | null)[];
}

export interface GroupedBarsOptions {
  area: Area;
  groups: readonly BarGroup[];
  series: readonly string[];
  xTitle: string;
  yTitle: string;
  /** Rotate group labels (long method names). */
  rotateLabels?: boolean;
  /** Colour index of each series (default: its position). */
  colours?: readonly string[];
}

/** Bars (class "bar", data-value = the fraction) with axes; returns the markup. */
export function groupedBars(o: GroupedBarsOptions): string[] {
  const { area, groups, series } = o;
  const y = linearScale(0, 1, area.top + area.height, area.top);
  const out = yAxis(area, niceTicks(0, 1, 5), y, (v) => `${Math.round(v * 100)}%`, o.yTitle);
  const slot = area.width / Math.max(1, groups.length);
  const barW = Math.max(2, Math.min(28, (slot * 0.8) / Math.max(1, series.length)));
  const ticks: { x: number; label: string }[] = [];
  groups.forEach((g, gi) => {
    const centre = area.left + slot * (gi + 0.5);
    ticks.push({ x: centre, label: g.label });
    const start = centre - (barW * series.length) / 2;
    series.forEach((s, si) => {
      const v = g.values[si];
      const x = start + si * barW;
      const fill = o.colours?.[si] ?? colour(si);
      if (v === null || v === undefined || !Number.isFinite(v)) {
        out.push(text(x + barW / 2, y(0) - 3, MISSING, { 'text-anchor': 'middle', fill: '#999', 'font-size': 10, class: 'missing' }));
        return;
      }
      const clamped = Math.min(1, Math.max(0, v));
      out.push(
        el(
          'rect',
          {
            class: 'bar',
            'data-group': g.label,
            'data-series': s,
            'data-value': String(v),
            x: x + 0.5,
            y: y(clamped),
            width: barW - 1,
            height: y(0) - y(clamped),
            fill,
          },
          [title(`${g.label}, ${s}: ${percent(v)}%`)],
        ),
      );
    });
  });
  out.push(...xAxis(area, ticks, o.xTitle, o.rotateLabels));
  return out;
}
