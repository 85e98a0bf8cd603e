/**
 * The loss chart: total loss per iteration on a log scale (it falls over orders of magnitude),
 * one colour band per scale, drawn on a canvas sized for the screen's pixel ratio.
 */
import type { LossPoint } from './types';

export class LossChart {
  private points: LossPoint[] = [];
  private queued = false;

  constructor(private readonly canvas: HTMLCanvasElement) {
    new ResizeObserver(() => this.redraw()).observe(canvas);
  }

  set(points: readonly LossPoint[]): void {
    this.points = [...points];
    this.describe();
    this.redraw();
  }

  add(point: LossPoint): void {
    this.points.push(point);
    this.describe();
    this.redraw();
  }

  /** The chart in words for screen readers, and its first and last values in full precision as data attributes. */
  private describe(): void {
    const first = this.points[0];
    const last = this.points[this.points.length - 1];
    this.canvas.dataset.firstLoss = first ? String(first.loss) : '';
    this.canvas.dataset.lastLoss = last ? String(last.loss) : '';
    this.canvas.setAttribute(
      'aria-label',
      first ? `Loss per iteration: from ${first.loss.toPrecision(3)} to ${last.loss.toPrecision(3)} over ${this.points.length} iterations` : 'Loss per iteration',
    );
  }

  /** Draw at most once per animation frame, however fast iterations arrive. */
  private redraw(): void {
    if (this.queued) return;
    this.queued = true;
    requestAnimationFrame(() => {
      this.queued = false;
      this.draw();
    });
  }

  private draw(): void {
    const { canvas } = this;
    const ratio = window.devicePixelRatio || 1;
    const cssWidth = canvas.clientWidth;
    const cssHeight = canvas.clientHeight;
    if (cssWidth === 0 || cssHeight === 0) return;
    canvas.width = Math.round(cssWidth * ratio);
    canvas.height = Math.round(cssHeight * ratio);
    const g = canvas.getContext('2d');
    if (!g) return;
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, cssWidth, cssHeight);
    const style = getComputedStyle(canvas);
    const ink = style.getPropertyValue('--chart-ink').trim() || '#555';
    const line = style.getPropertyValue('--chart-line').trim() || '#6d4aff';
    const band = style.getPropertyValue('--chart-band').trim() || 'rgba(0,0,0,0.05)';

    const pad = { left: 52, right: 10, top: 10, bottom: 22 };
    const w = cssWidth - pad.left - pad.right;
    const h = cssHeight - pad.top - pad.bottom;
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = ink;
    const finite = this.points.filter((p) => Number.isFinite(p.loss) && p.loss > 0);
    if (finite.length < 2) {
      g.textAlign = 'center';
      g.fillText(finite.length === 0 ? 'the loss will be plotted here' : 'collecting…', cssWidth / 2, cssHeight / 2);
      return;
    }
    const logs = finite.map((p) => Math.log10(p.loss));
    let lo = Math.min(...logs);
    let hi = Math.max(...logs);
    if (hi - lo < 0.1) [lo, hi] = [lo - 0.05, hi + 0.05];
    const x = (i: number) => pad.left + (i / (finite.length - 1)) * w;
    const y = (v: number) => pad.top + (1 - (v - lo) / (hi - lo)) * h;

    // Alternate bands mark the scales of a coarse-to-fine run.
    let start = 0;
    for (let i = 1; i <= finite.length; i++) {
      if (i === finite.length || finite[i].scale !== finite[start].scale) {
        if (finite[start].scale % 2 === 0) {
          g.fillStyle = band;
          g.fillRect(x(start), pad.top, x(i - 1) - x(start), h);
        }
        start = i;
      }
    }

    // Decade grid lines with labels (1e6, 1e7, …), or the ends when the range is under a decade.
    g.strokeStyle = band;
    g.fillStyle = ink;
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    const decades = Math.floor(hi) - Math.ceil(lo) >= 0 ? range(Math.ceil(lo), Math.floor(hi)) : [lo, hi];
    for (const d of decades) {
      g.beginPath();
      g.moveTo(pad.left, y(d));
      g.lineTo(pad.left + w, y(d));
      g.stroke();
      g.fillText(Number.isInteger(d) ? `1e${d}` : (10 ** d).toExponential(1), pad.left - 6, y(d));
    }
    g.textAlign = 'left';
    g.textBaseline = 'alphabetic';
    g.fillText(`${finite.length} iterations`, pad.left, cssHeight - 6);
    g.textAlign = 'right';
    g.fillText(`loss ${finite[finite.length - 1].loss.toExponential(3)}`, pad.left + w, cssHeight - 6);

    g.strokeStyle = line;
    g.lineWidth = 2;
    g.lineJoin = 'round';
    g.beginPath();
    logs.forEach((v, i) => (i === 0 ? g.moveTo(x(i), y(v)) : g.lineTo(x(i), y(v))));
    g.stroke();
  }
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}
