/** The loss's targets at one scale: the content image's features and the styles' blended Gram matrices. */
import { padImage, paddedSize, type Padding } from '../engine/padding.js';
import type { LossEvaluator } from '../engine/evaluator.js';
import type { Targets } from '../engine/loss-terms.js';
import type { Size } from './plan.js';

export interface NetworkInput extends Size {
  /** Planar [3,H,W] in the network's input space. */
  readonly input: Float32Array;
}

/**
 * An image as the network sees it: with padding, inside the same margin as the optimised image. The
 * content image is padded so that the content loss compares like with like (its features near the
 * edges come from the same kind of surroundings); the style images too, so that their Grams hold
 * no features of a black frame for the output to imitate.
 */
export function networkInput(input: Float32Array, size: Size, padding: Padding | undefined): NetworkInput {
  if (!padding) return { input, width: size.width, height: size.height };
  return { input: padImage(input, size.width, size.height, padding.margin, padding.mode), ...paddedSize(size.width, size.height, padding) };
}

/** Guided targets (pipeline/masks.ts): the output's region masks, and optionally a region of each style image ([H,W] at its network input). */
export interface GuidedInputs {
  readonly masks: NonNullable<Targets['masks']>;
  readonly styleMasks?: readonly (Float32Array | undefined)[];
}

export async function computeTargets(
  engine: LossEvaluator,
  content: NetworkInput,
  styles: readonly NetworkInput[],
  blend: readonly number[],
  guided?: GuidedInputs,
): Promise<Targets> {
  const { content: contentTargets } = await engine.targets(content.input, content.width, content.height, { content: true, style: false });
  if (guided) {
    // One Gram per style, region r's target the Gram of style r (of its masked region, if given), stacked [R,C,C].
    const grams = [];
    for (let i = 0; i < styles.length; i++) {
      grams.push((await engine.targets(styles[i].input, styles[i].width, styles[i].height, { content: false, style: true }, guided.styleMasks?.[i])).gram);
    }
    const gram = new Map<string, Float32Array>();
    for (const layer of grams[0].keys()) {
      const size = grams[0].get(layer)!.length;
      const stacked = new Float32Array(size * grams.length);
      grams.forEach((g, r) => stacked.set(g.get(layer)!, r * size));
      gram.set(layer, stacked);
    }
    return { content: contentTargets, gram, masks: guided.masks };
  }
  const total = blend.reduce((a, b) => a + b, 0);
  const gram = new Map<string, Float32Array>();
  // Several styles: a weighted mean of their Gram matrices (jcjohnson/neural-style's -style_blend_weights).
  for (let i = 0; i < styles.length; i++) {
    const { gram: g } = await engine.targets(styles[i].input, styles[i].width, styles[i].height, { content: false, style: true });
    for (const [layer, values] of g) {
      const acc = gram.get(layer) ?? new Float32Array(values.length);
      const w = blend[i] / total;
      for (let j = 0; j < values.length; j++) acc[j] += w * values[j];
      gram.set(layer, acc);
    }
  }
  return { content: contentTargets, gram };
}
