/**
 * How much a run costs before it starts: its scales and its work in pixel-iterations (Σ over
 * scales of width × height × iterations; an iteration's time is close to proportional to its
 * pixels, so this is the run's time up to a machine constant). The server caps what a remote user
 * may ask for with it; the geometry is the pipeline's own (pipeline/plan.ts).
 */
import type { ResolvedTuning } from './options.js';
import { iterationCost, SCALE_SETUP_ITERATIONS } from './pipeline/eta.js';
import { borderPadding } from './pipeline/objective.js';
import { planJob, type Size } from './pipeline/plan.js';

export interface WorkPlan {
  /** The output size. */
  output: Size;
  /** Sizes optimised at, coarse to fine. */
  scales: Size[];
  /** Iterations at each scale. */
  perScale: number[];
  /** Iterations over all scales. */
  iterations: number;
  /** Σ width × height × iterations over the scales. */
  pixelIterations: number;
}

export function planWork(content: Size, opts: ResolvedTuning): WorkPlan {
  const { output, scales, iterations: perScale } = planJob(content, opts);
  let iterations = 0;
  let pixelIterations = 0;
  scales.forEach((s, k) => {
    iterations += perScale[k];
    pixelIterations += s.width * s.height * perScale[k];
  });
  return { output, scales, perScale, iterations, pixelIterations };
}

/**
 * The run's cost in the progress ETA's units (pipeline/eta.ts): Σ over scales of (iterations +
 * the scale's set-up) × the cost of an iteration on what the network sees (the image inside its
 * border margin). A machine's time per unit, measured on one run, times this predicts another run's
 * time there (tiled scales, which also recompute halos, take longer than this says).
 */
export function runCost(plan: WorkPlan, opts: Pick<ResolvedTuning, 'padding'>): number {
  const margin = borderPadding(opts)?.margin ?? 0;
  return plan.scales.reduce((sum, s, k) => sum + (plan.perScale[k] + SCALE_SETUP_ITERATIONS) * iterationCost((s.width + 2 * margin) * (s.height + 2 * margin)), 0);
}
