/**
 * The progress ETA of a real coarse-to-fine run (issue 10, item 6) is the whole schedule's remaining
 * work at the speed measured so far.
 *
 * Whether that prediction comes true is a timing claim, so it is measured by `npm run bench:eta`
 * (median over repeated runs on a quiet machine), not here. What is checked here holds whatever the
 * machine's speed: an ETA from the first iteration on, 0 after the last one, and at the end of the
 * first scale a figure that counts every later scale, bounded by that scale's own measured speed:
 * each later iteration is predicted to cost at least a first-scale iteration (the later scales are
 * larger) and at most one scaled by the pixel ratio of the final scale, plus a few iterations' worth
 * of set-up per scale.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { stylize, type ProgressEvent } from '../src/index.js';
import { sharedImage, sharedWeights } from './helpers.js';

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
    padding: 'zero',
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

  const first = events.filter((e) => e.scale === 1);
  // The speed the run measured on its first scale: its iterations after the first (whose line search is kept out).
  const msPerIteration = first.slice(1).reduce((sum, e) => sum + e.ms, 0) / (first.length - 1);
  const later = scales.slice(1);
  const laterIterations = later.reduce((n, s) => n + s.iterations, 0);
  const pixels = (s: { width: number; height: number }) => s.width * s.height;
  const ratio = pixels(scales[scales.length - 1]) / pixels(scales[0]);
  const reported = first[first.length - 1].eta;
  const lower = (laterIterations * msPerIteration) / 1000;
  const upper = ((laterIterations + 3 * later.length) * msPerIteration * ratio) / 1000;
  assert.ok(reported >= lower && reported <= upper, `ETA ${reported} s, expected between ${lower} and ${upper} s`);
  // Every scale after the first has iterations left at its own start: the ETA there is still positive.
  for (const s of [1, 2]) assert.ok(events.filter((e) => e.scale === s).at(-1)!.eta > 0, `scale ${s} ends with later work left`);
});
