/**
 * How much a run costs before it starts: its scales and its work in pixel-iterations (Σ over
 * scales of width × height × iterations; an iteration's time is close to proportional to its
 * pixels, so this is the run's time up to a machine constant). The server caps what a remote user
 * may ask for with it; the geometry is the pipeline's own (pipeline/plan.ts).
 */
import type { ResolvedOptions } from './options.js';
import { iterationsAt, outputSize, planScales, type Size } from './pipeline/plan.js';

export interface WorkPlan {
  /** Sizes optimised at, coarse to fine. */
  scales: Size[];
  /** Iterations over all scales. */
  iterations: number;
  /** Σ width × height × iterations over the scales. */
  pixelIterations: number;
}

export function planWork(content: Size, opts: ResolvedOptions): WorkPlan {
  const scales = planScales(content, outputSize(content, opts), opts);
  let iterations = 0;
  let pixelIterations = 0;
  scales.forEach((s, k) => {
    const n = iterationsAt(k, scales.length, opts);
    iterations += n;
    pixelIterations += s.width * s.height * n;
  });
  return { scales, iterations, pixelIterations };
}
