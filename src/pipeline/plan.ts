/**
 * The geometry of a run: the scales it optimises at, the style image's size at each, and the image
 * each run starts from. Everything but the last needs only sizes, so a server can plan a job
 * (planJob) before or without its pictures.
 */
import type { PlanarImage, RawImage } from '../image/image.js';
import { toPlanar } from '../image/image.js';
import { fitLongSide, fitShortSide } from '../image/resample.js';
import type { ResolvedTuning } from '../options.js';
import { seededRandom } from '../random.js';
import { iterationsAtScale, scaleSchedule } from '../schedule.js';

export interface Size {
  width: number;
  height: number;
}

/** The output size: `size` on the long side, or (the recipe) on the short side as torchvision does. */
export function outputSize(content: Size, opts: ResolvedTuning): Size {
  return opts.sizeSide === 'long' ? fitLongSide(content.width, content.height, opts.size) : fitShortSide(content.width, content.height, opts.size);
}

/** Coarse-to-fine sizes; a single scale when there are no earlier-scale iterations. */
export function planScales(content: Size, final: Size, opts: ResolvedTuning): Size[] {
  if (opts.scaleIterations === 0) return [final];
  const finalLong = Math.max(final.width, final.height);
  const shortToLong = Math.max(content.width, content.height) / Math.min(content.width, content.height);
  const startLong = opts.sizeSide === 'long' ? opts.startSize : Math.round(opts.startSize * shortToLong);
  const sizes = scaleSchedule({ width: content.width, height: content.height, finalLongSide: finalLong, startLongSide: startLong, ratio: opts.scaleRatio });
  sizes[sizes.length - 1] = final; // exactly the requested size (short-side sizing rounds differently)
  return sizes;
}

/** Iterations at scale k of n: the final scale has its own count; above 1024 px both fall with the pixel count (iterationsAtScale). */
export function iterationsAt(k: number, scales: readonly Size[], opts: ResolvedTuning): number {
  const n = k === scales.length - 1 ? opts.iterations : opts.scaleIterations;
  return iterationsAtScale(Math.max(scales[k].width, scales[k].height), n);
}

/** A job's geometry from the content's size alone: its output size, its scales (coarse to fine) and the iterations of each. */
export interface JobPlan {
  readonly output: Size;
  readonly scales: Size[];
  /** Iterations at each scale (the most an earlier scale runs under a stopping rule). */
  readonly iterations: number[];
}

export function planJob(content: Size, opts: ResolvedTuning): JobPlan {
  const output = outputSize(content, opts);
  const scales = planScales(content, output, opts);
  return { output, scales, iterations: scales.map((_, k) => iterationsAt(k, scales, opts)) };
}

/** The style image's size at a scale: the content's shape (recipe), or its own aspect at styleScale × the output's long side. */
export function styleSize(style: Size, at: Size, opts: ResolvedTuning): Size {
  if (opts.matchStyleShape) return { width: at.width, height: at.height };
  return fitLongSide(style.width, style.height, Math.max(16, Math.round(Math.max(at.width, at.height) * opts.styleScale)));
}

/**
 * The first scale's starting image (pixel space, 0..1 RGB): the content, uniform noise from the
 * seed, the (first) style, or a given image — already resized to this scale by the caller.
 */
export function initialImage(opts: ResolvedTuning, size: Size, content: RawImage, style: RawImage, init: RawImage | undefined): PlanarImage {
  if (init) return toPlanar(init);
  if (opts.init === 'noise') {
    const random = seededRandom(opts.seed);
    return { data: Float32Array.from({ length: 3 * size.width * size.height }, random), width: size.width, height: size.height };
  }
  if (opts.init === 'style') return toPlanar(style);
  return toPlanar(content);
}
