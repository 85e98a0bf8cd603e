/**
 * The time left in a run, from the whole schedule rather than the current scale.
 *
 * An iteration's cost grows with the pixels it works on, so the run's remaining work is
 *   Σ over the scales still to come of expected iterations × cost(pixels),
 * counted in "pixel-iterations"; the speed (ms per pixel-iteration) is the mean over every
 * iteration done so far, from the first scale on (a single iteration's time jitters). The first
 * iteration of a scale is the exception: its line search, with no curvature known yet, takes
 * several evaluations (measured: 8 from a cold start, 3 from a warm one, against 1–2 later), so it
 * is kept out of the speed and counted for each scale to come as the surcharge the latest later
 * scale's first iteration had; before one was seen, the first scale's (a cold start, like theirs)
 * or, when the later scales start warm, WARM_START_SURCHARGE.
 *
 * cost(pixels) = pixels + FIXED_COST_PIXELS: a small image costs more per pixel than a large one
 * (per-call overheads of the session, the Gram matrices whose size does not depend on the image),
 * which makes a pure per-pixel rate measured at the first, smallest scale overestimate the rest.
 *
 * With a stopping rule a scale's iteration count is not known in advance: the expected count comes
 * from the preset's typical counts (an upper bound is the count given), and once a scale has
 * stopped, the ratio of its actual to its expected count corrects the later scales' expectations.
 */

/**
 * Per-iteration overhead expressed in pixels. Measured on this 2-core machine under heavy load:
 * one evaluation at 64x48 … 256x192 in one run fits ms ≈ rate × (pixels + ~4,800), a whole
 * coarse-to-fine run at 80…160 px behaved as if it were ~10,000 (thread hand-offs cost more when
 * the cores are oversubscribed). 7,500 is between the two; at the sizes that take minutes
 * (181…512 px) either value moves the estimate by less than 10 %.
 */
export const FIXED_COST_PIXELS = 7_500;

/**
 * Each scale first computes its targets (a forward pass of the content image and of the style
 * image at that size) and resizes its inputs: about one iteration's cost, counted for every scale
 * not yet started.
 */
export const SCALE_SETUP_ITERATIONS = 1;

/**
 * Extra cost of a warm-started scale's first iteration, in ordinary iterations: measured 2.5× a
 * median iteration at the final scale of a dog × matisse run (256x192), i.e. 1.5 extra.
 */
export const WARM_START_SURCHARGE = 1.5;

export interface EtaOptions {
  /** Whether the scales after the first start warm (L-BFGS's warm start): their first iteration is cheaper than the first scale's. */
  readonly warmStart?: boolean;
}

export interface EtaScale {
  readonly pixels: number;
  /** Most iterations this scale may run. */
  readonly maxIterations: number;
  /** Iterations it is expected to run (≤ maxIterations); equal to it without a stopping rule. */
  readonly expectedIterations: number;
}

export class EtaEstimator {
  /** Time and cost of the iterations after the first of each scale. */
  private msSpent = 0;
  private costSpent = 0;
  /** The first scale's first iteration, and the latest later scale's: time and cost. */
  private firstOfFirst: { ms: number; cost: number } | undefined;
  private firstOfLater: { ms: number; cost: number } | undefined;
  /** Corrects the expected counts from the scales already finished (actual / expected, clamped). */
  private countRatio = 1;
  private readonly finished: number[] = [];

  constructor(
    private readonly scales: readonly EtaScale[],
    private readonly options: EtaOptions = {},
  ) {
    if (scales.length === 0) throw new RangeError('a schedule needs at least one scale');
  }

  /** Iteration `iteration` (1-based) at `scale` (0-based) took `ms`. */
  record(scale: number, iteration: number, ms: number): void {
    const c = cost(this.scales[scale].pixels);
    if (iteration === 1) {
      if (scale === 0) this.firstOfFirst = { ms, cost: c };
      else this.firstOfLater = { ms, cost: c };
    } else {
      this.msSpent += ms;
      this.costSpent += c;
    }
  }

  /** ms per pixel-iteration; from the first iteration alone until a later one was timed. */
  private rate(): number {
    if (this.costSpent > 0) return this.msSpent / this.costSpent;
    const first = this.firstOfLater ?? this.firstOfFirst;
    return first ? first.ms / first.cost : Number.NaN;
  }

  /** The expected extra time of a later scale's first iteration, in ordinary iterations. */
  private firstSurcharge(): number {
    if (this.costSpent === 0) return 0;
    const extra = (first: { ms: number; cost: number }) => Math.max(0, first.ms / (this.rate() * first.cost) - 1);
    if (this.firstOfLater) return extra(this.firstOfLater);
    if (this.options.warmStart) return WARM_START_SURCHARGE;
    return this.firstOfFirst ? extra(this.firstOfFirst) : 0;
  }

  /** Scale `scale` stopped after `iterations`. */
  finishScale(scale: number, iterations: number): void {
    this.finished[scale] = iterations;
    let actual = 0;
    let expected = 0;
    for (let k = 0; k < this.finished.length; k++) {
      if (this.finished[k] === undefined) continue;
      actual += this.finished[k] * cost(this.scales[k].pixels);
      expected += this.scales[k].expectedIterations * cost(this.scales[k].pixels);
    }
    this.countRatio = expected > 0 ? Math.min(2, Math.max(0.5, actual / expected)) : 1;
  }

  /** Expected iterations still to run, at `scale` after `done` of its iterations, and at every later scale. */
  iterationsLeft(scale: number, done: number): number[] {
    return this.scales.map((s, k) => {
      if (k < scale) return 0;
      const expected = Math.min(s.maxIterations, Math.round(s.expectedIterations * (s.expectedIterations < s.maxIterations ? this.countRatio : 1)));
      return k === scale ? Math.max(0, Math.min(s.maxIterations, expected) - done) : expected;
    });
  }

  /** Seconds left after `done` iterations of `scale` (0-based); NaN before the first iteration was timed. */
  secondsLeft(scale: number, done: number): number {
    const msPerCost = this.rate();
    if (Number.isNaN(msPerCost)) return Number.NaN;
    const left = this.iterationsLeft(scale, done);
    const startCost = SCALE_SETUP_ITERATIONS + this.firstSurcharge();
    let work = 0;
    for (let k = scale; k < this.scales.length; k++) work += (left[k] + (k > scale && left[k] > 0 ? startCost : 0)) * cost(this.scales[k].pixels);
    return (work * msPerCost) / 1000;
  }
}

/** The cost of one iteration on an image of `pixels` (what the network sees), in the estimator's units. */
export function iterationCost(pixels: number): number {
  return pixels + FIXED_COST_PIXELS;
}

const cost = iterationCost;
