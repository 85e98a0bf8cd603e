/**
 * Resuming a job from the scale it had finished when its worker died. After each finished scale a
 * worker saves the image (checkpoint.png) and where it was (checkpoint.json); a worker that takes
 * the job over runs only the remaining scales, starting from that image.
 *
 * The library has no "start at scale k" option, but its schedule counts down from the final size
 * while the sizes stay at least `startSize`, so the remaining scales are exactly the schedule of a
 * larger `startSize`; the saved image becomes the `init` image, which the library resizes to the
 * first of them, as it does between scales. Three differences from an uninterrupted run: the image
 * passes through 8-bit PNG (a rounding of at most half a level); the optimiser's state (L-BFGS
 * history, Adam moments) starts afresh, which it does at every new scale anyway; and with
 * `upsampleDetail` the first resumed scale starts from the plain resized image, without the
 * content's detail added back (the optimiser grows it back, as it does without the option).
 */
import { normaliseOptions, type ResolvedOptions } from '../options.js';
import { outputSize, planScales } from '../pipeline/plan.js';
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
export function plannedScales(opts: ResolvedOptions, content: { width: number; height: number }) {
  return planScales(content, outputSize(content, opts), opts);
}

/**
 * Options that run the scales after the checkpoint, from `image` (the checkpoint's PNG bytes), or
 * undefined when no startSize reproduces the remaining scales (the job then starts over).
 */
export function resumeOptions(options: RemoteOptions, content: { width: number; height: number }, checkpoint: Checkpoint, image: Uint8Array): RemoteOptions | undefined {
  const placeholder = new Uint8Array(1);
  const resolved = normaliseOptions({ ...options, content: placeholder, style: [placeholder] });
  const remaining = checkpoint.scales - checkpoint.finished;
  const nextSide = resolved.sizeSide === 'long' ? Math.max(checkpoint.next.width, checkpoint.next.height) : Math.min(checkpoint.next.width, checkpoint.next.height);
  // The largest startSize that keeps the next scale; a few below it cover short-side rounding.
  for (let startSize = nextSide; startSize >= Math.max(16, nextSide - 8); startSize--) {
    const sizes = plannedScales({ ...resolved, startSize }, content);
    const first = sizes[0];
    if (sizes.length === remaining && first.width === checkpoint.next.width && first.height === checkpoint.next.height) {
      return { ...options, startSize, init: image };
    }
  }
  return undefined;
}
