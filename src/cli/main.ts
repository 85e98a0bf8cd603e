/**
 * The `style-transfer` command: argument handling, progress display, output files and exit codes.
 * Exit codes: 0 done, 1 the run failed (bad image, weights, diverged, memory), 2 bad usage or
 * option, 130 interrupted (Ctrl-C; the current image is saved first).
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { AbortError, RunError } from '../errors.js';
import type { RawImage } from '../image/image.js';
import { encodeImage, outputFormatFor } from '../image/io.js';
import type { StylizeOptions } from '../options.js';
import type { ProgressEvent } from '../progress.js';
import { stylize } from '../stylize.js';
import { createLossRecorder, writeLossPlot } from '../render/loss-plot.js';
import { sheetPanels, sheetTitle, writeSheet } from '../render/sheet.js';
import { helpText, parseCliArgs, UsageError, type CliArgs } from './args.js';
import { checkOutputPaths, framePath, type NamedPath } from './output-paths.js';
import { createProgressReporter } from './progress-bar.js';
import { reportError } from './report.js';

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
    return reportError(io.stderr, err);
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
    return reportError(io.stderr, err);
  }
}

async function stylizeCommand(args: CliArgs, io: CliIO): Promise<number> {
  const [content, ...styles] = args.positionals;
  if (!content || styles.length === 0) throw new UsageError('arguments', '<content> <style> [<style>...] -o <output> (see --help)', args.positionals.join(' ') || undefined);
  if (!args.output) throw new UsageError('--output', 'an output file, e.g. -o out.png', undefined);
  const named = namedInputs(content, styles, args.options);
  const inputs = named.map((i) => i.path); // never written to, checked again by each write
  // Check every output before spending minutes on the run: known format, writable, not an input, not another output.
  outputFormatFor(args.output);
  if (args.sheet) outputFormatFor(args.sheet);
  if (args.lossPlot && !['.svg', '.png'].includes(extname(args.lossPlot).toLowerCase())) throw new UsageError('--loss-plot', 'a .svg or .png file', args.lossPlot);
  if (args.saveEvery !== undefined && !(args.saveEvery >= 1)) throw new UsageError('--save-every', 'a positive integer', args.saveEvery);
  await checkOutputPaths(
    [
      { label: '-o', path: args.output },
      ...(args.sheet ? [{ label: '--sheet', path: args.sheet }] : []),
      ...(args.lossPlot ? [{ label: '--loss-plot', path: args.lossPlot }] : []),
    ],
    named,
    args.saveEvery ? { label: '--save-every', path: args.output } : undefined,
  );

  const tty = io.stderr.isTTY === true;
  const reporter = args.quiet || args.json ? undefined : createProgressReporter(io.stderr, { tty, width: io.stderr.columns });
  const losses = createLossRecorder();
  const pending: Promise<void>[] = [];
  let latest: (() => RawImage) | undefined;
  let frameError: unknown;

  const onProgress = (e: ProgressEvent) => {
    reporter?.onProgress(e);
    losses.onProgress(e);
    if (args.json && e.type === 'scale') {
      const { scale, width, height, iterations, tiles } = e;
      io.stdout.write(`${JSON.stringify({ type: 'scale', scale, width, height, iterations, tiles: tiles ?? 1 })}\n`);
    }
    if (e.type !== 'iteration') return;
    latest = e.preview;
    if (args.json) {
      const { scale, width, height, iteration, loss, content: c, style: s, tv, ms } = e;
      const [elapsed, eta] = [e.elapsed, e.eta].map((t) => (Number.isFinite(t) ? Math.round(t * 100) / 100 : null));
      io.stdout.write(`${JSON.stringify({ type: 'iteration', scale, width, height, iteration, loss, content: c, style: s, tv, ms: Math.round(ms * 10) / 10, elapsed, eta })}\n`);
    }
    if (args.saveEvery && e.iteration % args.saveEvery === 0) {
      // Caught here so that a failed frame (a full disk) cannot crash the process mid-run; reported after it.
      pending.push(encodeImage(e.preview(), framePath(args.output!, e.scale, e.iteration), { protect: inputs }).catch((err: unknown) => void (frameError ??= err)));
    }
  };

  const options: StylizeOptions = { ...args.options, content, style: styles, onProgress, signal: io.signal };
  try {
    const result = await stylize(options);
    await encodeImage(result.image, args.output, { protect: inputs });
    await Promise.all(pending);
    if (frameError) throw frameError;
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

/** The files a run reads, named as error messages call them. */
function namedInputs(content: string, styles: readonly string[], options: Partial<StylizeOptions>): NamedPath[] {
  const init = options.init;
  const weights = options.weights ?? process.env.STYLE_TRANSFER_WEIGHTS;
  return [
    { label: 'content image', path: content },
    ...styles.map((path, i) => ({ label: styles.length > 1 ? `style image ${i + 1}` : 'style image', path })),
    ...(typeof init === 'string' && !['content', 'noise', 'style'].includes(init) ? [{ label: 'init image', path: init }] : []),
    ...(options.styleMasks ?? []).map((path, i) => ({ label: `style mask ${i + 1}`, path: String(path) })),
    ...(options.styleImageMasks ?? []).flatMap((path, i) => (typeof path === 'string' ? [{ label: `style image mask ${i + 1}`, path }] : [])),
    ...(weights ? [{ label: 'weights file', path: weights }] : []),
  ];
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
