/**
 * What the pipeline needs from an engine: targets of an image, and the loss with its gradient.
 * StyleEngine runs the whole image in one graph; TiledEngine runs it exactly in tiles when the
 * whole graph would not fit in memory. Both take the image the network sees (planar [3,H,W], in
 * the network's input space) and give the same results up to float summation order.
 */
import type { LossTerms, Targets, TermWeights } from './loss-terms.js';

export interface LossEvaluator {
  /** `mask` (guided layouts only): the region of the image whose Gram is wanted, planar [H,W] in 0…1 (default: all of it). */
  targets(image: Float32Array, width: number, height: number, which?: { content?: boolean; style?: boolean }, mask?: Float32Array): Promise<Targets>;
  /** The loss terms at `image`; ∂total/∂image is written into `grad`. */
  evaluate(image: Float32Array, width: number, height: number, targets: Targets, weights: TermWeights, grad: Float32Array): Promise<LossTerms>;
}
