/**
 * Where to stop a scale: when the loss has stopped falling fast enough to be worth its time.
 *
 * A fixed iteration count either wastes iterations on a scale that has already settled or stops
 * one that is still moving; what matters is the rate of progress. The rule here stops once the
 * mean relative decrease per iteration over the last STOP_WINDOW iterations,
 *   (L[i−w] − L[i]) / (w · L[i]),
 * falls below `tolerance`, but never before `minIterations` (the first iterations after an
 * upsampling can be slow while L-BFGS rebuilds its curvature history). A window rather than one
 * step: single L-BFGS steps vary a lot (a step that needed a long line search, a step that barely
 * moved), their mean over a window does not. tolerance 0 turns the rule off (the count alone stops).
 */

/** Iterations over which the relative decrease is averaged. */
export const STOP_WINDOW = 10;

export interface StoppingRuleOptions {
  /** Stop when the mean relative decrease per iteration over the window is below this (0 = never). */
  readonly tolerance: number;
  /** Never stop before this many iterations. */
  readonly minIterations: number;
  readonly window?: number;
}

export interface StoppingRule {
  /** Record the loss of one more iteration; true when the scale should stop after it. */
  update(loss: number): boolean;
}

export function createStoppingRule(opts: StoppingRuleOptions): StoppingRule {
  const window = opts.window ?? STOP_WINDOW;
  const losses: number[] = [];
  return {
    update(loss: number): boolean {
      losses.push(loss);
      const i = losses.length;
      if (!(opts.tolerance > 0) || i < Math.max(opts.minIterations, window + 1)) return false;
      const before = losses[i - 1 - window];
      return (before - loss) / (window * Math.abs(loss)) < opts.tolerance;
    },
  };
}
