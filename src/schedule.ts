/**
 * The coarse-to-fine scale schedule. Optimising a small version first and upsampling it as the
 * starting point of the next scale lets the style's large structures form where they are cheap,
 * then refines detail at full size (Gatys et al. 2017, "Controlling Perceptual Factors in Neural
 * Style Transfer", §5; crowsonkb/style-transfer-pytorch does the same with a √2 ratio).
 */
import { OptionError } from './errors.js';
import { fitLongSide } from './image/resize.js';

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
 * Sizes to optimise at, smallest first. Long sides are round(start · ratio^k) while they stay below
 * the final long side; the last entry is always exactly fitLongSide(width, height, finalLongSide).
 * Every dimension is at least 1 and no size appears twice. The last step can be shorter than
 * `ratio` (e.g. 192, 384, 400 for ratio 2): the schedule starts at startLongSide, as asked.
 */
export function scaleSchedule(opts: ScaleScheduleOptions): { width: number; height: number }[] {
  const { width, height, finalLongSide, startLongSide, ratio } = opts;
  positiveInteger('width', width);
  positiveInteger('height', height);
  positiveInteger('finalLongSide', finalLongSide);
  positiveInteger('startLongSide', startLongSide);
  if (!(Number.isFinite(ratio) && ratio > 1)) throw new OptionError('ratio', 'a finite number greater than 1', ratio);

  const longSides: number[] = [];
  // Powers computed from the start each time (not by repeated multiplication) so √2 steps don't drift.
  for (let k = 0; ; k++) {
    const long = Math.round(startLongSide * ratio ** k);
    if (long >= finalLongSide) break;
    if (longSides.length === 0 || long > longSides[longSides.length - 1]) longSides.push(long);
  }
  longSides.push(finalLongSide);

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
