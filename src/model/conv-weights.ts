/**
 * From a file's tensors to the conv weights of a network: key normalisation (`module.`, `vgg.`
 * prefixes) and shape checks against the network description. Pure: Node and the browser share it.
 */
import { WeightsError } from '../errors.js';
import type { TensorMap } from './tensors.js';
import { convLayers, type NetworkSpec } from './vgg19.js';

/** One conv's parameters: weight OIHW [out][in][3][3] for cross-correlation, bias [out]. */
export interface ConvWeights {
  readonly weight: Float32Array;
  readonly bias: Float32Array;
}

/** Conv weights by layer name (conv1_1 …). */
export type NetworkWeights = Map<string, ConvWeights>;

/** A network ready to build the engine from: its description (with the input convention) and its conv weights. */
export interface ResolvedWeights {
  net: NetworkSpec;
  weights: NetworkWeights;
  /** The file the weights were read from. */
  path: string;
  modelName: string;
}

const PREFIXES = ['module.', 'vgg.', 'model.', 'net.'];

/** Find `features.N.<what>` under any of the usual wrapper prefixes. */
function lookup(tensors: TensorMap, index: number, what: 'weight' | 'bias') {
  const key = `features.${index}.${what}`;
  const direct = tensors.get(key);
  if (direct) return direct;
  for (const prefix of PREFIXES) {
    const t = tensors.get(prefix + key) ?? tensors.get(prefix + prefix + key);
    if (t) return t;
  }
  return undefined;
}

/**
 * The conv weights the network needs (all its convs, or only those up to `upTo` layers), checked
 * against the network's shapes. A checkpoint of another network fails here with a clear message.
 */
export function extractConvWeights(tensors: TensorMap, net: NetworkSpec, path = 'weights file', upTo?: ReadonlySet<string>): NetworkWeights {
  const out: NetworkWeights = new Map();
  for (const conv of convLayers(net)) {
    if (upTo && !upTo.has(conv.name)) continue;
    const weight = lookup(tensors, conv.index, 'weight');
    const bias = lookup(tensors, conv.index, 'bias');
    if (!weight || !bias) {
      throw new WeightsError(`${path} has no tensor features.${conv.index}.${weight ? 'bias' : 'weight'} (${conv.name}); is it a VGG-19 checkpoint?`, path);
    }
    const expected = [conv.outChannels, conv.inChannels, 3, 3];
    if (weight.shape.length !== 4 || weight.shape.some((d, i) => d !== expected[i])) {
      throw new WeightsError(
        `${path}: features.${conv.index}.weight (${conv.name}) has shape [${weight.shape.join(', ')}], expected [${expected.join(', ')}]; is it a VGG-19 checkpoint?`,
        path,
      );
    }
    if (bias.shape.length !== 1 || bias.shape[0] !== conv.outChannels) {
      throw new WeightsError(`${path}: features.${conv.index}.bias (${conv.name}) has shape [${bias.shape.join(', ')}], expected [${conv.outChannels}]`, path);
    }
    out.set(conv.name, { weight: weight.data, bias: bias.data });
  }
  return out;
}
