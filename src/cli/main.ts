/**
 * The `style-transfer` command: argument handling, progress display, output files and exit codes.
 * Exit codes: 0 done, 1 the run failed (bad image, weights, diverged, memory), 2 bad usage or
 * option, 130 interrupted (Ctrl-C; the current image is saved first).
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { AbortError, OptionError, RunError, StyleTransferError } from '../errors.js';
import type { RawImage } from '../image/image.js';
import { assertNotProtected, encodeImage, outputFormatFor } from '../image/io.js';
import type { StylizeOptions } from '../options.js';
import type { ProgressEvent } from '../progress.js';
import { stylize } from '../stylize.js';
import { flagForOption, helpText, parseCliArgs, UsageError, type CliArgs } from './args.js';
import { createLossRecorder, writeLossPlot } from './loss-plot.js';
import { createProgressReporter } from './progress-bar.js';
import { sheetPanels, sheetTitle, writeSheet } from './sheet.js';

export interface CliIO {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Aborts the run the way Ctrl-C does (the entry point wires SIGINT to it). */
  readonly signal?: AbortSignal;
}

export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'weights') {
    const { runWeightsCommand } = await import('./weights-command.js');
    return runWeightsCommand(rest, io);
  }
  if (command === 'serve') {
    const { runServeCommand } = await import('./serve-command.js');
    return runServeCommand(rest, io);
  }
  if (command === 'worker') {
    const { runWorkerCommand } = await import('./worker-command.js');
    return runWorkerCommand(rest, io);
  }
  let args: CliArgs;
  try {
    args = parseCliArgs(argv);
  } catch (err) {
    return fail(io, err);
  }
  if (args.help) {
    io.stdout.write(`${helpText()}\n`);
    return 0;
  }
  if (args.version) {
    io.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  try {
    return await stylizeCommand(args, io);
  } catch (err) {
    return fail(io, err);
  }
}

async function stylizeCommand(args: CliArgs, io: CliIO): Promise<number> {
  const [content, ...styles] = args.positionals;
  if (!content || styles.length === 0) throw new UsageError('arguments', '<content> <style> [<style>...] -o <output> (see --help)', args.positionals.join(' ') || undefined);
  if (!args.output) throw new UsageError('--output', 'an output file, e.g. -o out.png', undefined);
  const inputs = [content, ...styles, ...(typeof args.options.init === 'string' ? [args.options.init] : [])];
  // Check every output before spending minutes on the run: known format, not one of the inputs.
  for (const out of [args.output, args.sheet].filter((p): p is string => p !== undefined)) {
    outputFormatFor(out);
    await assertNotProtected(out, inputs);
  }
  if (args.lossPlot && !['.svg', '.png'].includes(extname(args.lossPlot).toLowerCase())) throw new UsageError('--loss-plot', 'a .svg or .png file', args.lossPlot);
  if (args.saveEvery !== undefined && !(args.saveEvery >= 1)) throw new UsageError('--save-every', 'a positive integer', args.saveEvery);

  const tty = io.stderr.isTTY === true;
  const reporter = args.quiet || args.json ? undefined : createProgressReporter(io.stderr, { tty, width: io.stderr.columns });
  const losses = createLossRecorder();
  const pending: Promise<void>[] = [];
  let latest: (() => RawImage) | undefined;

  const onProgress = (e: ProgressEvent) => {
    reporter?.onProgress(e);
    losses.onProgress(e);
    if (e.type !== 'iteration') return;
    latest = e.preview;
    if (args.json) {
      const { scale, width, height, iteration, loss, content: c, style: s, tv, ms } = e;
      io.stdout.write(`${JSON.stringify({ type: 'iteration', scale, width, height, iteration, loss, content: c, style: s, tv, ms: Math.round(ms * 10) / 10 })}\n`);
    }
    if (args.saveEvery && e.iteration % args.saveEvery === 0) {
      pending.push(encodeImage(e.preview(), framePath(args.output!, e.scale, e.iteration), { protect: inputs }));
    }
  };

  const options: StylizeOptions = { ...args.options, content, style: styles, onProgress, signal: io.signal };
  try {
    const result = await stylize(options);
    await encodeImage(result.image, args.output, { protect: inputs });
    await Promise.all(pending);
    if (args.sheet) {
      const title = sheetTitle({ preset: result.options.preset, width: result.width, height: result.height, iterations: result.iterations, seconds: result.seconds });
      await writeSheet(args.sheet, sheetPanels(result.content, result.styles, result.image), { title, protect: inputs });
    }
    if (args.lossPlot) await writeLossPlot(args.lossPlot, losses.points, { title: 'loss' });
    reporter?.finish();
    if (args.json) io.stdout.write(`${JSON.stringify({ type: 'done', output: args.output, seconds: Math.round(result.seconds * 100) / 100 })}\n`);
    else if (!args.quiet) io.stderr.write(`wrote ${args.output} (${result.width}x${result.height})\n`);
    return 0;
  } catch (err) {
    reporter?.finish();
    await Promise.allSettled(pending);
    // Keep what was made so far: an interrupted or diverged run still leaves its last good image.
    const partial = err instanceof AbortError || err instanceof RunError ? (err.partial ?? latest?.()) : undefined;
    if (partial) {
      await encodeImage(partial, args.output, { protect: inputs });
      if (args.lossPlot && losses.points.length) await writeLossPlot(args.lossPlot, losses.points, { title: 'loss' }).catch(() => undefined);
    }
    if (err instanceof AbortError) {
      io.stderr.write(`interrupted${partial ? `; saved the current image to ${args.output}` : ''}\n`);
      return 130;
    }
    if (err instanceof RunError && err.code === 'ERR_DIVERGED') {
      throw new RunError(`${err.message}; the last good image was kept in ${args.output}; try a smaller --learning-rate or weights`, err.code);
    }
    throw err;
  }
}

/** out.png → out-s2-0150.png */
export function framePath(output: string, scale: number, iteration: number): string {
  const ext = extname(output);
  return `${output.slice(0, output.length - ext.length)}-s${scale}-${String(iteration).padStart(4, '0')}${ext}`;
}

function fail(io: CliIO, err: unknown): number {
  if (err instanceof StyleTransferError) {
    let message = err.message;
    // Name the flag the user typed, not the library's option key.
    if (err instanceof OptionError) message = message.replace(/^option (\S+):/, (_, key: string) => `${key.startsWith('-') ? key : flagForOption(key)}:`);
    io.stderr.write(`error: ${message}\n`);
    return err instanceof OptionError ? 2 : 1;
  }
  // Anything else is a bug in this program, not the user's fault: still one line, plus where to look.
  const message = err instanceof Error ? err.message : String(err);
  io.stderr.write(`error: ${message.split('\n')[0]} (unexpected; set STYLE_TRANSFER_DEBUG=1 for details)\n`);
  if (process.env.STYLE_TRANSFER_DEBUG) io.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
  return 1;
}

/** This package's version, from its package.json: two folders up from src/cli, three from dist/src/cli. */
function packageVersion(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'style-transfer' && pkg.version) return pkg.version;
    } catch {
      // not there: try the next level
    }
  }
  return 'unknown';
}
