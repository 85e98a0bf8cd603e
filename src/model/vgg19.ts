/**
 * VGG-19's convolutional part (Simonyan & Zisserman 2015), as torchvision's `vgg19().features`:
 * 16 convolutions 3x3, stride 1, pad 1, each followed by ReLU, and a 2x2/2 pool after each block.
 * Features are read after each conv's ReLU (the recipe and Gatys et al. both do this).
 */
import { OptionError } from '../errors.js';
import type { InputConvention } from './convention.js';

export interface ConvLayer {
  readonly kind: 'conv';
  /** conv1_1 … conv5_4 */
  readonly name: string;
  /** Index of the conv in torchvision's `features` (its weights are `features.N.weight|bias`). */
  readonly index: number;
  readonly inChannels: number;
  readonly outChannels: number;
}

export interface PoolLayer {
  readonly kind: 'pool';
  /** pool1 … pool5 */
  readonly name: string;
  readonly index: number;
}

export type Layer = ConvLayer | PoolLayer;

export type Pooling = 'max' | 'avg';

/** A network: its layers in order and the input convention of the weights it is used with. */
export interface NetworkSpec {
  readonly name: string;
  readonly layers: readonly Layer[];
  readonly convention: InputConvention;
}

const BLOCKS: readonly (readonly number[])[] = [
  [64, 64],
  [128, 128],
  [256, 256, 256, 256],
  [512, 512, 512, 512],
  [512, 512, 512, 512],
];

/** The 21 layers of VGG-19 features (ReLUs are implied after each conv). */
export const VGG19_LAYERS: readonly Layer[] = (() => {
  const layers: Layer[] = [];
  let index = 0;
  let inChannels = 3;
  BLOCKS.forEach((block, b) => {
    block.forEach((outChannels, i) => {
      layers.push({ kind: 'conv', name: `conv${b + 1}_${i + 1}`, index, inChannels, outChannels });
      inChannels = outChannels;
      index += 2; // conv, relu
    });
    layers.push({ kind: 'pool', name: `pool${b + 1}`, index });
    index += 1;
  });
  return layers;
})();

export const VGG19_CONV_NAMES: readonly string[] = VGG19_LAYERS.filter((l) => l.kind === 'conv').map((l) => l.name);

export function vgg19(convention: InputConvention, name = 'vgg19'): NetworkSpec {
  return { name, layers: VGG19_LAYERS, convention };
}

/** The conv layers of a network, in order. */
export function convLayers(net: NetworkSpec): ConvLayer[] {
  return net.layers.filter((l): l is ConvLayer => l.kind === 'conv');
}

/** Names of the convs a loss at `names` runs through (VGG-19's layers; the same for every convention). */
export function convsUpTo(names: readonly string[]): Set<string> {
  const prefix = truncateTo({ layers: VGG19_LAYERS }, names);
  return new Set(prefix.flatMap((l) => (l.kind === 'conv' ? [l.name] : [])));
}

/**
 * The prefix of the network needed to compute features at `names`: everything up to and including
 * the deepest named conv (so a loss that stops at conv5_1 never runs conv5_2…conv5_4).
 */
export function truncateTo(net: Pick<NetworkSpec, 'layers'>, names: readonly string[]): Layer[] {
  let last = -1;
  for (const name of names) {
    const at = net.layers.findIndex((l) => l.kind === 'conv' && l.name === name);
    if (at < 0) throw new OptionError('layers', `names among ${VGG19_CONV_NAMES.join(', ')}`, name);
    last = Math.max(last, at);
  }
  return net.layers.slice(0, last + 1);
}

/**
 * The smallest side, in pixels, an image may have for the network to compute features at `names`:
 * each 2x2/2 pooling before the deepest named conv floors a side to half, and a side that reaches
 * 0 has no features (ONNX Runtime then fails inside the pooling's backward pass). 16 px for conv5_1.
 */
export function minimumSide(names: readonly string[]): number {
  const pools = truncateTo({ layers: VGG19_LAYERS }, names).filter((l) => l.kind === 'pool').length;
  return 2 ** pools;
}
