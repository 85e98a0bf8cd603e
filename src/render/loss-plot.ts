/**
 * The loss curve of a run as an SVG line chart (or a PNG of it): total loss against the global
 * iteration number, on a log-scale y axis because the loss falls by orders of magnitude, with a
 * dashed line wherever the run moved to the next (larger) scale, where the loss jumps.
 *
 * Hand-written SVG rather than a charting library: one polyline, a few ticks and a legend are
 * less code than a dependency, and sharp (librsvg) turns the same text into a PNG.
 */
import { extname } from 'node:path';
import sharp from 'sharp';
import { ImageError, OptionError } from '../errors.js';
import { writeFileAtomic } from '../fs/atomic.js';
import type { ProgressEvent } from '../progress.js';
import { SVG_FONT_FAMILY, escapeXml } from './svg.js';

export interface LossPoint {
  /** Global iteration number: 1-based, counting on across scales. */
  iteration: number;
  /** 1-based scale the iteration ran at. */
  scale: number;
  loss: number;
  content: number;
  style: number;
  tv: number;
}

export interface LossPlotOptions {
  /** Picture size in pixels (SVG user units). Defaults 800 × 450. */
  width?: number;
  height?: number;
  title?: string;
}

const MARGIN = { left: 72, right: 24, top: 20, bottom: 48 };
/** Extra top margin for a title line. */
const TITLE_BAND = 24;
/** More decade ticks than this crowd the axis; every k-th decade is labelled instead. */
const MAX_Y_TICKS = 8;
const TARGET_X_TICKS = 6;

/**
 * Collects LossPoints from a run's progress events, numbering iterations across scales (the
 * events count from 1 again at each scale).
 */
export function createLossRecorder(): { onProgress(e: ProgressEvent): void; readonly points: LossPoint[] } {
  const points: LossPoint[] = [];
  return {
    points,
    onProgress(e) {
      if (e.type !== 'iteration') return;
      points.push({ iteration: points.length + 1, scale: e.scale, loss: e.loss, content: e.content, style: e.style, tv: e.tv });
    },
  };
}

/**
 * The chart as SVG text. Points whose loss is not a positive finite number cannot sit on a log
 * axis and are left out of the line (the line joins its neighbours).
 */
export function lossPlotSvg(points: readonly LossPoint[], opts: LossPlotOptions = {}): string {
  const width = checkSize('lossPlot.width', opts.width ?? 800);
  const height = checkSize('lossPlot.height', opts.height ?? 450);
  const title = opts.title?.trim() ? opts.title.trim() : undefined;
  const sorted = [...points].sort((a, b) => a.iteration - b.iteration);
  const plotted = sorted.filter((p) => Number.isFinite(p.loss) && p.loss > 0 && Number.isFinite(p.iteration));

  // Plot area in pixels.
  const x0 = MARGIN.left;
  const x1 = width - MARGIN.right;
  const y0 = MARGIN.top + (title ? TITLE_BAND : 0);
  const y1 = height - MARGIN.bottom;

  // x: the iterations' range (widened when there is a single one, so it lands mid-axis).
  let xmin = plotted.length ? plotted[0].iteration : 0;
  let xmax = plotted.length ? plotted[plotted.length - 1].iteration : 1;
  if (xmax === xmin) [xmin, xmax] = [xmin - 1, xmax + 1];
  const xPos = (it: number) => x0 + ((it - xmin) / (xmax - xmin)) * (x1 - x0);

  // y: whole decades around the losses, so ticks fall on powers of ten.
  const logs = plotted.map((p) => Math.log10(p.loss));
  let lo = logs.length ? Math.floor(Math.min(...logs)) : 0;
  let hi = logs.length ? Math.ceil(Math.max(...logs)) : 1;
  if (hi === lo) hi = lo + 1;
  const yPos = (v: number) => y1 - ((Math.log10(v) - lo) / (hi - lo)) * (y1 - y0);

  const parts: string[] = [];
  parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  if (title) parts.push(`<text x="${width / 2}" y="${MARGIN.top + 6}" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`);

  // y grid and labels: every decade (or every k-th when there are many), minor lines at 2…9 when few.
  const decades = hi - lo;
  const yStep = Math.ceil(decades / MAX_Y_TICKS);
  for (let k = lo; k <= hi; k++) {
    const y = yPos(10 ** k);
    if ((k - lo) % yStep === 0) {
      parts.push(`<line class="grid" x1="${x0}" y1="${f(y)}" x2="${x1}" y2="${f(y)}" stroke="#d0d0d0"/>`);
      parts.push(`<text class="ytick" x="${x0 - 8}" y="${f(y + 4)}" text-anchor="end" font-size="12">${decadeLabel(k)}</text>`);
    }
    if (decades <= 3 && k < hi) {
      for (let m = 2; m <= 9; m++) parts.push(`<line x1="${x0}" y1="${f(yPos(m * 10 ** k))}" x2="${x1}" y2="${f(yPos(m * 10 ** k))}" stroke="#efefef"/>`);
    }
  }

  // x ticks at a "nice" step (1, 2 or 5 × 10ⁿ iterations).
  const xStep = niceStep((xmax - xmin) / TARGET_X_TICKS);
  for (let t = Math.ceil(xmin / xStep) * xStep; t <= xmax; t += xStep) {
    const x = xPos(t);
    parts.push(`<line x1="${f(x)}" y1="${y1}" x2="${f(x)}" y2="${y1 + 5}" stroke="#404040"/>`);
    parts.push(`<text class="xtick" x="${f(x)}" y="${y1 + 18}" text-anchor="middle" font-size="12">${t}</text>`);
  }

  // Scale changes: dashed lines halfway between the last iteration of one scale and the first of the next.
  let scaleChanges = 0;
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].scale === sorted[i - 1].scale) continue;
    scaleChanges++;
    const x = xPos((sorted[i].iteration + sorted[i - 1].iteration) / 2);
    parts.push(`<line class="scale-change" x1="${f(x)}" y1="${y0}" x2="${f(x)}" y2="${y1}" stroke="#808080" stroke-dasharray="5 4"/>`);
    parts.push(`<text x="${f(x + 4)}" y="${y0 + 12}" font-size="11" fill="#606060">scale ${sorted[i].scale}</text>`);
  }

  // Axes.
  parts.push(`<path d="M${x0},${y0} V${y1} H${x1}" fill="none" stroke="#404040"/>`);
  parts.push(`<text x="${(x0 + x1) / 2}" y="${height - 10}" text-anchor="middle" font-size="13">iteration</text>`);
  parts.push(`<text transform="translate(16 ${(y0 + y1) / 2}) rotate(-90)" text-anchor="middle" font-size="13">loss (log scale)</text>`);

  if (plotted.length > 0) {
    const coords = plotted.map((p) => `${f(xPos(p.iteration))},${f(yPos(p.loss))}`).join(' ');
    parts.push(`<polyline class="loss" points="${coords}" fill="none" stroke="#1f5fbf" stroke-width="1.8" stroke-linejoin="round"/>`);
  } else {
    parts.push(`<text x="${(x0 + x1) / 2}" y="${(y0 + y1) / 2}" text-anchor="middle" font-size="14" fill="#808080">no finite loss values</text>`);
  }

  // Legend, top right inside the plot, on white so lines behind it do not cross the text.
  const entries = [`<line x1="0" y1="0" x2="24" y2="0" stroke="#1f5fbf" stroke-width="1.8"/><text x="30" y="4" font-size="12">total loss</text>`];
  if (scaleChanges > 0) entries.push(`<line x1="0" y1="0" x2="24" y2="0" stroke="#808080" stroke-dasharray="5 4"/><text x="30" y="4" font-size="12">scale change</text>`);
  const legendWidth = 120;
  const legendHeight = 10 + 18 * entries.length;
  parts.push(
    `<g class="legend" transform="translate(${x1 - legendWidth - 8} ${y0 + 8})">` +
      `<rect width="${legendWidth}" height="${legendHeight}" fill="#ffffff" stroke="#c0c0c0"/>` +
      entries.map((e, i) => `<g transform="translate(8 ${14 + 18 * i})">${e}</g>`).join('') +
      `</g>`,
  );

  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">\n` +
    `<g font-family="${escapeXml(SVG_FONT_FAMILY)}" fill="#202020">\n${parts.join('\n')}\n</g>\n</svg>\n`
  );
}

/** Write the chart by extension: `.svg` as text, `.png` rendered by sharp; atomically either way. */
export async function writeLossPlot(path: string, points: readonly LossPoint[], opts: LossPlotOptions = {}): Promise<void> {
  const ext = extname(path).toLowerCase();
  if (ext !== '.svg' && ext !== '.png') {
    throw new ImageError(`cannot write loss plot ${path}: unknown extension ${ext ? JSON.stringify(ext) : '(none)'}; accepted: .svg, .png`, path);
  }
  const svg = lossPlotSvg(points, opts);
  const bytes = ext === '.svg' ? svg : await sharp(Buffer.from(svg)).png({ compressionLevel: 6 }).toBuffer();
  try {
    await writeFileAtomic(path, bytes);
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new ImageError(`cannot write loss plot ${path}: ${reason}`, path, { cause: err });
  }
}

/** `1e+5`, `1e-3`: the decade 10^k as it is written in the progress output. */
function decadeLabel(k: number): string {
  return (10 ** k).toExponential(0);
}

/** The smallest of 1, 2, 5 × 10ⁿ (at least 1: iterations are whole) that is ≥ raw. */
function niceStep(raw: number): number {
  if (!(raw > 1)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * magnitude >= raw) return m * magnitude;
  return 10 * magnitude;
}

function checkSize(option: string, value: number): number {
  if (!(Number.isInteger(value) && value >= 200 && value <= 8192)) throw new OptionError(option, 'an integer from 200 to 8192', value);
  return value;
}

/** Coordinates with two decimals: enough for any screen, and keeps the SVG small. */
function f(v: number): string {
  return String(Math.round(v * 100) / 100);
}
