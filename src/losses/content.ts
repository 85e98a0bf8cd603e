/**
 * Content loss (Gatys et al. eq. 1, as the recipe and neural-style define it):
 *   content = mean over elements of (F − P)²      F: the image's features, P: the content target
 *   ∂content/∂F = 2 (F − P) / numel(F)
 * The paper writes ½·Σ(F − P)²; the mean makes the weight independent of the image size.
 */
import type { GraphBuilder } from '../engine/graph-builder.js';

export interface LossPart {
  /** Scalar loss value (unweighted). */
  readonly loss: string;
  /** ∂loss/∂input of the part (same shape as its input), unweighted. */
  readonly grad: string;
}

/**
 * `gradWeight` (a scalar) multiplies the gradient only: the term's weight, folded into the scalar
 * factor so the full-size gradient is written in one pass instead of two.
 */
export function contentLossGraph(g: GraphBuilder, feature: string, target: string, gradWeight?: string): LossPart {
  const diff = g.sub(feature, target);
  const count = g.sizeOf(diff);
  const loss = g.div(g.sumAll(g.mul(diff, diff), 4), count);
  const factor = g.div(g.scalar(2), count);
  const grad = g.mul(diff, gradWeight ? g.mul(factor, gradWeight) : factor);
  return { loss, grad };
}
