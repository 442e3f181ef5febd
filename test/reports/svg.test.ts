// The figures as XML: well-formed, finite coordinates, escaped text, and bars whose heights are
// proportional to their values.

import { describe, expect, it } from 'vitest';
import { accuracyChart } from '../../src/reports/accuracyChart.js';
import { niceTicks } from '../../src/reports/axes.js';
import { dieChart } from '../../src/reports/dieChart.js';
import { rdChart } from '../../src/reports/rdChart.js';
import { sparsityChart } from '../../src/reports/sparsityChart.js';
import { escapeXml, num } from '../../src/reports/svg.js';
import { renderFigures } from '../../src/reports/write.js';
import { sampleReport } from './fixtures.js';
import { allElements, parseXml, type XmlElement } from './xml.js';

const NUMERIC = ['x', 'y', 'x1', 'y1', 'x2', 'y2', 'cx', 'cy', 'r', 'width', 'height', 'font-size', 'stroke-width'];

/** Throws unless every coordinate-like attribute holds finite numbers. */
function checkFinite(root: XmlElement): number {
  let checked = 0;
  for (const e of allElements(root)) {
    const numbers: string[] = [];
    for (const k of NUMERIC) if (k in e.attrs) numbers.push(e.attrs[k]);
    if (e.attrs.points) numbers.push(...e.attrs.points.split(/[\s,]+/));
    if (e.attrs.viewBox) numbers.push(...e.attrs.viewBox.split(/\s+/));
    const rot = e.attrs.transform?.match(/^rotate\(([^)]*)\)$/);
    if (e.attrs.transform && !rot) throw new Error(`unexpected transform ${e.attrs.transform}`);
    if (rot) numbers.push(...rot[1].trim().split(/\s+/));
    for (const v of numbers) {
      expect(v, `<${e.tag}> ${JSON.stringify(e.attrs)}`).toMatch(/^-?\d+(\.\d+)?$/);
      expect(Number.isFinite(Number(v))).toBe(true);
      checked++;
    }
  }
  return checked;
}

function bars(root: XmlElement): XmlElement[] {
  return allElements(root).filter((e) => e.tag === 'rect' && e.attrs.class === 'bar');
}

/** height / value is the same for every bar with a positive value (to the 0.01 px rounding). */
function expectProportional(list: XmlElement[]): void {
  const withValue = list.filter((b) => Number(b.attrs['data-value']) > 0);
  expect(withValue.length).toBeGreaterThan(1);
  const ratio = Number(withValue[0].attrs.height) / Number(withValue[0].attrs['data-value']);
  for (const b of withValue) expect(Number(b.attrs.height)).toBeCloseTo(ratio * Number(b.attrs['data-value']), 1);
  for (const b of list.filter((b) => Number(b.attrs['data-value']) === 0)) expect(Number(b.attrs.height)).toBe(0);
}

describe('report figures', () => {
  it('every figure is one well-formed standalone SVG document with finite coordinates', () => {
    const figures = renderFigures(sampleReport());
    expect(Object.keys(figures).sort()).toEqual(['accuracy', 'die', 'sparsity', 'teams']);
    for (const svg of Object.values(figures)) {
      expect(svg.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<svg ')).toBe(true);
      const root = parseXml(svg!);
      expect(root.tag).toBe('svg');
      expect(root.attrs.xmlns).toBe('http://www.w3.org/2000/svg');
      expect(root.children[0].tag).toBe('title');
      expect(checkFinite(root)).toBeGreaterThan(20);
      // Self-contained: nothing fetched from elsewhere.
      expect(svg).not.toMatch(/href|<script|@import|url\(/);
    }
  });

  it('escapes method names in labels, tooltips and data attributes', () => {
    const svg = accuracyChart(sampleReport());
    expect(svg).toContain('MAD &lt;&amp;&gt; &quot;x&quot;');
    expect(svg).not.toContain('MAD <&>');
    const root = parseXml(svg);
    const labels = allElements(root).filter((e) => e.tag === 'text').map((e) => e.text);
    expect(labels).toContain('MAD <&> "x"');
    const mad = bars(root).filter((b) => b.attrs['data-group'] === 'MAD <&> "x"');
    expect(mad.map((b) => b.attrs['data-series'])).toEqual(['Clean', 'PGD']);
    expect(escapeXml('a\u0001<b>\'&"')).toBe('a&lt;b&gt;&#39;&amp;&quot;');
  });

  it('Table 1 bars: one per value that ran, heights proportional to accuracy, a dash for each missing one', () => {
    const report = sampleReport();
    const root = parseXml(accuracyChart(report));
    const list = bars(root);
    const present = report.methods.flatMap((m) => [m.clean, m.pgd, m.aa, m.cw, m.df].filter((v) => v !== null));
    expect(list.length).toBe(present.length);
    expectProportional(list);
    const dense = list.filter((b) => b.attrs['data-group'] === 'AT (dense)');
    expect(dense.map((b) => Number(b.attrs['data-value']))).toEqual([0.8523, 0.4567, 0.4012, 0.4321, 0.5]);
    // Bars stand on the same baseline.
    const baselines = new Set(list.map((b) => (Number(b.attrs.y) + Number(b.attrs.height)).toFixed(1)));
    expect(baselines.size).toBe(1);
    const dashes = allElements(root).filter((e) => e.attrs.class === 'missing');
    expect(dashes.length).toBe(report.methods.length * 5 - present.length);
    expect(dashes.every((d) => d.text === '—')).toBe(true);
  });

  it('leaves out an attack no method ran', () => {
    const report = sampleReport();
    for (const m of report.methods) m.df = null;
    const root = parseXml(accuracyChart(report));
    expect(new Set(bars(root).map((b) => b.attrs['data-series']))).toEqual(new Set(['Clean', 'PGD', 'AA', 'CW']));
  });

  it('DIE figure: histogram shares and the accuracy bars are proportional', () => {
    const die = sampleReport().die!;
    const root = parseXml(dieChart(die));
    const list = bars(root);
    const hist = list.filter((b) => !b.attrs['data-series']);
    expect(hist.map((b) => Number(b.attrs['data-value']))).toEqual([0.6, 0.2, 0.2]);
    expectProportional(hist);
    const acc = list.filter((b) => b.attrs['data-series']);
    expect(acc.map((b) => `${b.attrs['data-group']}/${b.attrs['data-series']}=${b.attrs['data-value']}`)).toEqual([
      'Clean/EED w/o DIE (static)=0.84',
      'Clean/EED with DIE=0.845',
      'PGD/EED w/o DIE (static)=0.47',
      'PGD/EED with DIE=0.471',
    ]);
    expectProportional(acc);
  });

  it('RD figure: every team with a finite RD is a point, the chosen one ringed, the threshold drawn', () => {
    const report = sampleReport();
    const sel = report.teamSelection!;
    sel.teams[5].robustDiversity = null;
    const root = parseXml(rdChart(sel, report.sweep));
    const points = allElements(root).filter((e) => e.tag === 'circle' && e.attrs.class?.startsWith('team'));
    expect(points.length).toBe(sel.teams.length - 1);
    expect(points.filter((p) => p.attrs.class === 'team over').length).toBe(sel.teams.filter((t) => !t.fitsBudget).length);
    const chosen = allElements(root).filter((e) => e.attrs.class === 'chosen');
    expect(chosen.length).toBe(1);
    expect(chosen[0].children[0].text).toContain('HYDRA #1, BNAP #1');
    // The threshold line sits at RD 0.7 and the chosen team (RD 0.7) on it.
    const threshold = allElements(root).find((e) => e.attrs.class === 'threshold')!;
    expect(Number(chosen[0].attrs.cy)).toBeCloseTo(Number(threshold.attrs.y1), 1);
    checkFinite(root);
  });

  it('RD figure: affordable teams with a member below the accuracy gap are drawn apart, with a legend entry', () => {
    const report = sampleReport();
    const sel = report.teamSelection!;
    const plain = allElements(parseXml(rdChart(sel, report.sweep)));
    expect(plain.some((e) => e.attrs.class === 'team ineligible')).toBe(false);
    for (const t of sel.teams) t.eligible = !t.members.includes(3);
    const root = parseXml(rdChart(sel, report.sweep));
    const classes = allElements(root).filter((e) => e.tag === 'circle' && e.attrs.class?.startsWith('team')).map((e) => e.attrs.class);
    const ineligible = sel.teams.filter((t) => t.fitsBudget && t.members.includes(3)).length;
    expect(ineligible).toBeGreaterThan(0);
    expect(classes.filter((c) => c === 'team ineligible').length).toBe(ineligible);
    expect(classes.filter((c) => c === 'team fits').length).toBe(sel.teams.filter((t) => t.fitsBudget && !t.members.includes(3)).length);
    expect(allElements(root).some((e) => e.text?.includes('below the accuracy gap'))).toBe(true);
    checkFinite(root);
  });

  it('sparsity figure: one line per method through its points, sorted by sparsity', () => {
    const series = sampleReport().sweep!.robustness;
    const root = parseXml(sparsityChart(series));
    const lines = allElements(root).filter((e) => e.attrs.class === 'series');
    expect(lines.length).toBe(2);
    const xs = lines[1].attrs.points.split(' ').map((p) => Number(p.split(',')[0]));
    expect(xs[0]).toBeLessThan(xs[1]);
    expect(allElements(root).filter((e) => e.tag === 'circle').length).toBe(5);
  });

  it('the XML reader itself rejects what is not well-formed', () => {
    for (const bad of ['<a><b></a></b>', '<a>x & y</a>', '<a t="<"/>', '<a t=1/>', '<a t="1" t="2"/>', '<a>', '<a/><b/>', '<a>1 < 2</a>'])
      expect(() => parseXml(bad), bad).toThrow(/xml: /);
    expect(parseXml('<a t="&lt;&amp;">x &gt; y<b/></a>')).toEqual({
      tag: 'a',
      attrs: { t: '<&' },
      text: 'x > y',
      children: [{ tag: 'b', attrs: {}, text: '', children: [] }],
    });
  });

  it('refuses a non-finite coordinate instead of writing a figure that will not render', () => {
    expect(() => num(Number.NaN, 'bar height')).toThrow(/bar height must be a finite number, got NaN/);
    expect(num(-0.001)).toBe('0');
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.5, 0.99, 5)).toEqual([0.5, 0.6, 0.7, 0.8, 0.9, 1]);
    expect(niceTicks(0.7, 0.7)).toEqual(expect.arrayContaining([0.7]));
  });
});
