/**
 * Style loss on Gram matrices (Gatys et al. eq. 3–5). With F the layer's activation reshaped to
 * C × N (N = H·W) and M = C·N its element count:
 *
 *   'recipe'          G = F·Fᵀ           styleₗ = mean((G − A)²) / M     (../shared/SEED-RECIPE.md)
 *   'size-invariant'  G = F·Fᵀ / M       styleₗ = mean((G − A)²)         (jcjohnson/neural-style)
 *
 * Gatys et al. use Σ(G − A)² / (4 N² C²) with an unnormalised G; both forms here differ from it only
 * by per-layer constants. The recipe's depends on the image size (its Gram grows with N), so the
 * same weights behave differently at another size; the size-invariant one does not, which is what a
 * multi-scale run needs.
 *
 * Gradient: with D = G − A and s = 1/C² (the mean) · k (k = 1/M for 'recipe', 1 otherwise),
 *   ∂styleₗ/∂G = 2 s D,   ∂styleₗ/∂F = g · (∂G + ∂Gᵀ) · F   with g the Gram scale (1 or 1/M).
 * A real target A is symmetric, but (D + Dᵀ) keeps the gradient right for any A.
 */
import type { GraphBuilder } from '../engine/graph-builder.js';
import type { LossPart } from './content.js';

export type StyleNormalisation = 'recipe' | 'size-invariant';

/** The Gram matrix of a [1, C, H, W] activation as [C, C], with the normalisation's scale. */
export function gramGraph(g: GraphBuilder, feature: string, channels: number, norm: StyleNormalisation): { gram: string; flat: string; count: string } {
  const flat = g.op('Reshape', [feature, g.ints([channels, -1])]);
  const raw = g.op('MatMul', [flat, g.op('Transpose', [flat], { perm: [1, 0] })]);
  const count = g.sizeOf(feature);
  const gram = norm === 'recipe' ? raw : g.div(raw, count);
  return { gram, flat, count };
}

/**
 * `gradWeight` (a scalar) multiplies the gradient only: the term's weight, applied to the C×C matrix
 * ∂loss/∂G rather than to the C×H×W gradient, which saves a pass over the layer's largest tensor.
 */
export function styleLossGraph(g: GraphBuilder, feature: string, target: string, channels: number, norm: StyleNormalisation, gradWeight?: string): LossPart {
  const { gram, flat, count } = gramGraph(g, feature, channels, norm);
  const diff = g.sub(gram, target);
  const meanSq = g.div(g.sumAll(g.mul(diff, diff), 2), g.scalar(channels * channels));
  const loss = norm === 'recipe' ? g.div(meanSq, count) : meanSq;
  // ∂loss/∂G = 2·D/(C²·k⁻¹); fold the Gram scale g in as well: recipe k = 1/M, g = 1; else k = 1, g = 1/M.
  // Either way the product of the two is 1/M.
  const scale = g.div(g.scalar(2 / (channels * channels)), count);
  const dGram = g.mul(diff, gradWeight ? g.mul(scale, gradWeight) : scale);
  const sym = g.add(dGram, g.op('Transpose', [dGram], { perm: [1, 0] }));
  const dFlat = g.op('MatMul', [sym, flat]);
  const grad = g.op('Reshape', [dFlat, g.op('Shape', [feature])]);
  return { loss, grad };
}
