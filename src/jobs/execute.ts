/**
 * Runs one job on a worker: the server's executeJob (src/jobs/run.ts) with a worker's
 * extras. A checkpoint is saved after every finished scale and the loss history as it grows; when
 * the job comes with a checkpoint (its last worker died), only the remaining scales run
 * (checkpoint.ts). The Stylizer is passed in, so a worker can serve every job from one loaded
 * network.
 */
import type { RawImage } from '../image/image.js';
import { decodeImageBytes, encodeImageBytes } from '../image/io.js';
import type { StylizeOptions } from '../options.js';
import type { StylizeResult } from '../stylize.js';
import type { JobEvent, JobSpec, LossPoint } from './job.js';
import { executeJob as runJob } from './run.js';
import { previewUrl } from '../queue/local-queue.js';
import { runnerJob } from '../runner/runner-protocol.js';
import { readHistory, type JobFiles } from './job-files.js';
import { isCheckpoint, resumeOptions, type Checkpoint } from './checkpoint.js';

export type StylizeFn = (options: StylizeOptions) => Promise<StylizeResult>;

/** Where the worker's jobs live: their files, and the folder of each (the library reads its inputs there and writes its images). */
export interface WorkerJobFiles extends JobFiles {
  dir(id: string): string;
}

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

export async function executeJob(files: WorkerJobFiles, spec: JobSpec, stylize: StylizeFn, settings: ExecuteSettings, hooks: ExecuteHooks): Promise<ExecuteResult> {
  const resume = await loadCheckpoint(files, spec, settings.maxPixels, hooks.log);
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
  const saveCheckpoint = (checkpoint: Checkpoint, image: RawImage) => {
    const snapshot = JSON.stringify(history);
    // checkpoint.json last: it is what makes the checkpoint count, so the image and the
    // history it refers to must be on disk before it.
    background(async () => {
      await files.write(spec.id, 'checkpoint.png', await encodeImageBytes(image, 'png'));
      await files.write(spec.id, 'history.json', snapshot);
      await files.write(spec.id, 'checkpoint.json', JSON.stringify({ ...checkpoint, size: { width: image.width, height: image.height } }));
    });
  };

  const job = runnerJob(spec, files.dir(spec.id));
  if (resume) job.options = resumeOptions(spec.options, spec.content, resume.checkpoint, resume.image)!;
  try {
    const { seconds } = await runJob(
      { stylize: (options) => stylize({ ...options, weights: settings.weights, threads: settings.threads }) },
      job,
      { maxPixels: settings.maxPixels, previewIntervalMs: settings.previewIntervalMs },
      {
        signal: hooks.signal,
        onEvent: (event) => {
          if (event.type === 'iteration') {
            const { scale, iteration, loss, content, style, tv } = event;
            history.push({ scale, iteration, loss, content, style, tv });
          }
          hooks.emit(event);
          if (event.type === 'iteration' && performance.now() - historySaved > (settings.historyIntervalMs ?? 5000)) saveHistory();
        },
        onPreview: (n) => {
          const version = hooks.previewBase + n;
          hooks.emit({ type: 'preview', url: previewUrl(spec.id, version), version });
        },
        resume: { finished: offset, iterations: resume?.checkpoint.iterations ?? 0 },
        onScaleFinished: saveCheckpoint,
        keepPartialOnAbort: hooks.abortEndsJob,
        inputHint: 'is --data-dir the same shared directory for the server and every worker?',
      },
    );
    return { seconds, resumedAfter: offset };
  } finally {
    saveHistory();
    await writes;
  }
}

/**
 * The job's checkpoint when it has a usable one: its image is within the server's pixel limit (the
 * data dir is shared, so the file may not be the one a worker wrote), its state matches its image,
 * and the options can resume from it. Anything else is logged and the job starts over.
 */
async function loadCheckpoint(files: JobFiles, spec: JobSpec, maxPixels: number, log?: (message: string) => void): Promise<{ checkpoint: Checkpoint; image: Buffer } | undefined> {
  const [json, image] = await Promise.all([files.read(spec.id, 'checkpoint.json'), files.read(spec.id, 'checkpoint.png')]);
  if (!json || !image) return undefined;
  try {
    const checkpoint = JSON.parse(json.toString('utf8')) as Checkpoint & { size?: { width: number; height: number } };
    // A worker that died between writing the image and the state leaves a newer image: start over.
    const decoded = await decodeImageBytes(image, 'checkpoint', { maxPixels });
    if (!isCheckpoint(checkpoint) || decoded.width !== checkpoint.size?.width || decoded.height !== checkpoint.size?.height) throw new Error('its image and state do not match');
    if (!resumeOptions(spec.options, spec.content, checkpoint, image)) throw new Error('the remaining scales cannot be reproduced');
    return { checkpoint, image };
  } catch (err) {
    log?.(`job ${spec.id}: ignoring its checkpoint (${(err as Error).message}); starting over`);
    return undefined;
  }
}
