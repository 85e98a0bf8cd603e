/**
 * Runs one job with the library, in whatever process calls it (the runner process and the Redis
 * worker do): reads its inputs from the job folder, runs it on the caller's Stylizer (which keeps
 * the network and its sessions from one job to the next) with the job's AbortSignal, turns
 * progress into wire events and preview frames, and saves the result and the comparison sheet into the folder.
 * A cancelled or failed run keeps its last good image as the result.
 *
 * The worker's extras are hooks: a checkpoint after every finished scale, and a resume from one
 * (the job's options then start at the next scale, and its events count over the whole run).
 *
 * A failed write (a full disk, a folder removed under the job) stops the run and becomes a
 * StorageError naming the file: the job fails with that message, the process lives on.
 */
import { join } from 'node:path';
import { AbortError, RunError, StyleTransferError } from '../errors.js';
import { writeFileAtomic } from '../fs/atomic.js';
import type { RawImage } from '../image/image.js';
import { encodeImageBytes } from '../image/io.js';
import type { Stylizer } from '../stylizer.js';
import { renderSheet, sheetPanels, sheetTitle } from '../render/sheet.js';
import type { Checkpoint } from './checkpoint.js';
import type { WireProgressEvent } from './job.js';
import { PreviewWriter } from './preview.js';
import type { RunnerJob, RunnerSettings } from '../runner/runner-protocol.js';
import { renderPartialSheet, SHEET_HEIGHT } from './sheets.js';
import { describeWriteError, readOwnFile } from './job-store.js';

/** Writing a job's file failed; the message names the file and the reason. */
export class StorageError extends StyleTransferError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_STORAGE', options);
  }
}

export interface JobHooks {
  signal: AbortSignal;
  onEvent: (event: WireProgressEvent) => void;
  /** A new preview.png was written (version 1, 2, …). */
  onPreview: (version: number) => void;
  /**
   * The run continues a checkpointed one that had finished these scales and run these iterations
   * (job.options already start at the next scale): events, the done event and the sheet count the
   * scales and iterations of the whole run.
   */
  resume?: { finished: number; iterations: number };
  /** A scale other than the last finished with this image: where the run stands, to save as a checkpoint. */
  onScaleFinished?: (checkpoint: Checkpoint, image: RawImage) => void;
  /** Whether an abort keeps the run's last image as the result (default: yes; no when the abort pauses the job for another attempt). */
  keepPartialOnAbort?: () => boolean;
  /** Said after the reason when an input cannot be read (the worker asks whether the data dir is shared). */
  inputHint?: string;
}

export async function executeJob(stylizer: Pick<Stylizer, 'stylize'>, job: RunnerJob, settings: RunnerSettings, hooks: JobHooks): Promise<{ seconds: number }> {
  const save = async (name: string, bytes: Uint8Array) => {
    try {
      await writeFileAtomic(join(job.dir, name), bytes);
    } catch (err) {
      throw new StorageError(describeWriteError(err, name), { cause: err });
    }
  };
  const content = await readInput(job, job.content, hooks.inputHint);
  const styles = await Promise.all(job.styles.map((s) => readInput(job, s, hooks.inputHint)));

  // A failed preview write stops the run: the next writes would fail the same way.
  const stop = new AbortController();
  let writeFailure: StorageError | undefined;
  const signal = AbortSignal.any([hooks.signal, stop.signal]);
  const previews = new PreviewWriter({ every: job.previewEvery, intervalMs: settings.previewIntervalMs ?? 1000 }, async (png, version) => {
    try {
      await save('preview.png', png);
    } catch (err) {
      writeFailure ??= err as StorageError;
      stop.abort();
      return;
    }
    hooks.onPreview(version);
  });
  const offset = hooks.resume?.finished ?? 0;
  let iterations = hooks.resume?.iterations ?? 0;
  let lastFrame: (() => RawImage) | undefined;
  try {
    const result = await stylizer.stylize({
      ...job.options,
      content,
      style: styles,
      maxPixels: settings.maxPixels,
      signal,
      onProgress: (event) => {
        if (event.type === 'scale') {
          // A new scale begins: the previous one's last frame is that scale's result, the checkpoint.
          if (hooks.onScaleFinished && event.scale > 1 && lastFrame) {
            const checkpoint = { finished: offset + event.scale - 1, scales: offset + event.scales, next: { width: event.width, height: event.height }, iterations };
            hooks.onScaleFinished(checkpoint, lastFrame());
          }
          hooks.onEvent({ ...event, scale: event.scale + offset, scales: event.scales + offset });
        } else if (event.type === 'iteration') {
          const { preview, ...wire } = event;
          lastFrame = preview;
          iterations++;
          hooks.onEvent({ ...wire, scale: wire.scale + offset, scales: wire.scales + offset });
          previews.offer(event.iteration, event.iteration === event.iterations, preview);
        } else if (event.type === 'done' && hooks.resume) {
          hooks.onEvent({ ...event, iterations });
        } else {
          hooks.onEvent(event);
        }
      },
    });
    await previews.idle();
    if (writeFailure) throw writeFailure;
    await save('result.png', await encodeImageBytes(result.image, 'png'));
    const sheet = await renderSheet(sheetPanels(result.content, result.styles, result.image), {
      height: Math.min(SHEET_HEIGHT, Math.max(128, result.height)),
      title: sheetTitle({
        preset: result.options.preset,
        width: result.width,
        height: result.height,
        iterations: hooks.resume ? iterations : result.iterations,
        seconds: result.seconds,
      }),
    });
    await save('sheet.png', await encodeImageBytes(sheet, 'png'));
    return { seconds: result.seconds };
  } catch (err) {
    await previews.idle().catch(() => {});
    // Keep what the run got to: the cancelled or diverged run's last good image, and its sheet
    // (made here, once, while the inputs are still there: a cancelled job's inputs are deleted).
    if ((err instanceof RunError || (err instanceof AbortError && (hooks.keepPartialOnAbort?.() ?? true))) && err.partial) {
      const saved = await encodeImageBytes(err.partial as RawImage, 'png')
        .then((png) => save('result.png', png))
        .then(
          () => true,
          () => false,
        );
      if (saved) {
        const inputs = { content: { file: job.content, name: job.contentName ?? job.content }, styles: job.styles.map((file, i) => ({ file, name: job.styleNames?.[i] ?? file })) };
        await renderPartialSheet(job.dir, inputs).catch(() => {});
      }
    }
    if (writeFailure && err instanceof AbortError && !hooks.signal.aborted) throw writeFailure;
    throw err;
  }
}

async function readInput(job: RunnerJob, file: string, hint?: string): Promise<Buffer> {
  try {
    // Not through a symlink: a job folder's inputs must be the files the server put there.
    const bytes = await readOwnFile(join(job.dir, file));
    if (!bytes) throw Object.assign(new Error(`${file} is missing or not a plain file`), { code: 'ENOENT' });
    return bytes;
  } catch (err) {
    throw new RunError(
      `input ${file} of job ${job.id} cannot be read from the data directory (${(err as NodeJS.ErrnoException).code ?? 'error'}${hint ? `; ${hint}` : ''})`,
      'ERR_INPUT',
      { cause: err },
    );
  }
}
