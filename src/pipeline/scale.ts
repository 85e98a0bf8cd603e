/**
 * One scale of the coarse-to-fine run: optimise the image against that scale's objective for up to
 * `iterations` steps (fewer when the stopping rule says the scale has settled), reporting each
 * accepted step, keeping the last good image if the loss diverges or the run is cancelled.
 */
import type { LossTerms } from '../engine/loss-terms.js';
import { AbortError, RunError } from '../errors.js';
import type { RawImage } from '../image/image.js';
import type { ResolvedTuning } from '../options.js';
import { createAdam } from '../optim/adam.js';
import { createLbfgs } from '../optim/lbfgs.js';
import type { Optimizer, StepResult } from '../optim/types.js';
import { allFinite } from './finish.js';
import type { Objective } from './objective.js';
import { createStoppingRule } from './stopping.js';

export interface ScaleRun {
  readonly objective: Objective;
  /** The starting point, network input space; optimised in place. */
  readonly x: Float32Array;
  readonly iterations: number;
  /** Stopping rule of this scale (src/pipeline/stopping.ts); tolerance 0 runs `iterations`. */
  readonly tolerance: number;
  readonly minIterations: number;
  /** L-BFGS's inverse-Hessian scale to start from (a warm start), if any. */
  readonly initialGamma?: number;
  /** L-BFGS's direction in float32 without a float64 work vector (when memory decides, see engine/memory.ts). */
  readonly float32Work?: boolean;
  /** 1-based index of this scale, for messages. */
  readonly scale: number;
  readonly opts: ResolvedTuning;
  readonly signal?: AbortSignal;
  /** Renders a point (network input space) as the picture a user would get from it. */
  readonly render: (x: Float32Array) => RawImage;
  /** Called after every accepted step with the step (its loss and terms are those before the update), its time, and the image after it. */
  readonly onStep: (i: number, step: StepResult<LossTerms>, ms: number, lastGood: Float32Array) => void;
}

export interface ScaleResult {
  readonly iterations: number;
  /** L-BFGS's inverse-Hessian scale at the end (NaN for Adam, or when it is unknown). */
  readonly gamma: number;
}

/** Runs the scale; x holds the result. */
export async function optimiseScale(run: ScaleRun): Promise<ScaleResult> {
  const { x, opts, signal } = run;
  const lastGood = Float32Array.from(x);
  // L-BFGS starts each scale with a fresh history: the curvature pairs of the previous, smaller
  // problem do not carry over; with a warm start, its overall scale γ does (see the caller).
  const lbfgs =
    opts.optimizer === 'lbfgs'
      ? createLbfgs<LossTerms>(x, { lr: opts.learningRate, history: opts.history, initialGamma: run.initialGamma, float32Work: run.float32Work })
      : undefined;
  const optimizer: Optimizer<LossTerms> = lbfgs ?? createAdam<LossTerms>(x, { lr: opts.learningRate });
  const stopping = createStoppingRule({ tolerance: run.tolerance, minIterations: run.minIterations });
  let i = 0;
  while (i < run.iterations) {
    if (signal?.aborted) throw new AbortError('the run was cancelled', run.render(lastGood));
    const t0 = performance.now();
    let step: StepResult<LossTerms>;
    try {
      step = await optimizer.step(run.objective.evaluate);
    } catch (err) {
      // A cancel inside an evaluation (between the tiles of a tiled one) keeps the last good image too.
      if (err instanceof AbortError && !err.partial) throw new AbortError(err.message, run.render(lastGood));
      throw err;
    }
    const ms = performance.now() - t0;
    i++;
    if (!Number.isFinite(step.loss) || !allFinite(x)) {
      throw new RunError(`the loss diverged (${step.loss}) at scale ${run.scale}, iteration ${i}`, 'ERR_DIVERGED', { partial: run.render(lastGood) });
    }
    lastGood.set(x);
    run.onStep(i, step, ms, lastGood);
    if (step.converged || stopping.update(step.loss)) break;
  }
  return { iterations: i, gamma: lbfgs?.gamma ?? Number.NaN };
}
