/**
 * The loss's shared vocabulary: its targets, the weights of its terms, and the terms one evaluation
 * returns. Every evaluator (the untiled StyleEngine, the TiledEngine) and the pipeline speak it.
 */

/** Targets for the loss: content features [1,C,h,w] and Gram matrices [C,C], by layer. */
export interface Targets {
  readonly content: ReadonlyMap<string, { readonly data: Float32Array; readonly dims: readonly number[] }>;
  readonly gram: ReadonlyMap<string, Float32Array>;
  /**
   * Guided Grams only (LossLayout.guided): the R region masks in 0…1 at the network input's size
   * (padding included), planar [R,H,W]; each `gram` then holds R targets [R,C,C], region r's against
   * mask r.
   */
  readonly masks?: { readonly data: Float32Array; readonly regions: number };
}

/** Weights of each term: total = Σ content[l]·contentₗ + Σ style[l]·styleₗ + tv·TV. */
export interface TermWeights {
  readonly content: ReadonlyMap<string, number>;
  readonly style: ReadonlyMap<string, number>;
  readonly tv: number;
  /** Guided Grams only: ρ_r per style layer, each region's factor within the layer's term (default 1 each). */
  readonly regions?: ReadonlyMap<string, readonly number[]>;
}

/** The loss terms of one evaluation (unweighted per layer, plus the weighted total; a guided layer's term is Σ_r ρ_r·styleₗ(G_r)). */
export interface LossTerms {
  readonly total: number;
  readonly content: ReadonlyMap<string, number>;
  readonly style: ReadonlyMap<string, number>;
  readonly tv: number;
}
