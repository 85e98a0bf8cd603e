/**
 * How a later scale starts: from the previous scale's result, resized (the coarse-to-fine schedule
 * of src/schedule.ts).
 */
import type { PlanarImage } from '../image/image.js';
import { resizePlanar } from '../image/resample.js';
import type { Size } from './plan.js';

/**
 * The previous scale's result resized to this scale; with `detail`, plus the content's detail that
 * the previous scale could not hold: content(now) − upsample(content(before)), clamped to 0..1. So a
 * result that still equals the coarse content starts the next scale as exactly the finer content:
 * the photo's edges and texture come back at once instead of being re-grown by the optimiser. (Not in
 * Gatys et al.; a deviation for speed, measured in README "Quality yardstick and schedule".)
 */
export function upsampled(result: PlanarImage, size: Size, detail: { now: PlanarImage; before: PlanarImage } | undefined): PlanarImage {
  const up = resizePlanar(result, size.width, size.height);
  if (!detail) return up;
  const blurred = resizePlanar(detail.before, size.width, size.height);
  const data = up.data;
  for (let i = 0; i < data.length; i++) data[i] = Math.min(1, Math.max(0, data[i] + detail.now.data[i] - blurred.data[i]));
  return up;
}
