// Progress on stderr: an in-place bar with throughput and ETA on a terminal, plain lines (every
// 10% and at the end) when stderr is a file or pipe, so logs stay readable.

export interface ProgressOptions {
  label: string;
  total: number;
  /** Unit of the throughput figure, e.g. 'img'. */
  unit?: string;
  /** Units already done before this process started (a resumed run); not counted in the rate. */
  initial?: number;
  stream?: NodeJS.WriteStream;
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

export class Progress {
  private done = 0;
  private readonly start = performance.now();
  private lastDecile = -1;
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;

  constructor(private readonly opts: ProgressOptions) {
    this.done = opts.initial ?? 0;
    this.stream = opts.stream ?? process.stderr;
    this.tty = Boolean(this.stream.isTTY);
  }

  /** Adds `n` finished units; `extra` is appended (e.g. the running loss). */
  tick(n = 1, extra = ''): void {
    this.done = Math.min(this.opts.total, this.done + n);
    const elapsed = (performance.now() - this.start) / 1000;
    const rate = (this.done - (this.opts.initial ?? 0)) / Math.max(elapsed, 1e-9);
    const eta = (this.opts.total - this.done) / Math.max(rate, 1e-9);
    const pct = this.opts.total ? this.done / this.opts.total : 1;
    const rateStr = `${rate.toFixed(1)} ${this.opts.unit ?? 'it'}/s`;
    if (this.tty) {
      const width = 24;
      const fill = Math.round(pct * width);
      const bar = `${'█'.repeat(fill)}${'░'.repeat(width - fill)}`;
      this.stream.write(
        `\r${this.opts.label} ${bar} ${(pct * 100).toFixed(0).padStart(3)}% ${this.done}/${this.opts.total} ${rateStr} ETA ${fmtTime(eta)} ${extra}\x1b[K`,
      );
      if (this.done === this.opts.total) this.stream.write('\n');
      return;
    }
    const decile = Math.floor(pct * 10);
    if (decile !== this.lastDecile || this.done === this.opts.total) {
      this.lastDecile = decile;
      this.stream.write(
        `${this.opts.label} ${(pct * 100).toFixed(0)}% (${this.done}/${this.opts.total}) ${rateStr} elapsed ${fmtTime(elapsed)} ETA ${fmtTime(eta)} ${extra}\n`,
      );
    }
  }
}
