/**
 * The ETA of one run as the pipeline plans it: each scale's cost is what the network sees there
 * (the image inside its border margin, times the tiled evaluation's cost over an untiled one), and
 * its expected iterations follow the stopping rule. Shared by the run and by `bench:eta --replay`,
 * which replays a finished run's iteration times through the same estimator.
 */
import { typicalScaleIterations, type ResolvedTuning } from '../options.js';
import { EtaEstimator } from './eta.js';
import type { ScaleEngine } from './memory.js';
import { iterationsAt, type Size } from './plan.js';

/** `margin`: the border pixels the network sees on each side of a scale. */
export function createRunEta(scales: readonly Size[], engines: readonly ScaleEngine[], margin: number, opts: ResolvedTuning): EtaEstimator {
  const finalScale = scales.length - 1;
  return new EtaEstimator(
    scales.map((s, k) => {
      const iterations = iterationsAt(k, scales, opts);
      return {
        pixels: (s.width + 2 * margin) * (s.height + 2 * margin) * engines[k].cost, // tiles recompute their halos and run a forward pass first
        maxIterations: iterations,
        // An earlier scale under a stopping rule: the preset's typical count (measured); else the count given.
        expectedIterations: opts.tolerance > 0 && k < finalScale ? Math.min(iterations, typicalScaleIterations(opts)) : iterations,
      };
    }),
    { warmStart: opts.warmStart && opts.optimizer === 'lbfgs' },
  );
}
