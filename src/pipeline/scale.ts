/**
 * One scale of the coarse-to-fine run: optimise the image against that scale's objective for up to
 * `iterations` steps, reporting each accepted step, keeping the last good image if the loss diverges
 * or the run is cancelled.
 */
import type { LossTerms } from '../engine/session.js';
import { AbortError, RunError } from '../errors.js';
import type { RawImage } from '../image/image.js';
import type { ResolvedOptions } from '../options.js';
import { createAdam } from '../optim/adam.js';
import { createLbfgs } from '../optim/lbfgs.js';
import type { Optimizer, StepResult } from '../optim/types.js';
import { allFinite } from './finish.js';
import type { Objective } from './objective.js';

export interface ScaleRun {
  readonly objective: Objective;
  /** The starting point, network input space; optimised in place. */
  readonly x: Float32Array;
  readonly iterations: number;
  /** 1-based index of this scale, for messages. */
  readonly scale: number;
  readonly opts: ResolvedOptions;
  readonly signal?: AbortSignal;
  /** Renders a point (network input space) as the picture a user would get from it. */
  readonly render: (x: Float32Array) => RawImage;
  /** Called after every accepted step with the step (its loss and terms are those before the update), its time, and the image after it. */
  readonly onStep: (i: number, step: StepResult<LossTerms>, ms: number, lastGood: Float32Array) => void;
}

/** Runs the scale; returns the number of iterations made. x holds the result. */
export async function optimiseScale(run: ScaleRun): Promise<number> {
  const { x, opts, signal } = run;
  const lastGood = Float32Array.from(x);
  // L-BFGS starts each scale with a fresh history: the curvature of the previous, smaller problem does not carry over.
  const optimizer: Optimizer<LossTerms> =
    opts.optimizer === 'adam' ? createAdam<LossTerms>(x, { lr: opts.learningRate }) : createLbfgs<LossTerms>(x, { lr: opts.learningRate, history: opts.history });
  let i = 0;
  while (i < run.iterations) {
    if (signal?.aborted) throw new AbortError('the run was cancelled', run.render(lastGood));
    const t0 = performance.now();
    const step = await optimizer.step(run.objective.evaluate);
    const ms = performance.now() - t0;
    i++;
    if (!Number.isFinite(step.loss) || !allFinite(x)) {
      throw new RunError(`the loss diverged (${step.loss}) at scale ${run.scale}, iteration ${i}`, 'ERR_DIVERGED', { partial: run.render(lastGood) });
    }
    lastGood.set(x);
    run.onStep(i, step, ms, lastGood);
    if (step.converged) break;
  }
  return i;
}
