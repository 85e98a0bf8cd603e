/**
 * The one contract between the optimisers and everything else: an objective evaluated at x. The
 * optimisers never know about images, networks or losses (jcjohnson/neural-style's feval idea).
 */

/**
 * One evaluation: f(x) and, opaque to the optimiser, whatever the objective wants to report about
 * that point (the pipeline's loss terms). The optimiser hands back the `terms` of the point it
 * reports, so nobody has to match floats to find them.
 */
export interface Evaluation<T> {
  loss: number;
  terms: T;
}

/**
 * Evaluate the objective at x: write ∂f/∂x into grad, return f(x) with its terms. An objective with
 * nothing to report may return the bare number. Async because the engine is.
 */
export type Evaluate<T = void> = (x: Float32Array, grad: Float32Array) => Promise<Evaluation<T> | (void extends T ? number : never)>;

export interface StepResult<T = void> {
  /** f at the iterate before this step's update */
  loss: number;
  /** The objective's terms at that same point (undefined when it returned a bare number). */
  terms: T;
  evaluations: number;
  /** true when the optimiser has converged or can make no progress */
  converged: boolean;
}

export interface Optimizer<T = void> {
  /** The iterate, updated in place by step(). */
  readonly x: Float32Array;
  step(evaluate: Evaluate<T>): Promise<StepResult<T>>;
}

/** Normalises an objective's answer: a bare number becomes an evaluation without terms. */
export async function evaluateAt<T>(evaluate: Evaluate<T>, x: Float32Array, grad: Float32Array): Promise<Evaluation<T>> {
  const r = await evaluate(x, grad);
  return typeof r === 'number' ? { loss: r, terms: undefined as T } : (r as Evaluation<T>);
}
