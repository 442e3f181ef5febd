// Number formatting shared by the markdown tables and the figures, so a value reads the same in
// both. Missing values (not run, not measured) are an em dash, never 0 or NaN.

export const MISSING = '—';

/** A fraction as a percentage without the sign: 0.8523 → "85.23" (`digits` decimals, default 2). */
export function percent(v: number | null | undefined, digits = 2): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return MISSING;
  return (v * 100).toFixed(digits);
}

/** A count in K/M/G with three significant digits: 93728 → "93.7K", 100000 → "100K"; below 1000 as is. */
export function compactCount(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return MISSING;
  const units = ['', 'K', 'M', 'G', 'T'];
  let k = 0;
  let scaled = Math.abs(v);
  while (scaled >= 1000 && k < units.length - 1) {
    scaled /= 1000;
    k++;
  }
  if (k === 0) return String(Math.round(v));
  // Rounding to three digits can reach 1000 (999950 → "1000K"): move up a unit then.
  let digits = Number(scaled.toPrecision(3));
  if (digits >= 1000 && k < units.length - 1) {
    digits = Number((digits / 1000).toPrecision(3));
    k++;
  }
  return `${v < 0 ? '-' : ''}${digits}${units[k]}`;
}

/** A speed-up factor: 2.314 → "2.31×". */
export function factor(v: number | null | undefined, digits = 2): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return MISSING;
  return `${v.toFixed(digits)}×`;
}

/** A plain number with fixed decimals, or the dash. */
export function fixed(v: number | null | undefined, digits: number): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return MISSING;
  return v.toFixed(digits);
}

/** Seconds as "12.3 s", "4m05s" or "1h02m". */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return MISSING;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s).padStart(2, '0')}s`;
}

/**
 * Text safe inside markdown (and a table cell): HTML-significant characters as entities, so a
 * name such as "a<b>" is shown rather than parsed as a tag; pipes escaped, line breaks flattened.
 */
export function cell(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|')
    .replace(/\r?\n/g, ' ');
}

/** Free text (paragraphs): HTML-significant characters as entities; line breaks kept. */
export function prose(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
