/**
 * The objective at one scale: the weighted loss of an image (network input space) and its gradient,
 * with every term of that evaluation. The optimisers see only `loss` and the gradient; they hand
 * the `terms` of the point they report back to the pipeline (see optim/types.ts).
 */
import type { LossTerms, StyleEngine, Targets, TermWeights } from '../engine/session.js';
import type { ResolvedOptions } from '../options.js';
import type { Evaluate } from '../optim/types.js';
import type { LossValues } from '../progress.js';
import type { Size } from './plan.js';

export interface Objective {
  readonly size: Size;
  readonly evaluate: Evaluate<LossTerms>;
}

export function createObjective(engine: StyleEngine, size: Size, targets: Targets, weights: TermWeights): Objective {
  return {
    size,
    evaluate: async (x, grad) => {
      const terms = await engine.evaluate(x, size.width, size.height, targets, weights, grad);
      return { loss: terms.total, terms };
    },
  };
}

/** α for each content layer, β·wₗ for each style layer, and the TV weight, from the options. */
export function termWeights(opts: ResolvedOptions): TermWeights {
  return {
    content: new Map(opts.contentLayers.map((l) => [l, opts.contentWeight])),
    style: new Map(opts.styleLayers.map((l, i) => [l, opts.styleWeight * opts.styleLayerWeights[i]])),
    tv: opts.tvWeight,
  };
}

/** Summaries of one evaluation's terms: total, content, Σ wₗ·styleₗ (β left out), tv. */
export function lossValues(terms: LossTerms, opts: ResolvedOptions): LossValues {
  let content = 0;
  for (const v of terms.content.values()) content += v;
  let style = 0;
  opts.styleLayers.forEach((l, i) => (style += opts.styleLayerWeights[i] * (terms.style.get(l) ?? 0)));
  return { loss: terms.total, content, style, tv: terms.tv };
}
