/**
 * Spatial control by guided Gram matrices (Gatys, Ecker, Bethge, Hertzmann, Shechtman, "Controlling
 * Perceptual Factors in Neural Style Transfer", CVPR 2017). R soft masks m_r ∈ [0,1], one per style
 * image (region), enter the graph at the image's size as one input [R,1,H,W] and reach each loss
 * layer through the network's own pooling (propagateMasks). At a layer with features F (C × N):
 *
 *   G_r = (F∘m_r)(F∘m_r)ᵀ · N / (Σ m_r²) · g      (g: the unmasked Gram scale of style.ts, 1 or 1/M)
 *
 * i.e. the unmasked Gram of style.ts with the region's mass Σm² in place of the position count N:
 * an all-ones mask gives exactly the unmasked Gram, and a constant mask c the same Gram as no mask
 * (soft values weight positions; they do not scale the Gram). For a binary mask Σm² is its area.
 * styleₗ(G_r) is the unmasked per-layer loss of style.ts (its normalisation, including 'recipe''s
 * division by the whole image's M = C·N), and the layer's term is Σ_r ρ_r·styleₗ(G_r) with ρ_r the
 * region's weight (per-style layer weights, scale control).
 *
 * Gradient, with D_r = G_r − A_r and d_r = C·Σm_r² (recipe: d_r/M, so that G_r = raw_r / d_r):
 *   ∂styleₗ/∂G_r = 2 D_r/C² · k (k = 1/M for 'recipe', else 1), and k/d_r = 1/(C·Σm_r²) either way,
 *   ∂/∂F = Σ_r m_r ∘ ((S_r + S_rᵀ)·(F∘m_r)) = Σ_r (S_r + S_rᵀ)·(F∘m_r²),  S_r = w·ρ_r · 2 D_r / (C³ Σm_r²).
 * A region with no mass at a layer (a small region eroded away by 'inside') is given a mass of
 * 1e-12 so nothing divides by zero: its Gram is then 0, its gradient 0, and its loss the constant
 * mean(A²), which moves nothing.
 */
import type { GraphBuilder } from '../engine/graph-builder.js';
import type { Layer } from '../model/vgg19.js';
import type { StyleNormalisation } from './style.js';

/** How a mask reaches a layer (the paper's two choices). */
export type MaskPropagation = 'pool' | 'inside';

/** A region with less mass than this at a layer counts as empty there (see above). */
export const EMPTY_MASS = 1e-12;

/**
 * The masks [R,1,h,w] at each conv layer of `layers`, from `mask` [R,1,H,W] at the image:
 * - 'pool': through the network's 2x2 pools as average pooling, i.e. the fraction of the pool
 *   window inside the region (a max-pooled mask would grow each region by up to a window per pool,
 *   so at conv5_1 a region would take 16 px of its neighbour's border; the mean keeps regions the
 *   size they are and makes the boundary positions of deep layers shared in proportion);
 * - 'inside': only positions whose receptive field lies inside the region: the minimum of the mask
 *   over the receptive field, built as an erosion by 3x3 minimum per conv (its padding ignored:
 *   the image border is not outside the region) and a 2x2 minimum per pool.
 * Floor-mode pools, as the network's, so every level has the feature map's size.
 */
export function propagateMasks(g: GraphBuilder, mask: string, layers: readonly Layer[], propagation: MaskPropagation): Map<string, string> {
  const out = new Map<string, string>();
  const minPool = (x: string, attrs: Record<string, number[]>) => g.op('Neg', [g.op('MaxPool', [g.op('Neg', [x])], attrs)]);
  let m = mask;
  for (const layer of layers) {
    if (layer.kind === 'conv') {
      if (propagation === 'inside') m = minPool(m, { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] });
      out.set(layer.name, m);
    } else {
      m = propagation === 'inside' ? minPool(m, { kernel_shape: [2, 2], strides: [2, 2] }) : g.op('AveragePool', [m], { kernel_shape: [2, 2], strides: [2, 2] });
    }
  }
  return out;
}

/**
 * The raw guided Grams Σₚ m_r(p)²·fₚfₚᵀ of a feature [1,C,h,w] under masks [R,1,h,w], as [R,C,C],
 * and `weighted`, P_r = F∘m_r² as [R,C,h·w], which the gradient reuses (guidedGradient).
 *
 * Written as P_r·Fᵀ rather than (F∘m_r)(F∘m_r)ᵀ: the same sums, but one masked copy of the
 * layer's features (this [R,C,h·w] tensor is the masked graph's largest) serves both the Gram and
 * the gradient, Fᵀ is shared by all regions (the R Grams are one [R·C,N]×[N,C] product), and the
 * gradient needs no second masked product and no sum over regions (see guidedGradient). Measured
 * with 2 regions (`npm run bench -- --masks 2`, Zen 5): the masked evaluation at 1.13x the plain one
 * with the (F∘m)(F∘m)ᵀ form at 256² and 512², 1.05x with this one.
 */
export function maskedGramSum(g: GraphBuilder, feature: string, mask: string, channels: number): { raw: string; weighted: string } {
  const flat = g.op('Reshape', [feature, g.ints([channels, -1])]);
  const squares = g.op('Reshape', [g.mul(mask, mask), g.ints([0, 1, -1])]); // [R,1,N]
  const weighted = g.mul(flat, squares); // [R,C,N]
  const raw = g.op('MatMul', [weighted, g.op('Transpose', [flat], { perm: [1, 0] })]);
  return { raw, weighted };
}

/**
 * ∂/∂F [1,C,h,w] of the guided style terms given dgram [R,C,C] = ∂loss/∂G_r already symmetrised
 * and scaled (S_r + S_rᵀ below): Σ_r m_r ∘ (dgram_r·(F∘m_r)) = Σ_r dgram_r·P_r (a column scaling
 * commutes with a product on the left), i.e. one product [C, R·C]×[R·C, N] that sums the regions.
 */
export function guidedGradient(g: GraphBuilder, dgram: string, weighted: string, feature: string, channels: number): string {
  const side = g.op('Reshape', [g.op('Transpose', [dgram], { perm: [1, 0, 2] }), g.ints([channels, -1])]); // [C, R·C]
  const stacked = g.op('Flatten', [weighted], { axis: 2 }); // [R·C, N]
  return g.op('Reshape', [g.op('MatMul', [side, stacked]), g.op('Shape', [feature])]);
}

/** Σ m_r² per region of a mask [R,1,h,w], as [R]. */
export function maskMass(g: GraphBuilder, mask: string): string {
  return g.op('ReduceSum', [g.mul(mask, mask), g.ints([1, 2, 3])], { keepdims: 0 });
}

/**
 * The divisor d_r with G_r = raw_r / d_r ([R,1,1]): C·Σm² (size-invariant) or C·Σm²/M (recipe),
 * written so that an all-ones mask divides by exactly what gramGraph does (M, or 1).
 */
function gramDivisor(g: GraphBuilder, mass: string, feature: string, channels: number, norm: StyleNormalisation): string {
  const cm = g.mul(g.scalar(channels), g.op('Max', [mass, g.scalar(EMPTY_MASS)]));
  const d = norm === 'recipe' ? g.div(cm, g.sizeOf(feature)) : cm;
  return g.op('Reshape', [d, g.ints([-1, 1, 1])]);
}

/** The guided Grams [R,C,C] of a feature [1,C,h,w] under masks [R,1,h,w] at its level. */
export function guidedGramGraph(g: GraphBuilder, feature: string, mask: string, channels: number, norm: StyleNormalisation): { gram: string; weighted: string; mass: string } {
  const { raw, weighted } = maskedGramSum(g, feature, mask, channels);
  const mass = maskMass(g, mask);
  return { gram: g.div(raw, gramDivisor(g, mass, feature, channels, norm)), weighted, mass };
}

/**
 * The layer's guided style term Σ_r ρ_r·styleₗ(G_r) against targets [R,C,C] (`regionWeights`: ρ,
 * [R]) and its gradient ∂(w·term)/∂F with `gradWeight` w (a scalar) folded into the C×C factors.
 */
export function guidedStyleLossGraph(
  g: GraphBuilder,
  feature: string,
  mask: string,
  target: string,
  regionWeights: string,
  channels: number,
  norm: StyleNormalisation,
  gradWeight: string,
): { loss: string; grad: string } {
  const { gram, weighted, mass } = guidedGramGraph(g, feature, mask, channels, norm);
  const diff = g.sub(gram, target);
  const sq = g.op('ReduceSum', [g.op('ReduceSum', [g.mul(diff, diff), g.ints([-1])], { keepdims: 0 }), g.ints([-1])], { keepdims: 0 }); // [R]
  const meanSq = g.div(sq, g.scalar(channels * channels));
  const perRegion = norm === 'recipe' ? g.div(meanSq, g.sizeOf(feature)) : meanSq;
  const loss = g.op('ReduceSum', [g.mul(perRegion, regionWeights), g.ints([0])], { keepdims: 0 });
  // S_r = w·ρ_r·2/(C³·Σm_r²)·D_r
  const coef = g.div(g.mul(g.mul(regionWeights, gradWeight), g.scalar(2 / channels ** 3)), g.op('Max', [mass, g.scalar(EMPTY_MASS)]));
  const dGram = g.mul(diff, g.op('Reshape', [coef, g.ints([-1, 1, 1])]));
  const sym = g.add(dGram, g.op('Transpose', [dGram], { perm: [0, 2, 1] }));
  return { loss, grad: guidedGradient(g, sym, weighted, feature, channels) };
}
