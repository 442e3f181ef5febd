// Scales, "nice" ticks, axes and legends shared by the figures, so every chart has the same look:
// a plot area inside margins, a y axis with gridlines, an x axis, titles and a legend box.

import { el, line, num, text, textWidth } from './svg.js';

export interface Area {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** A linear map from [d0, d1] to [r0, r1]; a degenerate domain maps to the middle. */
export function linearScale(d0: number, d1: number, r0: number, r1: number): (v: number) => number {
  if (d1 === d0) return () => (r0 + r1) / 2;
  return (v) => r0 + ((v - d0) / (d1 - d0)) * (r1 - r0);
}

/** About `count` round tick values (1, 2 or 5 × 10^k apart) covering [min, max]. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(Number.isFinite(min) && Number.isFinite(max))) throw new Error(`niceTicks: bounds must be finite, got [${min}, ${max}]`);
  if (max < min) [min, max] = [max, min];
  if (max === min) {
    const pad = Math.abs(min) > 0 ? Math.abs(min) * 0.1 : 1;
    min -= pad;
    max += pad;
  }
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const lo = Math.floor(min / step + 1e-9);
  const hi = Math.ceil(max / step - 1e-9);
  const ticks: number[] = [];
  // Multiplying instead of accumulating keeps 0.1 + 0.2 artefacts out of the labels.
  for (let k = lo; k <= hi; k++) ticks.push(Number((k * step).toPrecision(12)));
  return ticks;
}

/** Horizontal gridlines, tick labels and the y-axis title at the left of `area`. */
export function yAxis(area: Area, ticks: readonly number[], scale: (v: number) => number, label: (v: number) => string, titleText: string): string[] {
  const out: string[] = [];
  for (const t of ticks) {
    const y = scale(t);
    out.push(line(area.left, y, area.left + area.width, y, { stroke: '#e0e0e0', 'stroke-width': 1 }));
    out.push(text(area.left - 6, y + 4, label(t), { 'text-anchor': 'end', fill: '#333' }));
  }
  out.push(line(area.left, area.top, area.left, area.top + area.height, { stroke: '#333', 'stroke-width': 1 }));
  const cx = area.left - 44;
  const cy = area.top + area.height / 2;
  out.push(text(cx, cy, titleText, { 'text-anchor': 'middle', transform: `rotate(-90 ${num(cx)} ${num(cy)})`, fill: '#333' }));
  return out;
}

/** The x-axis line, tick marks with labels at the given positions, and the axis title. */
export function xAxis(area: Area, ticks: readonly { x: number; label: string }[], titleText: string, rotate = false): string[] {
  const base = area.top + area.height;
  const out: string[] = [line(area.left, base, area.left + area.width, base, { stroke: '#333', 'stroke-width': 1 })];
  for (const t of ticks) {
    out.push(line(t.x, base, t.x, base + 4, { stroke: '#333', 'stroke-width': 1 }));
    if (rotate) out.push(text(t.x, base + 14, t.label, { 'text-anchor': 'end', transform: `rotate(-30 ${num(t.x)} ${num(base + 14)})`, fill: '#333' }));
    else out.push(text(t.x, base + 17, t.label, { 'text-anchor': 'middle', fill: '#333' }));
  }
  if (titleText) {
    const below = rotate ? Math.max(...ticks.map((t) => textWidth(t.label)), 0) * 0.5 + 30 : 34;
    out.push(text(area.left + area.width / 2, base + below, titleText, { 'text-anchor': 'middle', fill: '#333' }));
  }
  return out;
}

export interface LegendEntry {
  label: string;
  colour: string;
  /** 'box' (bars), 'line' (series) or 'ring' (a highlighted point). */
  mark?: 'box' | 'line' | 'ring';
  /** Hollow marker (e.g. "over budget"). */
  hollow?: boolean;
}

/** A legend box with its top-right corner at (right, top). */
export function legend(right: number, top: number, entries: readonly LegendEntry[]): string[] {
  if (!entries.length) return [];
  const rowH = 16;
  const w = 28 + Math.max(...entries.map((e) => textWidth(e.label)));
  const left = right - w;
  const out: string[] = [
    el('rect', { x: left, y: top, width: w, height: entries.length * rowH + 8, fill: 'white', 'fill-opacity': 0.9, stroke: '#bbb' }),
  ];
  entries.forEach((e, i) => {
    const y = top + 4 + i * rowH + rowH / 2;
    const mark = e.mark ?? 'box';
    if (mark === 'line') out.push(line(left + 6, y, left + 20, y, { stroke: e.colour, 'stroke-width': 2 }));
    else if (mark === 'ring') out.push(el('circle', { cx: left + 13, cy: y, r: 5, fill: 'none', stroke: e.colour, 'stroke-width': 2 }));
    else
      out.push(
        el('rect', { x: left + 7, y: y - 5, width: 12, height: 10, fill: e.hollow ? 'white' : e.colour, stroke: e.colour, 'stroke-width': 1 }),
      );
    out.push(text(left + 24, y + 4, e.label, { fill: '#333' }));
  });
  return out;
}

export function chartTitle(width: number, content: string): string {
  return text(width / 2, 20, content, { 'text-anchor': 'middle', 'font-size': 14, 'font-weight': 'bold', fill: '#111' });
}
