/**
 * The one contract between the optimisers and everything else: an objective evaluated at x. The
 * optimisers never know about images, networks or losses (jcjohnson/neural-style's feval idea).
 */

/** Evaluate the objective at x: write ∂f/∂x into grad, return f(x). Async because the engine is. */
export type Evaluate = (x: Float32Array, grad: Float32Array) => Promise<number>;

export interface StepResult {
  /** f at the iterate before this step's update */
  loss: number;
  evaluations: number;
  /** true when the optimiser has converged or can make no progress */
  converged: boolean;
}

export interface Optimizer {
  /** The iterate, updated in place by step(). */
  readonly x: Float32Array;
  step(evaluate: Evaluate): Promise<StepResult>;
}
