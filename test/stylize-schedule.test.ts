/** The schedule of a run: the stopping rule of the earlier scales (issue 10). */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { createStylizer, type ProgressEvent, type Stylizer } from '../src/index.js';
import { STOP_WINDOW } from '../src/pipeline/stopping.js';
import { sharedImage, sharedWeights } from './helpers.js';

type Iteration = Extract<ProgressEvent, { type: 'iteration' }>;

// The runs share one Stylizer: one weights read and one session per size instead of per run.
let stylizer: Stylizer;
before(async () => {
  stylizer = await createStylizer({ weights: sharedWeights });
});
after(async () => stylizer?.close());

async function run(options: Record<string, unknown>): Promise<Iteration[]> {
  const events: Iteration[] = [];
  await stylizer.stylize({
    content: sharedImage('dog'),
    style: sharedImage('matisse'),
    weights: sharedWeights,
    size: 64, // two scales: 43 and 64
    startSize: 40,
    scaleRatio: 1.5,
    ...options,
    onProgress: (e) => {
      if (e.type === 'iteration') events.push(e);
    },
  });
  return events;
}

const perScale = (events: Iteration[]) => events.reduce<number[]>((n, e) => ((n[e.scale - 1] = e.iteration), n), []);

it('stops an earlier scale by the tolerance, never before minIterations, and runs the final scale in full', async () => {
  // A tolerance no loss decrease can meet: every earlier scale stops as soon as the rule may.
  const loose = await run({ scaleIterations: 40, iterations: 3, tolerance: 0.9, minIterations: 0 });
  assert.deepEqual(perScale(loose), [STOP_WINDOW + 1, 3]);
  const later = await run({ scaleIterations: 40, iterations: 3, tolerance: 0.9, minIterations: STOP_WINDOW + 3 });
  assert.deepEqual(perScale(later), [STOP_WINDOW + 3, 3]);
  // Without a tolerance the counts are exact.
  const fixed = await run({ scaleIterations: 7, iterations: 3, tolerance: 0 });
  assert.deepEqual(perScale(fixed), [7, 3]);
});
