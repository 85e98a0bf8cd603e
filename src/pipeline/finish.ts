/** Post-processing of a scale's result: clamping to the pixel range and putting the colours back. */
import { combineLuminance, luminance } from '../image/colour.js';
import { toPlanar, type PlanarImage, type RawImage } from '../image/image.js';
import type { ResolvedTuning } from '../options.js';

/**
 * Colour preservation, part 1 (Gatys et al. 2016, "Preserving Color in Neural Artistic Style
 * Transfer"): with 'luminance' the network sees grey images.
 */
export function forNetwork(img: PlanarImage, opts: ResolvedTuning): PlanarImage {
  return opts.preserveColors === 'luminance' ? luminance(img) : img;
}

/** Colour preservation, part 2: with 'luminance' the network saw grey images; put the content's colours back. */
export function finishColours(result: PlanarImage, content: RawImage, opts: ResolvedTuning): PlanarImage {
  if (opts.preserveColors !== 'luminance') return result;
  return combineLuminance(result, toPlanar(content), { clamp: true });
}

/**
 * The optimisation is unconstrained (as in jcjohnson/neural-style); the image is clamped to the
 * valid range between scales and at the end.
 */
export function clampPixels(img: PlanarImage): PlanarImage {
  const data = img.data.map((v) => (v > 0 ? (v < 1 ? v : 1) : 0));
  return { data, width: img.width, height: img.height };
}

export function allFinite(x: Float32Array): boolean {
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) return false;
  return true;
}
