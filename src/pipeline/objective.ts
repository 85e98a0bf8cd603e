/**
 * The objective at one scale: the weighted loss of an image (network input space) and its gradient,
 * with every term of that evaluation. The optimisers see only `loss` and the gradient; they hand
 * the `terms` of the point they report back to the pipeline (see optim/types.ts).
 */
import { DEFAULT_MARGIN, withPadding, type Padding } from '../engine/padding.js';
import type { LossEvaluator } from '../engine/evaluator.js';
import type { LossTerms, Targets, TermWeights } from '../engine/loss-terms.js';
import type { ResolvedTuning } from '../options.js';
import type { Evaluate } from '../optim/types.js';
import type { LossValues } from '../progress.js';
import type { Size } from './plan.js';
import { guidedPropagation, regionWeightsOf } from './masks.js';

export interface Objective {
  readonly size: Size;
  readonly evaluate: Evaluate<LossTerms>;
}

/**
 * With `padding`, the network runs on the image inside its margin (the targets must come from images
 * padded the same way, see pipeline/targets.ts) and the margin's gradient is folded back: the
 * optimiser still sees only the image.
 */
export function createObjective(engine: LossEvaluator, size: Size, targets: Targets, weights: TermWeights, padding?: Padding): Objective {
  const run = (x: Float32Array, width: number, height: number, grad: Float32Array) => engine.evaluate(x, width, height, targets, weights, grad);
  const lossAt = padding ? withPadding(size.width, size.height, padding, run) : (x: Float32Array, grad: Float32Array) => run(x, size.width, size.height, grad);
  return {
    size,
    evaluate: async (x, grad) => {
      const terms = await lossAt(x, grad);
      return { loss: terms.total, terms };
    },
  };
}

/** The input-level padding of the options: a 16 px mirrored margin for 'reflect', none for 'zero' (the convolutions' own zero padding). */
export function borderPadding(opts: Pick<ResolvedTuning, 'padding'>): Padding | undefined {
  return opts.padding === 'reflect' ? { margin: DEFAULT_MARGIN, mode: 'reflect' } : undefined;
}

/** α for each content layer, β·wₗ for each style layer, and the TV weight, from the options (guided jobs: see below; `masked`: the job has output masks). */
export function termWeights(opts: ResolvedTuning, masked = false): TermWeights {
  if (guidedPropagation(opts)) {
    // Guided: β per layer, and each style's share ρ_{r,l} (its wₗ, pipeline/masks.ts) inside the layer's term.
    return {
      content: new Map(opts.contentLayers.map((l) => [l, opts.contentWeight])),
      style: new Map(opts.styleLayers.map((l) => [l, opts.styleWeight])),
      tv: opts.tvWeight,
      regions: regionWeightsOf(opts, masked),
    };
  }
  return {
    content: new Map(opts.contentLayers.map((l) => [l, opts.contentWeight])),
    style: new Map(opts.styleLayers.map((l, i) => [l, opts.styleWeight * opts.styleLayerWeights[i]])),
    tv: opts.tvWeight,
  };
}

/** Summaries of one evaluation's terms: total, content, Σ wₗ·styleₗ (β left out), tv. */
export function lossValues(terms: LossTerms, opts: ResolvedTuning): LossValues {
  let content = 0;
  for (const v of terms.content.values()) content += v;
  let style = 0;
  // Guided terms already hold each style's wₗ (ρ).
  const guided = guidedPropagation(opts) !== undefined;
  opts.styleLayers.forEach((l, i) => (style += (guided ? 1 : opts.styleLayerWeights[i]) * (terms.style.get(l) ?? 0)));
  return { loss: terms.total, content, style, tv: terms.tv };
}
