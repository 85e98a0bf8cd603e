/**
 * Turns the pipeline's ProgressEvents into terminal output.
 *
 * On a TTY the current state is one line rewritten in place (`\r` + clear-to-end-of-line), at most
 * 10 times a second: an L-BFGS iteration on a small image can take a few milliseconds, and
 * redrawing faster than that only burns CPU and flickers. Each scale's line is kept (ended with
 * `\n`) when the next scale starts, so the final loss of every scale stays on screen.
 *
 * Elsewhere (a log file, CI) `\r` would pile up into one enormous line, so instead it prints one
 * line when a scale starts and one each time another ~10 % of the scale's iterations is done.
 */
import { basename } from 'node:path';
import type { IterationProgress, ProgressEvent } from '../progress.js';
import { formatDuration, formatLoss, formatMebibytes, formatSecondsPerIteration } from '../format.js';

export interface ProgressReporterOptions {
  /** Rewrite one line in place (a terminal) or print whole lines (a log). */
  tty: boolean;
  /** Terminal columns; a TTY line is cut to width−1 characters, since a line that wraps can no longer be rewritten with `\r`. Default: the stream's `columns`, else 100. */
  width?: number;
  /** Milliseconds clock for throttling (injectable for tests). Default performance.now. */
  now?: () => number;
}

export interface ProgressReporter {
  onProgress(e: ProgressEvent): void;
  /** Close any line still being rewritten (call it on errors and aborts too; it is idempotent). */
  finish(): void;
}

type IterationEvent = IterationProgress;
type DownloadEvent = Extract<ProgressEvent, { type: 'download' }>;

/** Minimum milliseconds between two TTY redraws (≤ 10 redraws/s). */
export const REDRAW_INTERVAL_MS = 100;
/** Cells in the TTY progress bar. */
const BAR_CELLS = 20;
/** How each pass of a tiled evaluation is named on the progress line. */
const TILE_PASS = { sums: 'loss', gradient: 'gradient', targets: 'targets' } as const;
/** Non-TTY downloads of unknown size print a line per this many bytes. */
const UNKNOWN_SIZE_STEP = 100 * 2 ** 20;

export function createProgressReporter(stream: NodeJS.WriteStream | NodeJS.WritableStream, opts: ProgressReporterOptions): ProgressReporter {
  const now = opts.now ?? (() => performance.now());
  const columns = opts.width ?? ('columns' in stream && typeof stream.columns === 'number' && stream.columns > 0 ? stream.columns : 100);
  const tty = opts.tty;

  /** A TTY line is on screen and not yet ended with `\n`. */
  let lineOpen = false;
  /** Text that the throttle held back, drawn before the line is closed so it never shows a stale state. */
  let pending: string | undefined;
  let lastDraw = -Infinity;
  /** Smoothed seconds per iteration: single iterations jitter too much to read. */
  let secondsPerIteration: number | undefined;
  /** Download being reported, so its line is closed (and, in logs, completed) exactly once. */
  let download: { url: string; step: number; received: number; done: boolean } | undefined;
  let finished = false;

  const write = (text: string) => void stream.write(text);

  /** Rewrite the TTY line now, or hold the text until the throttle allows (or the line closes). */
  const draw = (text: string, force = false) => {
    const t = now();
    if (!force && t - lastDraw < REDRAW_INTERVAL_MS) {
      pending = text;
      return;
    }
    write(`\r${fit(text, columns - 1)}\x1b[K`);
    lineOpen = true;
    pending = undefined;
    lastDraw = t;
  };

  const closeLine = () => {
    if (pending !== undefined) draw(pending, true);
    if (lineOpen) write('\n');
    lineOpen = false;
    pending = undefined;
    // The next line's first state is always worth drawing at once.
    lastDraw = -Infinity;
  };

  /** Print a whole line (either mode), after closing whatever TTY line is open. */
  const printLine = (text: string) => {
    closeLine();
    write(`${text}\n`);
  };

  /** A download ends either when it reports received === total or when something else happens. */
  const endDownload = () => {
    if (!download) return;
    const d = download;
    download = undefined;
    if (tty) closeLine();
    else if (!d.done) printLine(`downloaded ${basename(d.url)} ${formatMebibytes(d.received)} MiB`);
  };

  const onDownload = (e: DownloadEvent) => {
    if (download && download.url !== e.url) endDownload();
    const complete = e.total !== undefined && e.received >= e.total;
    if (tty) {
      download ??= { url: e.url, step: 0, received: 0, done: false };
      download.received = e.received;
      draw(downloadText(e), complete);
      if (complete) endDownload();
      return;
    }
    if (!download) {
      download = { url: e.url, step: 0, received: 0, done: false };
      printLine(`downloading ${e.url}${e.total !== undefined ? ` (${formatMebibytes(e.total)} MiB)` : ''}`);
    }
    download.received = e.received;
    // Logs get a line per 10 % (or per 100 MiB when the size is unknown), like the iterations.
    const step = e.total !== undefined && e.total > 0 ? Math.floor((10 * e.received) / e.total) : Math.floor(e.received / UNKNOWN_SIZE_STEP);
    if (step > download.step) {
      download.step = step;
      printLine(downloadText(e));
    }
    if (complete) {
      download.done = true;
      endDownload();
    }
  };

  const onIteration = (e: IterationEvent) => {
    const seconds = e.ms / 1000;
    secondsPerIteration = secondsPerIteration === undefined ? seconds : 0.8 * secondsPerIteration + 0.2 * seconds;
    if (tty) {
      draw(iterationText(e, secondsPerIteration, true));
      return;
    }
    // A line each time the iteration count crosses another tenth of the scale; the last iteration
    // always crosses one (10·N/N = 10), so the scale's final loss is always logged.
    const tenth = (i: number) => Math.floor((10 * i) / e.iterations);
    if (tenth(e.iteration) > tenth(e.iteration - 1)) printLine(iterationText(e, secondsPerIteration, false));
  };

  return {
    onProgress(e: ProgressEvent) {
      if (finished) return;
      if (e.type !== 'download') endDownload();
      switch (e.type) {
        case 'loading':
          printLine(e.message);
          break;
        case 'download':
          onDownload(e);
          break;
        case 'scale':
          secondsPerIteration = undefined;
          if (tty) {
            closeLine();
            draw(`${scaleText(e)} ${bar(0, e.iterations)} it 0/${e.iterations}`, true);
          } else {
            printLine(`${scaleText(e)}: ${e.iterations} iterations${(e.tiles ?? 1) > 1 ? ` in ${e.tiles} tiles` : ''}`);
          }
          break;
        case 'iteration':
          onIteration(e);
          break;
        case 'tile':
          // Large scales run in tiles: show where the iteration is, on a terminal only (logs get the iterations).
          if (tty) draw(`${scaleText(e)} ${bar(Math.max(0, e.iteration - 1), e.iterations)} it ${e.iteration}/${e.iterations}  ${TILE_PASS[e.pass]} tile ${e.tile}/${e.tiles}`);
          break;
        case 'done':
          printLine(`done in ${formatDuration(e.seconds)} (${e.iterations} iterations)`);
          finished = true;
          break;
      }
    },
    finish() {
      if (finished) return;
      endDownload();
      closeLine();
      finished = true;
    },
  };
}

function scaleText(e: { scale: number; scales: number; width: number; height: number }): string {
  return `scale ${e.scale}/${e.scales} ${e.width}x${e.height}`;
}

function iterationText(e: IterationEvent, secondsPerIteration: number, withBar: boolean): string {
  return (
    `${scaleText(e)} ${withBar ? `${bar(e.iteration, e.iterations)} ` : ''}it ${e.iteration}/${e.iterations}` +
    `  loss ${formatLoss(e.loss)}  (content ${formatLoss(e.content)}, style ${formatLoss(e.style)})` +
    `  ${formatSecondsPerIteration(secondsPerIteration)} s/it  ETA ${formatDuration(e.eta)}`
  );
}

function downloadText(e: DownloadEvent): string {
  const name = basename(e.url);
  if (e.total === undefined || e.total <= 0) return `downloading ${name} ${formatMebibytes(e.received)} MiB`;
  const percent = Math.min(100, Math.floor((100 * e.received) / e.total));
  return `downloading ${name} ${percent}% ${formatMebibytes(e.received)}/${formatMebibytes(e.total)} MiB`;
}

/** `[#####-----]`: done cells rounded down, so a full bar means really finished. */
export function bar(done: number, total: number, cells = BAR_CELLS): string {
  const filled = total > 0 ? Math.max(0, Math.min(cells, Math.floor((cells * done) / total))) : 0;
  return `[${'#'.repeat(filled)}${'-'.repeat(cells - filled)}]`;
}

function fit(text: string, max: number): string {
  return max > 0 && text.length > max ? text.slice(0, max) : text;
}
