/**
 * What a remote user may ask of the server. The library's own limits are sized for a trusted local
 * user; these are tighter so that one request cannot exhaust the machine's memory, disk or time.
 */
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
}

export const DEFAULT_LIMITS: Readonly<ServerLimits> = {
  maxFileBytes: 20 * 1024 * 1024,
  maxStyles: 4,
  maxPixels: 40_000_000,
  maxQueuedJobs: 20,
  maxSize: 1024,
  maxIterations: 2000,
};

export function resolveLimits(given: Partial<ServerLimits> | undefined): ServerLimits {
  const limits = { ...DEFAULT_LIMITS, ...given };
  for (const [key, value] of Object.entries(limits)) {
    if (!(Number.isInteger(value) && value > 0)) throw new RangeError(`server limit ${key} must be a positive integer, received ${String(value)}`);
  }
  return limits;
}
