/**
 * Runs one job with the library, in whatever process calls it (the runner process does): reads
 * its inputs from the job folder, runs it on the caller's Stylizer (which keeps the network and
 * its sessions from one job to the next) with the job's AbortSignal, turns progress into
 * wire events and preview frames, and saves the result and the comparison sheet into the folder.
 * A cancelled or failed run keeps its last good image as the result.
 *
 * A failed write (a full disk, a folder removed under the job) stops the run and becomes a
 * StorageError naming the file: the job fails with that message, the process lives on.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AbortError, RunError, StyleTransferError } from '../errors.js';
import { writeFileAtomic } from '../fs/atomic.js';
import type { RawImage } from '../image/image.js';
import { encodeImageBytes } from '../image/io.js';
import type { Stylizer } from '../stylizer.js';
import { renderSheet, sheetPanels, sheetTitle } from '../render/sheet.js';
import type { WireProgressEvent } from './job.js';
import { PreviewWriter } from './preview.js';
import type { RunnerJob, RunnerSettings } from './runner-protocol.js';
import { renderPartialSheet, SHEET_HEIGHT } from './sheets.js';
import { describeWriteError } from './store.js';

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
}

export async function executeJob(stylizer: Stylizer, job: RunnerJob, settings: RunnerSettings, hooks: JobHooks): Promise<{ seconds: number }> {
  const save = async (name: string, bytes: Uint8Array) => {
    try {
      await writeFileAtomic(join(job.dir, name), bytes);
    } catch (err) {
      throw new StorageError(describeWriteError(err, name), { cause: err });
    }
  };
  const content = await readInput(job, job.content);
  const styles = await Promise.all(job.styles.map((s) => readInput(job, s)));

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
  try {
    const result = await stylizer.stylize({
      ...job.options,
      content,
      style: styles,
      maxPixels: settings.maxPixels,
      signal,
      onProgress: (event) => {
        if (event.type === 'iteration') {
          const { preview, ...wire } = event;
          hooks.onEvent(wire);
          previews.offer(event.iteration, event.iteration === event.iterations, preview);
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
      title: sheetTitle({ preset: result.options.preset, width: result.width, height: result.height, iterations: result.iterations, seconds: result.seconds }),
    });
    await save('sheet.png', await encodeImageBytes(sheet, 'png'));
    return { seconds: result.seconds };
  } catch (err) {
    await previews.idle().catch(() => {});
    // Keep what the run got to: the cancelled or diverged run's last good image, and its sheet
    // (made here, once, while the inputs are still there: a cancelled job's inputs are deleted).
    if ((err instanceof AbortError || err instanceof RunError) && err.partial) {
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

async function readInput(job: RunnerJob, file: string): Promise<Buffer> {
  try {
    return await readFile(join(job.dir, file));
  } catch (err) {
    throw new RunError(`input ${file} of job ${job.id} cannot be read from the data directory (${(err as NodeJS.ErrnoException).code ?? 'error'})`, 'ERR_INPUT', { cause: err });
  }
}
