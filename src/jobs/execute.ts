/**
 * Runs one job: the one function that does, wherever jobs run. The server's embedded queue runs
 * it in a runner process (src/runner/runner-process.ts), off the server's event loop; a Redis
 * worker (src/worker/worker.ts) runs it in its own process. Each passes the Stylizer it keeps from
 * one job to the next, so the network and its sessions are loaded once.
 *
 * It reads the job's inputs from its folder, runs them through the library with the job's
 * AbortSignal, turns progress into wire events and preview frames, and saves the result and the
 * comparison sheet into the folder. A cancelled or failed run keeps its last good image as the result.
 *
 * A resumable run (the worker's) also saves a checkpoint after every finished scale and the loss
 * history as it grows, and starts from the job's checkpoint when it has a usable one (resume.ts);
 * its events then count the scales and iterations of the whole run.
 *
 * A failed write (a full disk, a folder removed under the job) stops the run and becomes a
 * StorageError naming the file: the job fails with that message, the process lives on.
 */
import { join } from 'node:path';
import { AbortError, RunError } from '../errors.js';
import { writeFileAtomic } from '../fs/atomic.js';
import type { RawImage } from '../image/image.js';
import { decodeImageBytes, encodeImageBytes } from '../image/io.js';
import type { ProgressEvent } from '../progress.js';
import { maskOverlay, renderSheet, sheetPanels, sheetTitle } from '../render/sheet.js';
import type { StylizeResult } from '../stylize.js';
import type { Stylizer } from '../stylizer.js';
import { StorageError } from './errors.js';
import { iterationUpdate, type WireProgressEvent } from './events.js';
import { describeWriteError, readOwnFile } from './job-store.js';
import type { JobSpec } from './job.js';
import { PreviewWriter } from './preview.js';
import { Checkpoints, type ResumeSettings } from './resume.js';
import { renderPartialSheet, SHEET_HEIGHT } from './sheets.js';

/** A job to run: its spec and the folder its files are in (inputs are read there, images written there). */
export interface JobRun {
  spec: JobSpec;
  dir: string;
}

export interface ExecuteSettings {
  /** Pixel limit the library applies when it decodes the inputs (and a checkpoint's image). */
  maxPixels: number;
  /** Time-based preview interval when the job does not ask for a frame every N iterations (default 1000 ms). */
  previewIntervalMs?: number;
}

export interface ExecuteHooks {
  signal: AbortSignal;
  onEvent: (event: WireProgressEvent) => void;
  /** A new preview.png was written (version 1, 2, … of this run). */
  onPreview: (version: number) => void;
  /** Whether an abort keeps the run's last image as the result (default: yes; no when the abort pauses the job for another attempt). */
  keepPartialOnAbort?: () => boolean;
  /** Said after the reason when an input cannot be read (the worker asks whether the data dir is shared). */
  inputHint?: string;
  /** Make the run resumable: checkpoints and the loss history go through these files (resume.ts). */
  resumable?: ResumeSettings;
}

export async function executeJob(stylizer: Pick<Stylizer, 'stylize'>, job: JobRun, settings: ExecuteSettings, hooks: ExecuteHooks): Promise<{ seconds: number }> {
  const checkpoints = hooks.resumable && (await Checkpoints.open(hooks.resumable, job.spec, settings.maxPixels));
  try {
    const [content, ...rest] = await readInputs(job, hooks.inputHint);
    // Masks are job files like the images (never in the queue's record), so a resumed run has them too.
    const styles = rest.slice(0, job.spec.styles.length);
    const masks = job.spec.masks ? rest.slice(job.spec.styles.length) : undefined;
    const previews = new PreviewFrames(job, settings, hooks.onPreview);
    const events = new RunEvents(hooks.onEvent, previews, checkpoints);
    try {
      const result = await stylizer.stylize({
        ...(checkpoints?.options ?? job.spec.options),
        content,
        style: styles,
        ...(masks ? { styleMasks: masks } : {}),
        maxPixels: settings.maxPixels,
        signal: AbortSignal.any([hooks.signal, previews.stopped]),
        onProgress: (event) => events.handle(event),
      });
      await previews.finish();
      await saveOutputs(job.dir, result, checkpoints ? events.iterations : result.iterations, masks);
      return { seconds: result.seconds };
    } catch (err) {
      await previews.settle();
      const keep = err instanceof RunError || (err instanceof AbortError && (hooks.keepPartialOnAbort?.() ?? true));
      if (keep && err.partial) await keepPartialResult(job, err.partial as RawImage);
      // A write failure stopped the run: that, not the abort it caused, is why it failed.
      if (previews.failure && err instanceof AbortError && !hooks.signal.aborted) throw previews.failure;
      throw err;
    }
  } finally {
    await checkpoints?.close();
  }
}

/** Write a file of the job's folder atomically; a failure becomes a StorageError naming the file. */
async function save(dir: string, name: string, bytes: Uint8Array): Promise<void> {
  try {
    await writeFileAtomic(join(dir, name), bytes);
  } catch (err) {
    throw new StorageError(describeWriteError(err, name), { cause: err });
  }
}

/** The content image, then the style images, then the masks (if any), as uploaded. */
async function readInputs(job: JobRun, hint: string | undefined): Promise<Buffer[]> {
  const { spec, dir } = job;
  return Promise.all(
    [spec.content, ...spec.styles, ...(spec.masks ?? [])].map(async ({ file }) => {
      try {
        // Not through a symlink: a job folder's inputs must be the files the server put there.
        const bytes = await readOwnFile(join(dir, file));
        if (!bytes) throw Object.assign(new Error(`${file} is missing or not a plain file`), { code: 'ENOENT' });
        return bytes;
      } catch (err) {
        throw new RunError(
          `input ${file} of job ${spec.id} cannot be read from the data directory (${(err as NodeJS.ErrnoException).code ?? 'error'}${hint ? `; ${hint}` : ''})`,
          'ERR_INPUT',
          { cause: err },
        );
      }
    }),
  );
}

/**
 * The run's preview frames, written to preview.png in the background. A failed write stops the
 * run (`stopped` aborts; the next writes would fail the same way) and is kept as `failure`.
 */
class PreviewFrames {
  failure: StorageError | undefined;
  private readonly stop = new AbortController();
  private readonly writer: PreviewWriter;

  constructor(job: JobRun, settings: ExecuteSettings, onPreview: (version: number) => void) {
    this.writer = new PreviewWriter({ every: job.spec.previewEvery, intervalMs: settings.previewIntervalMs ?? 1000 }, async (png, version) => {
      try {
        await save(job.dir, 'preview.png', png);
      } catch (err) {
        this.failure ??= err as StorageError;
        this.stop.abort();
        return;
      }
      onPreview(version);
    });
  }

  get stopped(): AbortSignal {
    return this.stop.signal;
  }

  offer(iteration: number, last: boolean, frame: () => RawImage): void {
    this.writer.offer(iteration, last, frame);
  }

  /** Wait for the last frame; throws the write failure, if one stopped the run. */
  async finish(): Promise<void> {
    await this.writer.idle();
    if (this.failure) throw this.failure;
  }

  /** Wait for the last frame, whatever became of it (the run failed anyway). */
  async settle(): Promise<void> {
    await this.writer.idle().catch(() => {});
  }
}

/**
 * The library's progress events as the job's events. An iteration loses its preview renderer (the
 * frame goes to PreviewFrames); a resumed run (the library's startAt) numbers the whole run's
 * scales itself, and its done event and sheet count the iterations of the whole run. When a new
 * scale begins, the previous one's last frame is that scale's result: the checkpoint.
 */
class RunEvents {
  /** Iterations so far, over the whole run. */
  iterations: number;
  private lastFrame: (() => RawImage) | undefined;

  constructor(
    private readonly emit: (event: WireProgressEvent) => void,
    private readonly previews: PreviewFrames,
    private readonly checkpoints: Checkpoints | undefined,
  ) {
    this.iterations = checkpoints?.iterations ?? 0;
  }

  handle(event: ProgressEvent): void {
    if (event.type === 'scale') {
      if (this.checkpoints && event.scale > 1 && this.lastFrame) {
        const checkpoint = { finished: event.scale - 1, scales: event.scales, next: { width: event.width, height: event.height }, iterations: this.iterations };
        this.checkpoints.save(checkpoint, this.lastFrame());
      }
      this.emit(event);
    } else if (event.type === 'iteration') {
      const { preview, ...wire } = event;
      this.lastFrame = preview;
      this.iterations++;
      this.checkpoints?.record(iterationUpdate(wire).point);
      this.emit(wire);
      this.previews.offer(event.iteration, event.iteration === event.iterations, preview);
    } else if (event.type === 'done' && this.checkpoints) {
      this.emit({ ...event, iterations: this.iterations });
    } else {
      this.emit(event);
    }
  }
}

/** result.png and the comparison sheet, titled with the run's iterations; a masked run's content panel shows its masks. */
async function saveOutputs(dir: string, result: StylizeResult, iterations: number, masks: Buffer[] | undefined): Promise<void> {
  await save(dir, 'result.png', await encodeImageBytes(result.image, 'png'));
  let content = result.content;
  if (masks) {
    const decoded = await Promise.all(masks.map((bytes, i) => decodeImageBytes(bytes, `mask-${i + 1}`, { role: 'style mask', maxSide: 2 * SHEET_HEIGHT })));
    content = await maskOverlay(content, decoded);
  }
  const sheet = await renderSheet(sheetPanels(content, result.styles, result.image), {
    height: Math.min(SHEET_HEIGHT, Math.max(128, result.height)),
    title: sheetTitle({ preset: result.options.preset, width: result.width, height: result.height, iterations, seconds: result.seconds }),
  });
  await save(dir, 'sheet.png', await encodeImageBytes(sheet, 'png'));
}

/**
 * Keep what a cancelled or diverged run got to: its last good image as result.png, and its sheet
 * (made here, once, while the inputs are still there: a cancelled job's inputs are deleted).
 * Best effort: the run's own error is what the job reports.
 */
async function keepPartialResult(job: JobRun, image: RawImage): Promise<void> {
  const saved = await encodeImageBytes(image, 'png')
    .then((png) => save(job.dir, 'result.png', png))
    .then(
      () => true,
      () => false,
    );
  if (!saved) return;
  const { spec } = job;
  const inputs = {
    content: { file: spec.content.file, name: spec.content.name },
    styles: spec.styles.map((s) => ({ file: s.file, name: s.name })),
    ...(spec.masks ? { masks: spec.masks.map((m) => ({ file: m.file, name: m.name })) } : {}),
  };
  await renderPartialSheet(job.dir, inputs).catch(() => {});
}
