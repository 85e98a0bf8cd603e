/**
 * The library's entry points in Node: a Stylizer on the Node platform (onnxruntime-node, sharp, the
 * weights cache), and stylize(), which creates one, runs a single job and closes it.
 */
import { nodePlatform } from './node/platform.js';
import type { StylizeOptions } from './options.js';
import { createStylizerOn, type StylizeResult, type Stylizer, type StylizerOptions } from './stylizer.js';

export type { StylizeResult, Stylizer, StylizerOptions, StylizerStats } from './stylizer.js';

/**
 * A Stylizer that keeps the network and its ONNX Runtime sessions between jobs: the second job on
 * it reads no weights and builds no session. Call close() when done.
 */
export async function createStylizer(options: StylizerOptions = {}): Promise<Stylizer> {
  return createStylizerOn(nodePlatform, options);
}

/** Runs one job on a fresh Stylizer and releases it (load, run, close). */
export async function stylize(options: StylizeOptions): Promise<StylizeResult> {
  const stylizer = await createStylizer({ weights: options.weights, threads: options.threads });
  try {
    return await stylizer.stylize(options);
  } finally {
    await stylizer.close();
  }
}
