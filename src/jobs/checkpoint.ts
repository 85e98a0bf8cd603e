/**
 * Resuming a job from the scale it had finished when its worker died. After each finished scale a
 * worker saves the image (checkpoint.png) and where it was (checkpoint.json); a worker that takes
 * the job over runs only the remaining scales, starting from that image: the library's `startAt`
 * plans the whole run's scales and starts at the next one from the image, upsampled as between
 * scales (with the content's detail when `upsampleDetail` is on). Two differences from an
 * uninterrupted run: the image passed through 8-bit PNG (a rounding of at most half a level), and
 * L-BFGS's warm start (the previous scale's curvature scale) is not carried over; its history
 * starts afresh at every scale anyway.
 */
import { resolveTuning, type ResolvedTuning } from '../options.js';
import { planJob } from '../pipeline/plan.js';
import type { RemoteOptions } from './options.js';

export interface Checkpoint {
  /** Scales finished (1-based count); the image is the result of the last of them. */
  finished: number;
  /** Scales in the whole run. */
  scales: number;
  /** Size of the next scale, the first one the resumed run optimises. */
  next: { width: number; height: number };
  /** Iterations run so far, over the finished scales. */
  iterations: number;
}

export function isCheckpoint(value: unknown): value is Checkpoint {
  const c = value as Checkpoint;
  return (
    typeof c === 'object' &&
    c !== null &&
    Number.isInteger(c.finished) &&
    Number.isInteger(c.scales) &&
    c.finished >= 1 &&
    c.finished < c.scales &&
    Number.isInteger(c.next?.width) &&
    Number.isInteger(c.next?.height) &&
    Number.isInteger(c.iterations)
  );
}

/** The sizes the library plans for these options and this content size. */
export function plannedScales(opts: ResolvedTuning, content: { width: number; height: number }) {
  return planJob(content, opts).scales;
}

/**
 * Options that run the scales after the checkpoint, from `image` (the checkpoint's PNG bytes), or
 * undefined when the checkpoint is not one of this job's plan (the job then starts over).
 */
export function resumeOptions(options: RemoteOptions, content: { width: number; height: number }, checkpoint: Checkpoint, image: Uint8Array): RemoteOptions | undefined {
  const scales = plannedScales(resolveTuning(options), content);
  const next = scales[checkpoint.finished];
  if (scales.length !== checkpoint.scales || next?.width !== checkpoint.next.width || next?.height !== checkpoint.next.height) return undefined;
  return { ...options, startAt: { scale: checkpoint.finished + 1, image } };
}
