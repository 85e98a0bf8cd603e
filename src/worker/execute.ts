/**
 * Runs one job on a worker: reads its inputs from the shared data dir, runs the library, streams
 * its progress, and writes previews, a checkpoint after every finished scale, the loss history,
 * the result and the sheet back to the data dir. When the job comes with a checkpoint (its last
 * worker died), only the remaining scales run (checkpoint.ts).
 *
 * It mirrors the embedded server's runner (src/server/runner.ts) plus checkpoints and history; the
 * library call is passed in, so a worker can serve every job from one loaded network.
 */
import { AbortError, RunError } from '../errors.js';
import type { RawImage } from '../image/image.js';
import { decodeImageBytes, encodeImageBytes } from '../image/io.js';
import type { StylizeOptions } from '../options.js';
import type { ProgressEvent } from '../progress.js';
import type { StylizeResult } from '../stylize.js';
import { renderSheet, sheetPanels, sheetTitle } from '../render/sheet.js';
import type { JobEvent, JobSpec, LossPoint } from '../server/job.js';
import { PreviewWriter } from '../server/preview.js';
import { previewUrl } from '../server/queue.js';
import type { JobFiles } from '../server/storage.js';
import type { JobFile } from '../server/store.js';
import { isCheckpoint, resumeOptions, type Checkpoint } from './checkpoint.js';

export type StylizeFn = (options: StylizeOptions) => Promise<StylizeResult>;

export interface ExecuteSettings {
  weights?: string;
  threads?: number;
  maxPixels: number;
  previewIntervalMs?: number;
  /** How often the loss history is saved between checkpoints. */
  historyIntervalMs?: number;
}

export interface ExecuteHooks {
  signal: AbortSignal;
  emit: (event: JobEvent) => void;
  /** The preview version the job had reached (its frames count on from there). */
  previewBase: number;
  /** Whether an abort ends the job (a cancel: keep its last image as the result) rather than pausing it (another attempt follows). */
  abortEndsJob: () => boolean;
  log?: (message: string) => void;
}

export interface ExecuteResult {
  seconds: number;
  /** The scales the checkpoint let this run skip (0: it ran from the start). */
  resumedAfter: number;
}

const SHEET_HEIGHT = 512;

export async function executeJob(files: JobFiles, spec: JobSpec, stylize: StylizeFn, settings: ExecuteSettings, hooks: ExecuteHooks): Promise<ExecuteResult> {
  const content = await readInput(files, spec.id, spec.content.file as JobFile);
  const styles = await Promise.all(spec.styles.map((s) => readInput(files, spec.id, s.file as JobFile)));

  const resume = await loadCheckpoint(files, spec, hooks.log);
  const offset = resume?.checkpoint.finished ?? 0;
  const history: LossPoint[] = resume ? (await readHistory(files, spec.id)).filter((p) => p.scale <= offset) : [];
  if (resume) hooks.log?.(`job ${spec.id}: resuming after scale ${offset} of ${resume.checkpoint.scales}`);

  // Everything written in the background (checkpoints, history) goes through one chain, awaited at the end.
  let writes: Promise<void> = Promise.resolve();
  const background = (write: () => Promise<void>) => {
    writes = writes.then(write).catch((err) => hooks.log?.(`job ${spec.id}: cannot save: ${(err as Error).message}`));
  };
  let historySaved = performance.now();
  const saveHistory = () => {
    historySaved = performance.now();
    const snapshot = JSON.stringify(history);
    background(() => files.write(spec.id, 'history.json', snapshot));
  };

  const previews = new PreviewWriter({ every: spec.previewEvery, intervalMs: settings.previewIntervalMs ?? 1000 }, async (png, n) => {
    await files.write(spec.id, 'preview.png', png);
    const version = hooks.previewBase + n;
    hooks.emit({ type: 'preview', url: previewUrl(spec.id, version), version });
  });

  let lastFrame: (() => RawImage) | undefined;
  let iterationsDone = resume?.checkpoint.iterations ?? 0;
  const onProgress = (event: ProgressEvent) => {
    if (event.type === 'scale') {
      // A new scale begins: the previous one's last frame is that scale's result, the checkpoint.
      if (event.scale > 1 && lastFrame) {
        const checkpoint: Checkpoint = {
          finished: offset + event.scale - 1,
          scales: offset + event.scales,
          next: { width: event.width, height: event.height },
          iterations: iterationsDone,
        };
        const image = lastFrame();
        const snapshot = JSON.stringify(history);
        // checkpoint.json last: it is what makes the checkpoint count, so the image and the
        // history it refers to must be on disk before it.
        background(async () => {
          await files.write(spec.id, 'checkpoint.png', await encodeImageBytes(image, 'png'));
          await files.write(spec.id, 'history.json', snapshot);
          await files.write(spec.id, 'checkpoint.json', JSON.stringify({ ...checkpoint, size: { width: image.width, height: image.height } }));
        });
      }
      hooks.emit({ ...event, scale: event.scale + offset, scales: event.scales + offset });
    } else if (event.type === 'iteration') {
      const { preview, ...wire } = event;
      lastFrame = preview;
      iterationsDone++;
      const scale = wire.scale + offset;
      history.push({ scale, iteration: wire.iteration, loss: wire.loss, content: wire.content, style: wire.style, tv: wire.tv });
      hooks.emit({ ...wire, scale, scales: wire.scales + offset });
      previews.offer(event.iteration, event.iteration === event.iterations, preview);
      if (performance.now() - historySaved > (settings.historyIntervalMs ?? 5000)) saveHistory();
    } else if (event.type === 'done') {
      hooks.emit({ ...event, iterations: iterationsDone });
    } else {
      hooks.emit(event);
    }
  };

  const options = resume ? resumeOptions(spec.options, spec.content, resume.checkpoint, resume.image) : spec.options;
  try {
    const result = await stylize({
      ...options,
      content,
      style: styles,
      weights: settings.weights,
      threads: settings.threads,
      maxPixels: settings.maxPixels,
      signal: hooks.signal,
      onProgress,
    });
    await previews.idle();
    saveHistory();
    await writes;
    await files.write(spec.id, 'result.png', await encodeImageBytes(result.image, 'png'));
    const sheet = await renderSheet(sheetPanels(result.content, result.styles, result.image), {
      height: Math.min(SHEET_HEIGHT, Math.max(128, result.height)),
      title: sheetTitle({ preset: result.options.preset, width: result.width, height: result.height, iterations: iterationsDone, seconds: result.seconds }),
    });
    await files.write(spec.id, 'sheet.png', await encodeImageBytes(sheet, 'png'));
    return { seconds: result.seconds, resumedAfter: offset };
  } catch (err) {
    await previews.idle().catch(() => {});
    saveHistory();
    await writes;
    // Keep what the run got to: the cancelled or diverged run's last good image.
    if (((err instanceof AbortError && hooks.abortEndsJob()) || err instanceof RunError) && err.partial) {
      await files.write(spec.id, 'result.png', await encodeImageBytes(err.partial as RawImage, 'png')).catch(() => {});
    }
    throw err;
  }
}

/** The job's checkpoint when it has a usable one: its state matches its image, and the options can resume from it. */
async function loadCheckpoint(files: JobFiles, spec: JobSpec, log?: (message: string) => void): Promise<{ checkpoint: Checkpoint; image: Buffer } | undefined> {
  const [json, image] = await Promise.all([files.read(spec.id, 'checkpoint.json'), files.read(spec.id, 'checkpoint.png')]);
  if (!json || !image) return undefined;
  try {
    const checkpoint = JSON.parse(json.toString('utf8')) as Checkpoint & { size?: { width: number; height: number } };
    // A worker that died between writing the image and the state leaves a newer image: start over.
    const decoded = await decodeImageBytes(image, 'checkpoint');
    if (!isCheckpoint(checkpoint) || decoded.width !== checkpoint.size?.width || decoded.height !== checkpoint.size?.height) throw new Error('its image and state do not match');
    if (!resumeOptions(spec.options, spec.content, checkpoint, image)) throw new Error('the remaining scales cannot be reproduced');
    return { checkpoint, image };
  } catch (err) {
    log?.(`job ${spec.id}: ignoring its checkpoint (${(err as Error).message}); starting over`);
    return undefined;
  }
}

async function readHistory(files: JobFiles, id: string): Promise<LossPoint[]> {
  try {
    const bytes = await files.read(id, 'history.json');
    return bytes ? (JSON.parse(bytes.toString('utf8')) as LossPoint[]) : [];
  } catch {
    return [];
  }
}

async function readInput(files: JobFiles, id: string, file: JobFile): Promise<Buffer> {
  const bytes = await files.read(id, file);
  if (!bytes) throw new RunError(`input ${file} of job ${id} is missing from the data directory (is --data-dir the same shared directory for the server and every worker?)`);
  return bytes;
}
