// Writes a report folder: report.json (the data), the SVG figures and report.md (which links the
// figures by relative path, so the folder can be moved or published as is). Each file is written
// atomically; the figures go first and report.md last, so a reader that finds report.md also finds
// every figure it links. Figures a previous run left behind but this report has no data for are
// removed, so report.md never sits next to a stale figure of another run.

import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { accuracyChart } from './accuracyChart.js';
import { checkReport } from './checkReport.js';
import { dieChart } from './dieChart.js';
import { renderMarkdown, type FigureLinks } from './markdown.js';
import { rdChart } from './rdChart.js';
import type { EedReport } from './report.js';
import { sparsityChart } from './sparsityChart.js';

export const REPORT_FILES = {
  json: 'report.json',
  markdown: 'report.md',
  accuracy: 'accuracy.svg',
  die: 'die.svg',
  teams: 'teams.svg',
  sparsity: 'sparsity.svg',
} as const;

/** The figures a report has data for, by FigureLinks key. */
export function renderFigures(report: EedReport): { [K in keyof FigureLinks]?: string } {
  const out: { [K in keyof FigureLinks]?: string } = {};
  if (report.methods.length) out.accuracy = accuracyChart(report);
  if (report.die) out.die = dieChart(report.die);
  if (report.teamSelection?.teams.length) out.teams = rdChart(report.teamSelection, report.sweep);
  if (report.sweep?.robustness.some((s) => s.points.length)) out.sparsity = sparsityChart(report.sweep.robustness.filter((s) => s.points.length));
  return out;
}

/** Writes the folder `dir` (created if needed); returns the paths written. */
export async function writeReport(dir: string, report: EedReport): Promise<string[]> {
  checkReport(report, `writeReport(${dir})`);
  await mkdir(dir, { recursive: true });
  const encode = (s: string) => new TextEncoder().encode(s);
  const figures = renderFigures(report);
  const links: FigureLinks = {};
  const written: string[] = [];
  for (const key of ['accuracy', 'die', 'teams', 'sparsity'] as const) {
    const path = join(dir, REPORT_FILES[key]);
    const svg = figures[key];
    if (svg === undefined) {
      await rm(path, { force: true });
      continue;
    }
    await writeFileAtomic(path, encode(svg));
    links[key] = REPORT_FILES[key];
    written.push(path);
  }
  const json = join(dir, REPORT_FILES.json);
  await writeFileAtomic(json, encode(JSON.stringify(report, null, 2) + '\n'));
  written.push(json);
  const md = join(dir, REPORT_FILES.markdown);
  await writeFileAtomic(md, encode(renderMarkdown(report, { figures: links }) + '\n'));
  written.push(md);
  return written;
}
