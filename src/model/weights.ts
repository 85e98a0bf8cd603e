/**
 * From a file's tensors to the conv weights of a network: key normalisation (`module.`, `vgg.`
 * prefixes), shape checks against the network description, and the input convention.
 */
import { readFile } from 'node:fs/promises';
import { WeightsError } from '../errors.js';
import { conventionFromMetadata, type InputConvention } from './convention.js';
import { isSafetensors, parseSafetensors } from './safetensors.js';
import type { TensorMap } from './tensors.js';
import { convLayers, type NetworkSpec } from './vgg19.js';

/** One conv's parameters: weight OIHW [out][in][3][3] for cross-correlation, bias [out]. */
export interface ConvWeights {
  readonly weight: Float32Array;
  readonly bias: Float32Array;
}

/** Conv weights by layer name (conv1_1 …). */
export type NetworkWeights = Map<string, ConvWeights>;

export interface WeightsFile {
  readonly format: 'safetensors' | 'pth';
  readonly tensors: TensorMap;
  /** The input convention recorded in the file, if it records one (safetensors `__metadata__`). */
  readonly convention: InputConvention | undefined;
}

/** Parse a weights file held in memory, by its content (not its extension). */
export async function parseWeightsBytes(bytes: Uint8Array, path: string): Promise<WeightsFile> {
  if (isSafetensors(bytes)) {
    const { tensors, metadata } = parseSafetensors(bytes, path);
    return { format: 'safetensors', tensors, convention: conventionFromMetadata(metadata) };
  }
  const { isPth, parsePth } = await import('./pth.js');
  if (isPth(bytes)) return { format: 'pth', tensors: parsePth(bytes, path), convention: undefined };
  throw new WeightsError(`${path} is not a weights file (expected safetensors or a PyTorch .pth checkpoint)`, path);
}

export async function readWeightsFile(path: string): Promise<WeightsFile> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new WeightsError(`weights file not found: ${path}`, path);
    if (code === 'EISDIR') throw new WeightsError(`weights path is a directory, not a file: ${path}`, path);
    throw new WeightsError(`cannot read weights file ${path}: ${(err as Error).message}`, path);
  }
  return parseWeightsBytes(bytes, path);
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
