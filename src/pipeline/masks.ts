/**
 * Spatial and scale control in the pipeline (losses/guided.ts has the maths): whether a job uses
 * guided Grams, its masks as the network sees them at a scale, and the per-region weights ρ.
 *
 * A job is guided when it has output masks (styleMasks), style-image masks, or per-style layer
 * weights. Without output masks every style covers the whole output (all-ones masks), so per-style
 * layer weights alone give each style its own Gram terms instead of the blended target.
 */
import { padImage, type Padding } from '../engine/padding.js';
import type { Targets } from '../engine/loss-terms.js';
import type { RawImage } from '../image/image.js';
import type { MaskPropagation } from '../losses/guided.js';
import type { ResolvedTuning } from '../options.js';
import type { Size } from './plan.js';

type GuidedOptions = Pick<ResolvedTuning, 'perStyleLayerWeights' | 'maskPropagation'> & { readonly styleMasks?: unknown; readonly styleImageMasks?: unknown };

/** The guided layout's mask propagation when the job is guided, else undefined (the plain graph). */
export function guidedPropagation(opts: GuidedOptions): MaskPropagation | undefined {
  return opts.styleMasks !== undefined || opts.styleImageMasks !== undefined || opts.perStyleLayerWeights !== undefined ? opts.maskPropagation : undefined;
}

/** A mask image as one channel in 0…1: the mean of its RGB (Lanczos' overshoot clamped), planar [H,W]. */
export function maskPlane(img: RawImage): Float32Array {
  const n = img.width * img.height;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.min(1, Math.max(0, (img.data[3 * i] + img.data[3 * i + 1] + img.data[3 * i + 2]) / 765));
  return out;
}

/** Whether a mask has any weight at all (an all-black mask is refused: its style would go nowhere). */
export function maskIsEmpty(img: RawImage): boolean {
  for (let i = 0; i < img.data.length; i++) if (img.data[i] !== 0) return false;
  return true;
}

/** Masks [H,W] at an image's size → the network's view [R,H',W'], padded as the image is (pipeline/targets.ts networkInput). */
export function networkMasks(planes: readonly Float32Array[], size: Size, padding: Padding | undefined): NonNullable<Targets['masks']> {
  const padded = planes.map((p) => (padding ? padImage(p, size.width, size.height, padding.margin, padding.mode, 1) : p));
  const data = new Float32Array(padded.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of padded) {
    data.set(p, at);
    at += p.length;
  }
  return { data, regions: planes.length };
}

/**
 * ρ_{r,l}: style r's weight at layer l within the layer's term (β is the layer's term weight). Its
 * per-style wₗ (or the common ones); without output masks the styles overlap everywhere, so their
 * blend weights (normalised to sum 1) share the term as they share the blended target; with masks
 * each region is its own term (its Gram normalised by its own mass) and the blend is not used.
 */
export function regionWeightsOf(opts: Pick<ResolvedTuning, 'styleLayers' | 'styleLayerWeights' | 'perStyleLayerWeights' | 'styleBlend'>, masked: boolean): Map<string, number[]> {
  const total = opts.styleBlend.reduce((a, b) => a + b, 0);
  return new Map(
    opts.styleLayers.map((layer, l) => [
      layer,
      opts.styleBlend.map((b, r) => (opts.perStyleLayerWeights ? opts.perStyleLayerWeights[r][l] : opts.styleLayerWeights[l]) * (masked ? 1 : b / total)),
    ]),
  );
}
