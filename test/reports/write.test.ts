// writeReport: the folder holds report.json, report.md and the figures report.md links; a bad
// report is refused (naming the field) before anything is written.

import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkReport } from '../../src/reports/checkReport.js';
import { writeReport } from '../../src/reports/write.js';
import { sampleReport } from './fixtures.js';
import { parseXml } from './xml.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'eed-report-'));
}

describe('writeReport', () => {
  it('writes report.json, report.md and every figure report.md links to', async () => {
    const dir = join(tempDir(), 'nested', 'report');
    const written = await writeReport(dir, sampleReport());
    expect(readdirSync(dir).sort()).toEqual(['accuracy.svg', 'die.svg', 'report.json', 'report.md', 'sparsity.svg', 'teams.svg']);
    expect(written.map((p) => p.slice(dir.length + 1))).toEqual(['accuracy.svg', 'die.svg', 'teams.svg', 'sparsity.svg', 'report.json', 'report.md']);
    const md = readFileSync(join(dir, 'report.md'), 'utf8');
    const links = [...md.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)].map((m) => m[1]);
    expect(links).toEqual(['accuracy.svg', 'die.svg', 'teams.svg', 'sparsity.svg']);
    for (const l of links) parseXml(readFileSync(join(dir, l), 'utf8'));
    const back = checkReport(JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')));
    expect(back).toEqual(sampleReport());
  });

  it('removes a figure a previous run left when this report has no data for it', async () => {
    const dir = tempDir();
    await writeReport(dir, sampleReport());
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    await writeReport(dir, { ...sampleReport(), die: null, sweep: null });
    expect(readdirSync(dir).sort()).toEqual(['accuracy.svg', 'notes.txt', 'report.json', 'report.md', 'teams.svg']);
    expect(readFileSync(join(dir, 'report.md'), 'utf8')).not.toContain('die.svg');
  });

  it('refuses a report with a bad field before writing anything', async () => {
    const dir = join(tempDir(), 'out');
    const bad = sampleReport();
    bad.methods[2].pgd = Number.NaN;
    await expect(writeReport(dir, bad)).rejects.toThrow(/writeReport\(.*out\): methods\[2\]\.pgd: expected a fraction in \[0, 1\], got NaN/);
    expect(existsSync(dir)).toBe(false);
  });
});

describe('checkReport', () => {
  const broken = (edit: (r: ReturnType<typeof sampleReport>) => void) => {
    const r = sampleReport();
    edit(r);
    return () => checkReport(JSON.parse(JSON.stringify(r)), 'report.json');
  };

  it('names the field and what was expected', () => {
    expect(broken((r) => ((r as { schema: string }).schema = 'v0'))).toThrow(/report\.json: schema: expected "eed-report\/1", got "v0"/);
    expect(broken((r) => (r.methods[0].clean = 1.2))).toThrow(/methods\[0\]\.clean: expected a fraction in \[0, 1\], got 1\.2/);
    expect(broken((r) => (r.methods[1].score = null))).toThrow(/methods\[1\]\.score: expected one of erm, ase, bnsf, nis, got null/);
    expect(broken((r) => (r.methods[0].parameters.nonZero = 10 ** 6))).toThrow(/methods\[0\]\.parameters\.nonZero: expected at most parameters\.total \(94186\)/);
    expect(broken((r) => (r.methods[0].speedUp = 0))).toThrow(/methods\[0\]\.speedUp: expected a finite number >= /);
    expect(broken((r) => r.die!.membersUsedHistogram.pop())).toThrow(/die\.membersUsedHistogram: expected 3 entries/);
    expect(broken((r) => (r.teamSelection!.teams[0].members = [0, 9]))).toThrow(/teamSelection\.teams\[0\]\.members\[1\]: expected a pool index below 4, got 9/);
    expect(broken((r) => (r.teamSelection!.teams[0].chosen = true))).toThrow(/teamSelection\.teams\[0\]\.members: expected the members of teamSelection\.chosen \(0,2\) on the team marked chosen, got "0,1"/);
    expect(broken((r) => (r.teamSelection!.chosen = [0, 3]))).toThrow(/teamSelection\.teams\[1\]\.members: expected the members of teamSelection\.chosen \(0,3\)/);
    expect(broken((r) => (r.teamSelection!.accuracyGap = 5))).toThrow(/teamSelection\.accuracyGap: expected a fraction in \[0, 1\], got 5/);
    expect(broken((r) => ((r.teamSelection!.teams[2] as { eligible: unknown }).eligible = 'yes'))).toThrow(/teamSelection\.teams\[2\]\.eligible: expected true or false, got "yes"/);
    expect(broken((r) => (r.sweep!.robustness[0].points[0].sparsity = -0.1))).toThrow(/sweep\.robustness\[0\]\.points\[0\]\.sparsity: expected a fraction/);
    expect(broken((r) => (r.ensembleTraining!.selectedEpoch = 3))).toThrow(/ensembleTraining\.selectedEpoch: expected at most ensembleTraining\.epochs \(2\), got 3/);
    expect(broken((r) => r.ensembleTraining!.heldOutPgd.pop())).toThrow(/ensembleTraining\.heldOutPgd: expected 3 entries \(before training and after each epoch\)/);
    expect(broken((r) => (r.ensembleTraining!.heldOutPgd[0] = 2))).toThrow(/ensembleTraining\.heldOutPgd\[0\]: expected a fraction in \[0, 1\], got 2/);
    expect(broken((r) => ((r.run as { stages: unknown }).stages = {}))).toThrow(/run\.stages: expected an array, got an object/);
    expect(() => checkReport(null)).toThrow(/EED report: report: expected an object, got null/);
  });
});
