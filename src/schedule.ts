/**
 * The coarse-to-fine scale schedule. Optimising a small version first and upsampling it as the
 * starting point of the next scale lets the style's large structures form where they are cheap,
 * then refines detail at full size (Gatys et al. 2017, "Controlling Perceptual Factors in Neural
 * Style Transfer", §5; crowsonkb/style-transfer-pytorch does the same with a √2 ratio).
 */
import { OptionError } from './errors.js';
import { fitLongSide } from './image/resample.js';

export interface ScaleScheduleOptions {
  /** Width and height of the image whose aspect ratio every scale keeps (the content image). */
  width: number;
  height: number;
  /** Long side of the final (output) scale. */
  finalLongSide: number;
  /** Long side of the first scale, e.g. 192. A final size at or below it gives a single scale. */
  startLongSide: number;
  /** Growth of the long side from one scale to the next, > 1 (√2 or 2). */
  ratio: number;
}

/**
 * Sizes to optimise at, smallest first: long sides round(final / ratio^k) for k = 0, 1, … while
 * they are at least startLongSide (so the first scale lies in [start, start·ratio)); the last entry
 * is exactly fitLongSide(width, height, finalLongSide). A final size at or below the start gives a
 * single scale. Every dimension is at least 1 and no size appears twice.
 */
export function scaleSchedule(opts: ScaleScheduleOptions): { width: number; height: number }[] {
  const { width, height, finalLongSide, startLongSide, ratio } = opts;
  positiveInteger('width', width);
  positiveInteger('height', height);
  positiveInteger('finalLongSide', finalLongSide);
  positiveInteger('startLongSide', startLongSide);
  if (!(Number.isFinite(ratio) && ratio > 1)) throw new OptionError('ratio', 'a finite number greater than 1', ratio);

  // Counted down from the final size (final, final/ratio, final/ratio², …) while at least the start
  // size, so every step is a full `ratio` and no nearly-full-size scale is wasted at the end.
  const longSides: number[] = [];
  for (let k = 0; ; k++) {
    const long = Math.round(finalLongSide / ratio ** k);
    if (k > 0 && long < startLongSide) break;
    longSides.unshift(long);
    if (long <= startLongSide) break;
  }

  const sizes: { width: number; height: number }[] = [];
  for (const long of longSides) {
    const size = fitLongSide(width, height, long);
    const last = sizes[sizes.length - 1];
    if (!last || last.width !== size.width || last.height !== size.height) sizes.push(size);
  }
  return sizes;
}

function positiveInteger(option: string, value: number): void {
  if (!(Number.isInteger(value) && value >= 1)) throw new OptionError(option, 'a positive integer', value);
}
