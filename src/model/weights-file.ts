/**
 * Reading a weights file (safetensors or .pth) from disk or memory, with the input convention it
 * records. The step from tensors to a network's conv weights is conv-weights.ts (no platform
 * imports, so the browser uses it too); it is re-exported here.
 */
import { readFile } from 'node:fs/promises';
import { WeightsError } from '../errors.js';
export { extractConvWeights, type ConvWeights, type NetworkWeights } from './conv-weights.js';
import { conventionFromMetadata, type InputConvention } from './convention.js';
import { isSafetensors, parseSafetensors } from './safetensors.js';
import type { TensorMap } from './tensors.js';

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
