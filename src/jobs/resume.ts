/**
 * A resumable run (the Redis worker's: when a worker dies, another takes its job over): where the
 * run stands is saved as it goes, the image after every finished scale (checkpoint.png,
 * checkpoint.json) and the loss history (history.json), and a run that takes the job over starts
 * from there, running only the remaining scales (the rule is in checkpoint.ts).
 */
import type { RawImage } from '../image/image.js';
import { decodeImageBytes, encodeImageBytes } from '../image/io.js';
import { isCheckpoint, resumeOptions, type Checkpoint } from './checkpoint.js';
import type { LossPoint } from './events.js';
import { readHistory, type JobFiles } from './job-files.js';
import type { JobSpec } from './job.js';
import type { RemoteOptions } from './options.js';

export interface ResumeSettings {
  /** Where the checkpoints and the history are read and written. */
  files: JobFiles;
  /** How often the loss history is saved between checkpoints (default 5 s). */
  historyIntervalMs?: number;
  log?: (message: string) => void;
}

/** The checkpoints and the loss history of one run of a job. */
export class Checkpoints {
  private writes: Promise<void> = Promise.resolve();
  private historySaved = performance.now();

  private constructor(
    private readonly settings: ResumeSettings,
    private readonly spec: JobSpec,
    /** The checkpoint this run resumes from, if any. */
    private readonly from: { checkpoint: Checkpoint; image: Buffer } | undefined,
    private readonly history: LossPoint[],
  ) {}

  /** Read the job's checkpoint, when it has a usable one, and the history up to it. */
  static async open(settings: ResumeSettings, spec: JobSpec, maxPixels: number): Promise<Checkpoints> {
    const from = await loadCheckpoint(settings, spec, maxPixels);
    const finished = from?.checkpoint.finished ?? 0;
    const history = from ? (await readHistory(settings.files, spec.id)).filter((p) => p.scale <= finished) : [];
    if (from) settings.log?.(`job ${spec.id}: resuming after scale ${finished} of ${from.checkpoint.scales}`);
    return new Checkpoints(settings, spec, from, history);
  }

  /** Scales finished before this run (0: it runs from the start). */
  get finished(): number {
    return this.from?.checkpoint.finished ?? 0;
  }

  /** Iterations run before this run. */
  get iterations(): number {
    return this.from?.checkpoint.iterations ?? 0;
  }

  /** The options this run runs with: the job's own, or those that run the remaining scales from the checkpoint's image. */
  get options(): RemoteOptions {
    return this.from ? resumeOptions(this.spec.options, this.spec.content, this.from.checkpoint, this.from.image)! : this.spec.options;
  }

  /** A point of the loss chart; the history is saved every historyIntervalMs. */
  record(point: LossPoint): void {
    this.history.push(point);
    if (performance.now() - this.historySaved > (this.settings.historyIntervalMs ?? 5000)) this.saveHistory();
  }

  /** A scale other than the last finished with this image. */
  save(checkpoint: Checkpoint, image: RawImage): void {
    const snapshot = JSON.stringify(this.history);
    const { files } = this.settings;
    const id = this.spec.id;
    // checkpoint.json last: it is what makes the checkpoint count, so the image and the
    // history it refers to must be on disk before it.
    this.background(async () => {
      await files.write(id, 'checkpoint.png', await encodeImageBytes(image, 'png'));
      await files.write(id, 'history.json', snapshot);
      await files.write(id, 'checkpoint.json', JSON.stringify({ ...checkpoint, size: { width: image.width, height: image.height } }));
    });
  }

  /** Save the history one last time and wait for every write. */
  async close(): Promise<void> {
    this.saveHistory();
    await this.writes;
  }

  private saveHistory(): void {
    this.historySaved = performance.now();
    const snapshot = JSON.stringify(this.history);
    this.background(() => this.settings.files.write(this.spec.id, 'history.json', snapshot));
  }

  /** Everything written in the background goes through one chain, awaited by close(); a failed write is logged. */
  private background(write: () => Promise<void>): void {
    this.writes = this.writes.then(write).catch((err) => this.settings.log?.(`job ${this.spec.id}: cannot save: ${(err as Error).message}`));
  }
}

/**
 * The job's checkpoint when it has a usable one: its image is within the server's pixel limit (the
 * data dir is shared, so the file may not be the one a worker wrote), its state matches its image,
 * and the options can resume from it. Anything else is logged and the job starts over.
 */
async function loadCheckpoint(settings: ResumeSettings, spec: JobSpec, maxPixels: number): Promise<{ checkpoint: Checkpoint; image: Buffer } | undefined> {
  const { files, log } = settings;
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
