/** The progress ETA on a real coarse-to-fine run: right from the first scale on (issue 10, item 6). */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { stylize, type ProgressEvent } from '../src/index.js';
import { sharedImage, sharedWeights } from './helpers.js';

type Iteration = Extract<ProgressEvent, { type: 'iteration' }>;

it('predicts the time left within 20 % at the end of the first of three scales', async (t) => {
  const events: Iteration[] = [];
  let scaleStarts = 0;
  await stylize({
    content: sharedImage('dog'),
    style: sharedImage('matisse'),
    weights: sharedWeights,
    size: 256,
    startSize: 128,
    scaleRatio: Math.SQRT2,
    // Enough iterations that a few slow ones on a shared machine do not decide the measured speed.
    scaleIterations: 20,
    iterations: 20,
    tolerance: 0,
    onProgress: (e) => {
      if (e.type === 'scale') scaleStarts++;
      if (e.type === 'iteration') events.push(e);
    },
  });
  assert.equal(scaleStarts, 3);
  const last = events[events.length - 1];
  const endOfFirst = events.filter((e) => e.scale === 1).pop()!;
  const actual = last.elapsed - endOfFirst.elapsed;
  // The pixels grow 1 : 2 : 4 over the scales, so most of the time is still ahead.
  assert.ok(actual > 3 * (endOfFirst.elapsed - events[0].elapsed), `test set-up: ${actual} s left`);
  const error = Math.abs(endOfFirst.eta - actual) / actual;
  t.diagnostic(`ETA after the first scale ${endOfFirst.eta.toFixed(2)} s, actual ${actual.toFixed(2)} s`);
  assert.ok(error < 0.2, `ETA ${endOfFirst.eta.toFixed(2)} s after the first scale, actual ${actual.toFixed(2)} s (${(100 * error).toFixed(0)} % off)`);
});
