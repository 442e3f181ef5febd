// A minimal SVG writer for the report figures: self-contained documents (no scripts, no external
// fonts or stylesheets) that any browser or markdown viewer shows. Every attribute value and text
// node goes through escaping, and every coordinate through `num`, which refuses NaN and ±Infinity:
// a non-finite coordinate would make the whole figure silently fail to render.

export type AttrValue = string | number | undefined;
export type Attrs = Record<string, AttrValue>;

/** Characters XML 1.0 does not allow at all (C0 controls except tab, newline, return). */
const INVALID_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;

export function escapeXml(text: string): string {
  return text
    .replace(INVALID_XML, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** A coordinate or length, rounded to 0.01 px; throws on a non-finite value (names `what`). */
export function num(v: number, what = 'coordinate'): string {
  if (!Number.isFinite(v)) throw new Error(`svg: ${what} must be a finite number, got ${v}`);
  const r = Math.round(v * 100) / 100;
  return String(Object.is(r, -0) ? 0 : r);
}

function attrs(a: Attrs): string {
  let out = '';
  for (const [k, v] of Object.entries(a)) {
    if (v === undefined) continue;
    out += ` ${k}="${typeof v === 'number' ? num(v, `attribute ${k}`) : escapeXml(v)}"`;
  }
  return out;
}

/** An element; `children` are already-built markup (use text() for text). */
export function el(tag: string, a: Attrs = {}, children: readonly string[] = []): string {
  return children.length ? `<${tag}${attrs(a)}>${children.join('')}</${tag}>` : `<${tag}${attrs(a)}/>`;
}

export function text(x: number, y: number, content: string, a: Attrs = {}): string {
  return `<text${attrs({ x, y, ...a })}>${escapeXml(content)}</text>`;
}

/** A <title> child: the tooltip a viewer shows on hover. */
export function title(content: string): string {
  return `<title>${escapeXml(content)}</title>`;
}

export function line(x1: number, y1: number, x2: number, y2: number, a: Attrs = {}): string {
  return el('line', { x1, y1, x2, y2, ...a });
}

export function polyline(points: readonly [number, number][], a: Attrs = {}): string {
  return el('polyline', { points: points.map(([x, y]) => `${num(x)},${num(y)}`).join(' '), fill: 'none', ...a });
}

/** A complete standalone SVG document. */
export function svgDocument(width: number, height: number, titleText: string, body: readonly string[]): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    el(
      'svg',
      {
        xmlns: 'http://www.w3.org/2000/svg',
        width,
        height,
        viewBox: `0 0 ${num(width)} ${num(height)}`,
        'font-family': 'Helvetica, Arial, sans-serif',
        'font-size': 12,
      },
      [title(titleText), el('rect', { x: 0, y: 0, width, height, fill: 'white' }), ...body],
    ) +
    '\n'
  );
}

/** A colour-blind-safe palette (Okabe–Ito). */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];

export function colour(i: number): string {
  return PALETTE[i % PALETTE.length];
}

/** Rough width of a label in px at `fontSize` (no font metrics without a renderer). */
export function textWidth(s: string, fontSize = 12): number {
  return s.length * fontSize * 0.65;
}
