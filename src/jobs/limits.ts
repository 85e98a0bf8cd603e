/**
 * What a remote user may ask of the server. The library's own limits are sized for a trusted local
 * user; these are tighter so that one request cannot exhaust the machine's memory, disk or time.
 */
import { resolveTuning } from '../options.js';
import { planWork } from '../work.js';

export interface ServerLimits {
  /** Bytes per uploaded image file. */
  maxFileBytes: number;
  /** Style images per job. */
  maxStyles: number;
  /** Pixels (width × height) of an uploaded image. */
  maxPixels: number;
  /** Jobs waiting in the queue (running ones not counted); more are refused with 429. */
  maxQueuedJobs: number;
  /** Jobs one browser (token cookie) may have waiting; more are refused with 429. */
  maxQueuedPerBrowser: number;
  /** Jobs one network address may have waiting (a script can invent browser tokens, not addresses); more are refused with 429. */
  maxQueuedPerAddress: number;
  /** Largest output size (the `size` option) a job may ask for; `serve --max-size`. Larger scales run in tiles within the memory budget. */
  maxSize: number;
  /** Largest `iterations` / `scaleIterations`. */
  maxIterations: number;
  /** Largest total work of a job, in megapixel-iterations (Σ over scales of width × height × iterations / 10⁶). */
  maxWork: number;
  /** Most scales of a coarse-to-fine job. */
  maxScales: number;
  /** Largest L-BFGS `history` (each pair is two image-sized vectors: 2·history·3·H·W floats). */
  maxHistory: number;
}

/** The default preset's work on a 512×512 picture, in megapixel-iterations (README's table of limits). */
export const DEFAULT_JOB_WORK = planWork({ width: 512, height: 512 }, resolveTuning({})).pixelIterations / 1e6;

export const DEFAULT_LIMITS: Readonly<ServerLimits> = {
  maxFileBytes: 20 * 1024 * 1024,
  maxStyles: 4,
  maxPixels: 40_000_000,
  maxQueuedJobs: 20,
  maxQueuedPerBrowser: 5,
  maxQueuedPerAddress: 10,
  maxSize: 2048,
  maxIterations: 2000,
  // About half an hour of a 2-core machine (~8.5 µs per pixel-iteration at 512 px): the `best`
  // preset at 512 px and a 1024 px job of a few hundred iterations fit, a day of CPU does not.
  maxWork: 242,
  maxScales: 8,
  maxHistory: 50,
};

export function resolveLimits(given: Partial<ServerLimits> | undefined): ServerLimits {
  const limits = { ...DEFAULT_LIMITS, ...given };
  for (const [key, value] of Object.entries(limits)) {
    if (!(Number.isInteger(value) && value > 0)) throw new RangeError(`server limit ${key} must be a positive integer, received ${String(value)}`);
  }
  return limits;
}
