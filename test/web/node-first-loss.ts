/**
 * What the browser tests compare a page's first loss with: onnxruntime-node's loss at iteration 1
 * of the same job. Iteration 1's loss is the start image's (the content's) against targets from the
 * same pixels, so on inputs already at the run's size (PNG, lossless) both engines must agree.
 */
import type { SizeSide } from '../../src/options.js';
import { stylize } from '../../src/stylize.js';
import { sharedWeights } from '../helpers.js';

/** `sizeSide`: as the page's job chose it (the preset's when absent). */
export async function nodeFirstLoss(content: string, style: string, preset: 'quality' | 'recipe', size: number, sizeSide?: SizeSide): Promise<number> {
  let loss: number | undefined;
  await stylize({
    content,
    style,
    preset,
    size,
    ...(sizeSide && { sizeSide }),
    iterations: 1,
    scaleIterations: 0,
    weights: sharedWeights,
    onProgress: (e) => {
      if (e.type === 'iteration' && e.iteration === 1) loss = e.loss;
    },
  });
  if (loss === undefined) throw new Error('the Node run reported no iteration 1');
  return loss;
}
