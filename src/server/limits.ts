/**
 * What a remote user may ask of the server. The library's own limits are sized for a trusted local
 * user; these are tighter so that one request cannot exhaust the machine's memory, disk or time.
 */
import { normaliseOptions } from '../options.js';
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
  /** Largest output size (the `size` option) a job may ask for. */
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

/** The default preset's work on a 512×512 picture (4 scales, 60.6 megapixel-iterations): the yardstick of maxWork. */
export const DEFAULT_JOB_WORK = planWork({ width: 512, height: 512 }, normaliseOptions({ content: 'x', style: 'x' })).pixelIterations / 1e6;

export const DEFAULT_LIMITS: Readonly<ServerLimits> = {
  maxFileBytes: 20 * 1024 * 1024,
  maxStyles: 4,
  maxPixels: 40_000_000,
  maxQueuedJobs: 20,
  maxSize: 1024,
  maxIterations: 2000,
  // Four default jobs' worth: a 1024 px job of a few hundred iterations fits, a day of CPU does not.
  maxWork: Math.round(4 * DEFAULT_JOB_WORK),
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
