/**
 * The two ONNX models the engine runs:
 *
 * - the loss model: image → every loss term, the weighted total, and ∂total/∂image, in one pass.
 *   Inputs: `image` [1,3,H,W] (symbolic H, W: one session serves every size), one content target per
 *   content layer, one Gram target per style layer, and one scalar weight per term (so a session can
 *   be reused whatever the weights). Outputs: `loss`, `content.<layer>`, `style.<layer>`, `tv`
 *   (unweighted terms) and `grad`.
 * - the target model: image → content features and Gram matrices (forward only), for the content
 *   and style images.
 */
import type { NetworkWeights } from '../model/conv-weights.js';
import { truncateTo, type ConvLayer, type NetworkSpec, type Pooling } from '../model/vgg19.js';
import { contentLossGraph } from '../losses/content.js';
import { gramGraph, styleLossGraph, type StyleNormalisation } from '../losses/style.js';
import { guidedGramGraph, guidedStyleLossGraph, propagateMasks, type MaskPropagation } from '../losses/guided.js';
import { totalVariationGraph } from '../losses/total-variation.js';
import { GraphBuilder } from './graph-builder.js';
import { backwardGraph, forwardGraph, type NetworkGraphOptions } from './network-graph.js';

export interface LossLayout {
  /** Layers whose features are matched to the content image (conv4_2 in the paper). */
  readonly contentLayers: readonly string[];
  /** Layers whose Gram matrices are matched to the style (conv1_1 … conv5_1 in the paper). */
  readonly styleLayers: readonly string[];
  readonly styleNormalisation: StyleNormalisation;
  /** Gatys et al. suggest average pooling for nicer gradients; the recipe and torchvision use max. */
  readonly pooling: Pooling;
  /**
   * Guided Grams (spatial and scale control, losses/guided.ts), with masks propagated this way; absent:
   * the plain graph. The guided loss model takes `mask` [R,1,H,W] (R symbolic), Gram targets
   * [R,C,C] and region weights [R] per style layer; the guided target model a mask [1,1,H,W] of the
   * image (all ones: the whole image) and gives its guided Gram [1,C,C].
   */
  readonly guided?: MaskPropagation;
}

/** Graph I/O names, shared by the builder and the runner so they cannot drift apart. */
export const names = {
  image: 'image',
  contentTarget: (layer: string) => `content_target.${layer}`,
  styleTarget: (layer: string) => `style_target.${layer}`,
  contentWeight: (layer: string) => `weight.content.${layer}`,
  styleWeight: (layer: string) => `weight.style.${layer}`,
  mask: 'mask',
  regionWeight: (layer: string) => `weight.region.${layer}`,
  tvWeight: 'weight.tv',
  loss: 'loss',
  content: (layer: string) => `content.${layer}`,
  style: (layer: string) => `style.${layer}`,
  tv: 'tv',
  grad: 'grad',
  feature: (layer: string) => `feature.${layer}`,
  gram: (layer: string) => `gram.${layer}`,
} as const;

function convByName(net: NetworkSpec, name: string): ConvLayer {
  const layer = net.layers.find((l): l is ConvLayer => l.kind === 'conv' && l.name === name);
  if (!layer) throw new Error(`unknown layer ${name}`);
  return layer;
}

/** Choices in how the loss graph is written for a runtime (network-graph.ts). */
export type GraphOptions = NetworkGraphOptions;

export function buildLossModel(net: NetworkSpec, weights: NetworkWeights, layout: LossLayout, options: GraphOptions = {}): Uint8Array {
  const g = new GraphBuilder('style_transfer_loss');
  const image = g.input(names.image, [1, 3, 'H', 'W']);
  const layers = truncateTo(net, [...layout.contentLayers, ...layout.styleLayers]);
  const forward = forwardGraph(g, image, layers, weights, layout.pooling, true, options);
  const masks = layout.guided ? propagateMasks(g, g.input(names.mask, ['R', 1, 'H', 'W']), layers, layout.guided) : undefined;

  const terms: string[] = [];
  const contributions = new Map<string, string[]>();
  const contribute = (layer: string, grad: string) => contributions.set(layer, [...(contributions.get(layer) ?? []), grad]);

  for (const name of layout.contentLayers) {
    const conv = convByName(net, name);
    const target = g.input(names.contentTarget(name), [1, conv.outChannels, `H_${name}`, `W_${name}`]);
    const weight = g.input(names.contentWeight(name), []);
    const part = contentLossGraph(g, forward.features.get(name)!, target, weight);
    g.output(part.loss, names.content(name), []);
    terms.push(g.mul(part.loss, weight));
    contribute(name, part.grad);
  }
  for (const name of layout.styleLayers) {
    const conv = convByName(net, name);
    const c = conv.outChannels;
    const weight = g.input(names.styleWeight(name), []);
    const part = masks
      ? guidedStyleLossGraph(
          g,
          forward.features.get(name)!,
          masks.get(name)!,
          g.input(names.styleTarget(name), ['R', c, c]),
          g.input(names.regionWeight(name), ['R']),
          c,
          layout.styleNormalisation,
          weight,
        )
      : styleLossGraph(g, forward.features.get(name)!, g.input(names.styleTarget(name), [c, c]), c, layout.styleNormalisation, weight);
    g.output(part.loss, names.style(name), []);
    terms.push(g.mul(part.loss, weight));
    contribute(name, part.grad);
  }
  const tvWeight = g.input(names.tvWeight, []);
  const tv = totalVariationGraph(g, image);
  g.output(tv.loss, names.tv, []);
  terms.push(g.mul(tv.loss, tvWeight));

  const total = terms.reduce((a, b) => g.add(a, b));
  g.output(total, names.loss, []);
  const grad = g.add(backwardGraph(g, forward, contributions), g.mul(tv.grad, tvWeight));
  g.output(grad, names.grad, [1, 3, 'H', 'W']);
  return g.encode();
}

export function buildTargetModel(net: NetworkSpec, weights: NetworkWeights, layout: LossLayout): Uint8Array {
  const g = new GraphBuilder('style_transfer_targets');
  const image = g.input(names.image, [1, 3, 'H', 'W']);
  const layers = truncateTo(net, [...layout.contentLayers, ...layout.styleLayers]);
  const forward = forwardGraph(g, image, layers, weights, layout.pooling, false);
  const masks = layout.guided ? propagateMasks(g, g.input(names.mask, [1, 1, 'H', 'W']), layers, layout.guided) : undefined;
  for (const name of layout.contentLayers) {
    const conv = convByName(net, name);
    g.output(forward.features.get(name)!, names.feature(name), [1, conv.outChannels, `H_${name}`, `W_${name}`]);
  }
  for (const name of layout.styleLayers) {
    const conv = convByName(net, name);
    const c = conv.outChannels;
    if (masks) g.output(guidedGramGraph(g, forward.features.get(name)!, masks.get(name)!, c, layout.styleNormalisation).gram, names.gram(name), [1, c, c]);
    else g.output(gramGraph(g, forward.features.get(name)!, c, layout.styleNormalisation).gram, names.gram(name), [c, c]);
  }
  return g.encode();
}
