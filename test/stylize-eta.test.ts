/**
 * The progress ETA of a real coarse-to-fine run is the whole schedule's remaining work at the speed
 * measured so far (issue 10, item 6).
 *
 * Whether that prediction comes true is a timing claim, so it is measured by `npm run bench:eta`
 * (median over repeated runs on a quiet machine), not here: on a shared CI machine the speed of the
 * later scales is whatever the neighbours leave. What is checked here does not depend on timing: the
 * reported ETA, recomputed from the run's own iteration times, counts every later scale at its own
 * size (with the reflect margin), its iterations, its set-up and its warm start.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { stylize, type ProgressEvent } from '../src/index.js';
import { FIXED_COST_PIXELS, SCALE_SETUP_ITERATIONS, WARM_START_SURCHARGE } from '../src/pipeline/eta.js';
import { DEFAULT_MARGIN } from '../src/engine/padding.js';
import { relativeError, sharedImage, sharedWeights } from './helpers.js';

type Iteration = Extract<ProgressEvent, { type: 'iteration' }>;

it('reports, at the end of the first scale, the later scales’ work at the speed measured on it', async () => {
  const events: Iteration[] = [];
  const scales: { width: number; height: number; iterations: number }[] = [];
  await stylize({
    content: sharedImage('dog'),
    style: sharedImage('matisse'),
    weights: sharedWeights,
    size: 128,
    startSize: 64,
    scaleRatio: Math.SQRT2,
    scaleIterations: 6,
    iterations: 4,
    tolerance: 0,
    warmStart: true,
    padding: 'reflect',
    onProgress: (e) => {
      if (e.type === 'scale') scales.push({ width: e.width, height: e.height, iterations: e.iterations });
      if (e.type === 'iteration') events.push(e);
    },
  });
  assert.deepEqual(
    scales.map((s) => s.iterations),
    [6, 6, 4],
  );
  assert.ok(
    events.every((e) => Number.isFinite(e.eta) && e.eta >= 0),
    'an ETA from the first iteration on',
  );
  assert.equal(events[events.length - 1].eta, 0, 'nothing left after the last iteration');

  // Independent recomputation: cost = pixels the network sees (image + mirrored margin) + a fixed
  // overhead; speed = the mean time of the first scale's iterations after its first (whose line
  // search is kept out); each later scale costs its iterations, its set-up, and a warm first
  // iteration's surcharge (no later scale's first iteration has been seen yet).
  const cost = (s: { width: number; height: number }) => (s.width + 2 * DEFAULT_MARGIN) * (s.height + 2 * DEFAULT_MARGIN) + FIXED_COST_PIXELS;
  const first = events.filter((e) => e.scale === 1);
  const msPerCost = first.slice(1).reduce((sum, e) => sum + e.ms, 0) / (first.length - 1) / cost(scales[0]);
  const work = scales.slice(1).reduce((sum, s) => sum + (s.iterations + SCALE_SETUP_ITERATIONS + WARM_START_SURCHARGE) * cost(s), 0);
  const expected = (work * msPerCost) / 1000;
  const reported = first[first.length - 1].eta;
  assert.ok(relativeError(reported, expected) < 1e-9, `ETA ${reported} s, expected ${expected} s`);
});
