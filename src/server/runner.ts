/**
 * Runs one job with the library: reads its inputs from the job folder, calls stylize() with the
 * job's AbortSignal, turns progress into wire events and preview frames, and saves the result and
 * the comparison sheet. A cancelled or failed run keeps its last good image as the result.
 */
import { AbortError, RunError } from '../errors.js';
import type { RawImage } from '../image/image.js';
import { decodeImageBytes, encodeImageBytes } from '../image/io.js';
import { stylize } from '../stylize.js';
import { renderSheet, sheetPanels, sheetTitle } from '../render/sheet.js';
import type { JobSpec } from './job.js';
import { PreviewWriter } from './preview.js';
import { previewUrl, type RunJob } from './queue.js';
import type { JobFile, JobStore } from './store.js';

export interface RunnerOptions {
  /** Weights file for every job; default: the library's (STYLE_TRANSFER_WEIGHTS, else the cache). */
  weights?: string;
  /** Pixel limit passed to the library when it decodes the inputs. */
  maxPixels: number;
  /** Time-based preview interval when a job does not ask for one every N iterations. */
  previewIntervalMs?: number;
}

/** Sheets are at most this tall: big enough to judge, small enough to download quickly. */
const SHEET_HEIGHT = 512;

export function createStylizeRunner(store: JobStore, opts: RunnerOptions): RunJob {
  return async (spec, { signal, emit }) => {
    const content = await readInput(store, spec.id, spec.content.file as JobFile);
    const styles = await Promise.all(spec.styles.map((s) => readInput(store, spec.id, s.file as JobFile)));
    const previews = new PreviewWriter({ every: spec.previewEvery, intervalMs: opts.previewIntervalMs ?? 1000 }, async (png, version) => {
      await store.write(spec.id, 'preview.png', png);
      emit({ type: 'preview', url: previewUrl(spec.id, version), version });
    });
    try {
      const result = await stylize({
        ...spec.options,
        content,
        style: styles,
        weights: opts.weights,
        maxPixels: opts.maxPixels,
        signal,
        onProgress: (event) => {
          if (event.type === 'iteration') {
            const { preview, ...wire } = event;
            emit(wire);
            previews.offer(event.iteration, event.iteration === event.iterations, preview);
          } else {
            emit(event);
          }
        },
      });
      await previews.idle();
      await store.write(spec.id, 'result.png', await encodeImageBytes(result.image, 'png'));
      const sheet = await renderSheet(sheetPanels(result.content, result.styles, result.image), {
        height: Math.min(SHEET_HEIGHT, Math.max(128, result.height)),
        title: sheetTitle({ preset: result.options.preset, width: result.width, height: result.height, iterations: result.iterations, seconds: result.seconds }),
      });
      await store.write(spec.id, 'sheet.png', await encodeImageBytes(sheet, 'png'));
      return { seconds: result.seconds };
    } catch (err) {
      await previews.idle().catch(() => {});
      // Keep what the run got to: the cancelled or diverged run's last good image.
      if ((err instanceof AbortError || err instanceof RunError) && err.partial) {
        await store.write(spec.id, 'result.png', await encodeImageBytes(err.partial as RawImage, 'png')).catch(() => {});
      }
      throw err;
    }
  };
}

/**
 * The sheet of a job that ended without one (cancelled, failed, interrupted): its inputs beside
 * whatever result image it kept. Written next to the result so it is made only once.
 */
export async function sheetForPartialResult(store: JobStore, spec: JobSpec): Promise<Buffer | undefined> {
  const resultBytes = await store.read(spec.id, 'result.png');
  if (!resultBytes) return undefined;
  const result = await decodeImageBytes(resultBytes, 'result');
  const content = await decodeImageBytes(await readInput(store, spec.id, spec.content.file as JobFile), spec.content.name, { role: 'content image' });
  const styles = await Promise.all(spec.styles.map(async (s) => decodeImageBytes(await readInput(store, spec.id, s.file as JobFile), s.name, { role: 'style image' })));
  const sheet = await renderSheet(sheetPanels(content, styles, result), { height: Math.min(SHEET_HEIGHT, Math.max(128, result.height)) });
  const png = await encodeImageBytes(sheet, 'png');
  await store.write(spec.id, 'sheet.png', png);
  return png;
}

async function readInput(store: JobStore, id: string, file: JobFile): Promise<Buffer> {
  const bytes = await store.read(id, file);
  if (!bytes) throw new RunError(`input ${file} of job ${id} is missing from the data directory`);
  return bytes;
}
