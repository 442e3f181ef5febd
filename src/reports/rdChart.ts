// Robust diversity against team size: every team the selection considered (filled: within the
// parameter budget; hollow: over it), the τ_RD threshold, and the chosen team ringed. Teams of one
// size share an x position, so they are spread by a deterministic jitter (the same report always
// draws the same figure).

import { chartTitle, legend, linearScale, niceTicks, xAxis, yAxis, type LegendEntry } from './axes.js';
import { fixed } from './format.js';
import type { SweepReport, TeamInfo, TeamSelectionReport } from './report.js';

/** Teams with a member the accuracy gap left out (rdAccuracyGap). */
const INELIGIBLE = '#c0504d';
import { colour, el, line, polyline, svgDocument, text, title } from './svg.js';

/** A fixed offset in [−0.5, 0.5) per index (golden-ratio sequence: evenly spread, no clumps). */
function jitter(i: number): number {
  return ((i * 0.6180339887498949) % 1) - 0.5;
}

export function rdChart(selection: TeamSelectionReport, sweep: SweepReport | null = null): string {
  const width = 720;
  const height = 380;
  const area = { left: 70, top: 50, width: 470, height: 270 };
  const teams = selection.teams.filter((t) => t.robustDiversity !== null && Number.isFinite(t.robustDiversity));
  const sizes = selection.teams.map((t) => t.members.length);
  const minSize = Math.min(2, ...sizes);
  const maxSize = Math.max(minSize + 1, ...sizes);
  const rds = [selection.threshold, ...teams.map((t) => t.robustDiversity as number), ...(sweep?.rdByTeamSize ?? []).map((p) => p.robustDiversity)];
  const yTicks = niceTicks(Math.min(0, ...rds), Math.max(...rds), 5);
  const y = linearScale(yTicks[0], yTicks[yTicks.length - 1], area.top + area.height, area.top);
  const x = linearScale(minSize - 0.6, maxSize + 0.6, area.left, area.left + area.width);
  const slot = x(1) - x(0);

  const body: string[] = [chartTitle(width, 'Robust diversity against team size')];
  body.push(...yAxis(area, yTicks, y, (v) => fixed(v, 2), 'robust diversity (RD)'));
  const xTicks = [];
  for (let s = minSize; s <= maxSize; s++) xTicks.push({ x: x(s), label: String(s) });
  body.push(...xAxis(area, xTicks, 'team size', false));

  const ty = y(selection.threshold);
  body.push(line(area.left, ty, area.left + area.width, ty, { stroke: colour(5), 'stroke-width': 1.5, 'stroke-dasharray': '6 4', class: 'threshold' }));
  body.push(text(area.left + area.width - 4, ty - 5, `τ_RD = ${fixed(selection.threshold, 2)}`, { 'text-anchor': 'end', fill: colour(5) }));

  // Candidates (within budget, every member eligible) are filled and drawn last, on top; over-budget
  // teams and teams with a member the accuracy gap left out are hollow, in grey and red.
  const candidate = (t: TeamInfo) => t.fitsBudget && t.eligible !== false;
  const order = teams.map((t, i) => ({ t, i })).sort((a, b) => Number(candidate(a.t)) - Number(candidate(b.t)));
  for (const { t, i } of order) {
    const cx = x(t.members.length) + jitter(i) * slot * 0.6;
    const cy = y(t.robustDiversity as number);
    const hollow = candidate(t) ? null : t.fitsBudget ? INELIGIBLE : '#999';
    body.push(
      el('circle', {
        class: candidate(t) ? 'team fits' : t.fitsBudget ? 'team ineligible' : 'team over',
        cx,
        cy,
        r: 2.5,
        fill: hollow ? 'none' : colour(0),
        'fill-opacity': hollow ? undefined : 0.55,
        stroke: hollow ?? 'none',
        'stroke-width': hollow ? 0.8 : undefined,
      }),
    );
  }
  if (sweep?.rdByTeamSize?.length) {
    const pts = [...sweep.rdByTeamSize].sort((a, b) => a.size - b.size);
    body.push(polyline(pts.map((p) => [x(p.size), y(p.robustDiversity)] as [number, number]), { stroke: colour(2), 'stroke-width': 1.5, class: 'sweep' }));
  }
  const chosenIndex = teams.findIndex((t) => t.chosen);
  if (chosenIndex >= 0) {
    const t = teams[chosenIndex];
    const cx = x(t.members.length) + jitter(chosenIndex) * slot * 0.6;
    const cy = y(t.robustDiversity as number);
    const names = t.members.map((m) => selection.pool[m]?.label ?? `#${m}`).join(', ');
    body.push(
      el('circle', { class: 'chosen', cx, cy, r: 7, fill: 'none', stroke: colour(5), 'stroke-width': 2 }, [
        title(`chosen: ${names} (RD ${fixed(t.robustDiversity, 3)})`),
      ]),
    );
    body.push(text(cx + 10, cy - 8, `chosen${selection.fallback ? ' (fallback)' : ''}`, { fill: colour(5) }));
  }

  const entries: LegendEntry[] = [
    { label: 'team within budget', colour: colour(0) },
    { label: 'team over budget', colour: '#999', hollow: true },
    ...(teams.some((t) => t.fitsBudget && t.eligible === false) ? [{ label: 'with a member below the accuracy gap', colour: INELIGIBLE, hollow: true }] : []),
    { label: 'chosen team', colour: colour(5), mark: 'ring' as const },
    { label: 'τ_RD threshold', colour: colour(5), mark: 'line' as const },
  ];
  if (sweep?.rdByTeamSize?.length) entries.push({ label: 'best RD (sweep)', colour: colour(2), mark: 'line' as const });
  body.push(...legend(width - 8, area.top, entries));
  return svgDocument(width, height, 'Robust diversity of the teams considered, by size', body);
}
