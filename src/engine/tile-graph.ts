/**
 * The ONNX models of exact tiled evaluation (see tiling.ts for why it is exact). Each runs on one
 * tile's crop [1,3,h,w] and restricts every loss term to the tile's interior through a window per
 * level (`start`, `end`: int64 [row, column] in the crop's positions at that level):
 *
 * - sums model (pass 1, forward only): the raw partial sums of the interior, which the caller adds
 *   over tiles and normalises with the whole image's counts: `gram_sum.<l>` = Σ fₚfₚᵀ [C,C],
 *   `content_sum.<l>` = Σ (F − P)², `tv_sum` = Σ over the pixel pairs whose first pixel is inside;
 *   in targets mode, `gram_sum.<l>` and the interior's features `feature.<l>` instead.
 * - gradient model (pass 2): ∂/∂crop of the interior's share of the loss, given the global factors
 *   as inputs: `dgram.<l>` = wₗ·∂styleₗ/∂G already symmetrised and scaled so that ∂/∂F = dgram·F,
 *   `content_scale.<l>` = wₗ·2/numel, `tv_scale` = w_tv·2/numel. The caller adds the crops'
 *   gradients (overlap-add).
 * The graphs reuse the network's forward and hand-written backward pieces (network-graph.ts).
 */
import type { NetworkWeights } from '../model/conv-weights.js';
import { truncateTo, type ConvLayer, type NetworkSpec } from '../model/vgg19.js';
import { GraphBuilder } from './graph-builder.js';
import { DataType } from './onnx-proto.js';
import { backwardGraph, forwardGraph } from './network-graph.js';
import type { LossLayout } from './loss-graph.js';
import { tileGeometry } from './tiling.js';
import { guidedGradient, maskedGramSum, maskMass, propagateMasks } from '../losses/guided.js';

export const tileNames = {
  image: 'image',
  start: (level: number) => `window_start.${level}`,
  end: (level: number) => `window_end.${level}`,
  contentTarget: (layer: string) => `content_target.${layer}`,
  contentScale: (layer: string) => `content_scale.${layer}`,
  dgram: (layer: string) => `dgram.${layer}`,
  tvScale: 'tv_scale',
  gramSum: (layer: string) => `gram_sum.${layer}`,
  contentSum: (layer: string) => `content_sum.${layer}`,
  feature: (layer: string) => `feature.${layer}`,
  tvSum: 'tv_sum',
  grad: 'grad',
  /** Guided layouts: the crop's region masks [R,1,h,w] and each layer's Σ m² over the interior [R]. */
  mask: 'mask',
  massSum: (layer: string) => `mass_sum.${layer}`,
} as const;

function convByName(net: NetworkSpec, name: string): ConvLayer {
  const layer = net.layers.find((l): l is ConvLayer => l.kind === 'conv' && l.name === name);
  if (!layer) throw new Error(`unknown layer ${name}`);
  return layer;
}

/** Shared set-up: the crop input, the forward pass, and a window per level used. */
function begin(name: string, net: NetworkSpec, weights: NetworkWeights, layout: LossLayout, withBackward: boolean) {
  const g = new GraphBuilder(name);
  const image = g.input(tileNames.image, [1, 3, 'H', 'W']);
  const lossLayers = [...layout.contentLayers, ...layout.styleLayers];
  const layers = truncateTo(net, lossLayers);
  const geometry = tileGeometry(layers, lossLayers);
  const forward = forwardGraph(g, image, layers, weights, layout.pooling, withBackward);
  const windows = new Map<number, { start: string; end: string }>();
  const windowAt = (level: number) => {
    let w = windows.get(level);
    if (!w) {
      w = { start: g.input(tileNames.start(level), [2], DataType.INT64), end: g.input(tileNames.end(level), [2], DataType.INT64) };
      windows.set(level, w);
    }
    return w;
  };
  const axes = g.ints([2, 3]);
  /** A [1,C,h,w] tensor cut to rows/columns [start, end) of `window`. */
  const cut = (x: string, w: { start: string; end: string }) => g.op('Slice', [x, w.start, w.end, axes]);
  /** The inverse placement: zero-pad a cut back to the shape of `like`. */
  const uncut = (x: string, like: string, w: { start: string; end: string }) => {
    const before = g.op('Concat', [g.ints([0, 0]), w.start], { axis: 0 });
    const after = g.sub(g.sub(g.op('Shape', [like]), g.op('Shape', [x])), before);
    return g.op('Pad', [x, g.op('Concat', [before, after], { axis: 0 })]);
  };
  const interior = (layer: string) => cut(forward.features.get(layer)!, windowAt(geometry.levels.get(layer)!));
  // Guided Grams: the crop's masks, propagated in the crop as in the untiled graph. Pools align with
  // the untiled ones (tiling.ts), and an 'inside' erosion is wrong near a cut edge only as far as
  // the features are, so the interior's masks are the untiled graph's.
  const masks = layout.guided ? propagateMasks(g, g.input(tileNames.mask, ['R', 1, 'H', 'W']), layers, layout.guided) : undefined;
  const interiorMask = (layer: string) => cut(masks!.get(layer)!, windowAt(geometry.levels.get(layer)!));
  return { g, image, forward, geometry, windowAt, cut, uncut, interior, masks, interiorMask };
}

/**
 * The image's TV pairs owned by the interior at level 0: horizontal pairs (p, p+1) and vertical
 * pairs (p, p+down) whose first pixel p is inside (the second may be in the halo). Returns the
 * two difference tensors, each over a sub-image that starts at the window's start.
 */
function tvPairs(g: GraphBuilder, image: string, w: { start: string; end: string }, cut: (x: string, w: { start: string; end: string }) => string) {
  const across = cut(image, { start: w.start, end: g.add(w.end, g.ints([0, 1])) }); // one column more (clamped at the border)
  const down = cut(image, { start: w.start, end: g.add(w.end, g.ints([1, 0])) }); // one row more
  const big = 1 << 30;
  const diff = (x: string, axis: number) => g.sub(g.op('Slice', [x, g.ints([1]), g.ints([big]), g.ints([axis])]), g.op('Slice', [x, g.ints([0]), g.ints([-1]), g.ints([axis])]));
  return { dx: diff(across, 3), dy: diff(down, 2) };
}

/** Σ x² of a [1,C,h,w] tensor. */
const sumSquares = (g: GraphBuilder, x: string) => g.sumAll(g.mul(x, x), 4);

/** Raw Σ fₚfₚᵀ over a [1,C,h,w] cut, as [C,C], and the cut reshaped to [C, h·w]. */
function gramSum(g: GraphBuilder, cutFeature: string, channels: number): { sum: string; flat: string } {
  const flat = g.op('Reshape', [cutFeature, g.ints([channels, -1])]);
  return { sum: g.op('MatMul', [flat, g.op('Transpose', [flat], { perm: [1, 0] })]), flat };
}

/** Pass 1 (mode 'loss') or tiled targets (mode 'targets'): forward only, partial sums of the interior. */
export function buildTileSumsModel(net: NetworkSpec, weights: NetworkWeights, layout: LossLayout, mode: 'loss' | 'targets'): Uint8Array {
  const { g, image, windowAt, cut, interior, masks, interiorMask } = begin(`style_transfer_tile_${mode}`, net, weights, layout, false);
  for (const name of layout.contentLayers) {
    const conv = convByName(net, name);
    const f = interior(name);
    if (mode === 'targets') {
      g.output(f, tileNames.feature(name), [1, conv.outChannels, `h_${name}`, `w_${name}`]);
    } else {
      const target = g.input(tileNames.contentTarget(name), [1, conv.outChannels, `h_${name}`, `w_${name}`]);
      g.output(sumSquares(g, g.sub(f, target)), tileNames.contentSum(name), []);
    }
  }
  for (const name of layout.styleLayers) {
    const c = convByName(net, name).outChannels;
    if (masks) {
      const m = interiorMask(name);
      g.output(maskedGramSum(g, interior(name), m, c).raw, tileNames.gramSum(name), ['R', c, c]);
      g.output(maskMass(g, m), tileNames.massSum(name), ['R']);
    } else {
      g.output(gramSum(g, interior(name), c).sum, tileNames.gramSum(name), [c, c]);
    }
  }
  if (mode === 'loss') {
    const { dx, dy } = tvPairs(g, image, windowAt(0), cut);
    g.output(g.add(sumSquares(g, dx), sumSquares(g, dy)), tileNames.tvSum, []);
  }
  return g.encode();
}

/** Pass 2: ∂(the interior's share of the weighted loss)/∂crop, given the global factors. */
export function buildTileGradientModel(net: NetworkSpec, weights: NetworkWeights, layout: LossLayout): Uint8Array {
  const { g, image, forward, geometry, windowAt, cut, uncut, interior, masks, interiorMask } = begin('style_transfer_tile_gradient', net, weights, layout, true);
  const contributions = new Map<string, string[]>();
  const contribute = (layer: string, cutGrad: string) => {
    const full = uncut(cutGrad, forward.features.get(layer)!, windowAt(geometry.levels.get(layer)!));
    contributions.set(layer, [...(contributions.get(layer) ?? []), full]);
  };
  for (const name of layout.contentLayers) {
    const conv = convByName(net, name);
    const target = g.input(tileNames.contentTarget(name), [1, conv.outChannels, `h_${name}`, `w_${name}`]);
    const scale = g.input(tileNames.contentScale(name), []);
    contribute(name, g.mul(g.sub(interior(name), target), scale));
  }
  for (const name of layout.styleLayers) {
    const conv = convByName(net, name);
    const c = conv.outChannels;
    const f = interior(name);
    if (masks) {
      // ∂/∂F = Σ_r m_r ∘ (dgram_r · (F∘m_r)) = Σ_r dgram_r·(F∘m_r²), dgram [R,C,C] (losses/guided.ts).
      const dgram = g.input(tileNames.dgram(name), ['R', c, c]);
      const m = interiorMask(name);
      contribute(name, guidedGradient(g, dgram, maskedGramSum(g, f, m, c).weighted, f, c));
    } else {
      const dgram = g.input(tileNames.dgram(name), [c, c]);
      const { flat } = gramSum(g, f, c);
      contribute(name, g.op('Reshape', [g.op('MatMul', [dgram, flat]), g.op('Shape', [f])]));
    }
  }
  // TV: Σ d² over the owned pairs; ∂/∂x = 2·(d_{j−1} − d_j) inside each sub-image, placed back in the crop.
  const tvScale = g.input(tileNames.tvScale, []);
  const w0 = windowAt(0);
  const { dx, dy } = tvPairs(g, image, w0, cut);
  const alongAxis = (d: string, axis: 2 | 3) => {
    const pad = (lo: boolean) => g.ints(axis === 3 ? [0, 0, 0, lo ? 1 : 0, 0, 0, 0, lo ? 0 : 1] : [0, 0, lo ? 1 : 0, 0, 0, 0, lo ? 0 : 1, 0]);
    return g.sub(g.op('Pad', [d, pad(true)]), g.op('Pad', [d, pad(false)]));
  };
  const tvGrad = g.add(uncut(alongAxis(dx, 3), image, w0), uncut(alongAxis(dy, 2), image, w0));
  const grad = g.add(backwardGraph(g, forward, contributions), g.mul(tvGrad, tvScale));
  g.output(grad, tileNames.grad, [1, 3, 'H', 'W']);
  return g.encode();
}
