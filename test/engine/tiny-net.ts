/**
 * A small random VGG-like network (two poolings, odd sizes work) and float64 central differences:
 * what the gradient tests check the hand-written backward graph against.
 */
import { CAFFE_RGB_CONVENTION } from '../../src/model/convention.js';
import type { Layer, NetworkSpec } from '../../src/model/vgg19.js';
import type { NetworkWeights } from '../../src/model/weights-file.js';
import type { TermWeights } from '../../src/engine/loss-terms.js';
import { gaussian, seededRandom } from '../helpers.js';

export const tinyLayers: Layer[] = [
  { kind: 'conv', name: 'conv1_1', index: 0, inChannels: 3, outChannels: 5 },
  { kind: 'pool', name: 'pool1', index: 2 },
  { kind: 'conv', name: 'conv2_1', index: 3, inChannels: 5, outChannels: 6 },
  { kind: 'conv', name: 'conv2_2', index: 5, inChannels: 6, outChannels: 4 },
  { kind: 'pool', name: 'pool2', index: 7 },
  { kind: 'conv', name: 'conv3_1', index: 8, inChannels: 4, outChannels: 7 },
];
export const tinyNet: NetworkSpec = { name: 'tiny', layers: tinyLayers, convention: CAFFE_RGB_CONVENTION };

/** Term weights for a loss on the tiny net (content conv2_2; style conv1_1, conv2_1, conv3_1), all different so a mix-up shows. */
export const TINY_TERM_WEIGHTS: TermWeights = {
  content: new Map([['conv2_2', 1.5]]),
  style: new Map([
    ['conv1_1', 0.7],
    ['conv2_1', 2],
    ['conv3_1', 3],
  ]),
  tv: 0.3,
};

export function randomWeights(seed: number): NetworkWeights {
  const normal = gaussian(seededRandom(seed));
  const out: NetworkWeights = new Map();
  for (const l of tinyLayers) {
    if (l.kind !== 'conv') continue;
    const std = Math.sqrt(2 / (9 * l.inChannels)); // He init keeps activations alive through ReLUs
    out.set(l.name, {
      weight: Float32Array.from({ length: l.outChannels * l.inChannels * 9 }, () => normal() * std),
      bias: Float32Array.from({ length: l.outChannels }, () => 0.1 * normal()),
    });
  }
  return out;
}

/** ∂f/∂xᵢ ≈ (f(x + h·eᵢ) − f(x − h·eᵢ)) / 2h for every i (x is restored). */
export function centralDifferences(f: (x: Float64Array) => number, x: Float64Array, h: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const keep = x[i];
    x[i] = keep + h;
    const up = f(x);
    x[i] = keep - h;
    const down = f(x);
    x[i] = keep;
    out[i] = (up - down) / (2 * h);
  }
  return out;
}
