/**
 * How much a run costs before it starts: its output size, its scales, and its work in
 * pixel-iterations (Σ over scales of width × height × iterations; an iteration's time is close to
 * proportional to its pixels, so this is the run's time up to a machine constant). The library
 * plans its scales with it, and the server caps what a remote user may ask for with it.
 */
import { fitLongSide, fitShortSide } from './image/resize.js';
import type { ResolvedOptions, Tuning } from './options.js';
import { scaleSchedule } from './schedule.js';

export interface Size {
  width: number;
  height: number;
}

type PlanOptions = Pick<Tuning, 'size' | 'sizeSide' | 'iterations' | 'scaleIterations' | 'startSize' | 'scaleRatio'>;

export interface WorkPlan {
  /** Sizes optimised at, coarse to fine. */
  scales: Size[];
  /** Iterations over all scales. */
  iterations: number;
  /** Σ width × height × iterations over the scales. */
  pixelIterations: number;
}

/** The output size for a content image of the given size. */
export function outputSize(content: Size, opts: Pick<Tuning, 'size' | 'sizeSide'>): Size {
  return opts.sizeSide === 'long' ? fitLongSide(content.width, content.height, opts.size) : fitShortSide(content.width, content.height, opts.size);
}

/** Coarse-to-fine sizes ending exactly at `final`; a single scale when there are no earlier-scale iterations. */
export function planScales(content: Size, final: Size, opts: PlanOptions): Size[] {
  if (opts.scaleIterations === 0) return [final];
  const finalLong = Math.max(final.width, final.height);
  const shortToLong = Math.max(content.width, content.height) / Math.min(content.width, content.height);
  const startLong = opts.sizeSide === 'long' ? opts.startSize : Math.round(opts.startSize * shortToLong);
  const sizes = scaleSchedule({ width: content.width, height: content.height, finalLongSide: finalLong, startLongSide: startLong, ratio: opts.scaleRatio });
  sizes[sizes.length - 1] = final; // exactly the requested size (short-side sizing rounds differently)
  return sizes;
}

export function planWork(content: Size, opts: PlanOptions | ResolvedOptions): WorkPlan {
  const scales = planScales(content, outputSize(content, opts), opts);
  let iterations = 0;
  let pixelIterations = 0;
  scales.forEach((s, k) => {
    const n = k === scales.length - 1 ? opts.iterations : opts.scaleIterations;
    iterations += n;
    pixelIterations += s.width * s.height * n;
  });
  return { scales, iterations, pixelIterations };
}
