/**
 * The loss's shared vocabulary: its targets, the weights of its terms, and the terms one evaluation
 * returns. Every evaluator (the untiled StyleEngine, the TiledEngine) and the pipeline speak it.
 */

/** Targets for the loss: content features [1,C,h,w] and Gram matrices [C,C], by layer. */
export interface Targets {
  readonly content: ReadonlyMap<string, { readonly data: Float32Array; readonly dims: readonly number[] }>;
  readonly gram: ReadonlyMap<string, Float32Array>;
}

/** Weights of each term: total = Σ content[l]·contentₗ + Σ style[l]·styleₗ + tv·TV. */
export interface TermWeights {
  readonly content: ReadonlyMap<string, number>;
  readonly style: ReadonlyMap<string, number>;
  readonly tv: number;
}

/** The loss terms of one evaluation (unweighted per layer, plus the weighted total). */
export interface LossTerms {
  readonly total: number;
  readonly content: ReadonlyMap<string, number>;
  readonly style: ReadonlyMap<string, number>;
  readonly tv: number;
}
