/**
 * Issue 19, finding 14: stop means stop, also inside a tiled evaluation. A run whose scales are
 * computed in tiles (forced with `tile`, as `--tile` does) is cancelled while a pass over the tiles
 * is under way: the next tile does not run, and the run ends with the last finished image, as a
 * cancel between iterations does. The worker's SIGTERM, a server's cancel and the CLI's Ctrl-C all
 * reach the run through this same AbortSignal.
 *
 * Event-ordered, not timed: the test counts the tiles that start after the abort.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AbortError } from '../../src/errors.js';
import type { ProgressEvent } from '../../src/progress.js';
import { createStylizer, type Stylizer } from '../../src/stylize.js';
import { sharedImage, sharedWeights } from '../helpers.js';

describe('cancel inside a tiled evaluation (issue 19, finding 14)', () => {
  let stylizer: Stylizer;
  before(async () => {
    stylizer = await createStylizer({ weights: sharedWeights, threads: 1 });
  });
  after(async () => {
    await stylizer.close();
  });

  it('runs no further tile after the abort and keeps the last finished image', async () => {
    const controller = new AbortController();
    let tiles = 0;
    let tilesAfterAbort = 0;
    let iterations = 0;
    let passTiles = 0;
    const run = stylizer.stylize({
      content: sharedImage('dog'),
      style: sharedImage('matisse'),
      size: 64,
      iterations: 3,
      scaleIterations: 0,
      optimizer: 'adam',
      learningRate: 2,
      tile: 24,
      signal: controller.signal,
      onProgress: (e: ProgressEvent) => {
        if (e.type === 'iteration') iterations++;
        if (e.type !== 'tile') return;
        if (controller.signal.aborted) tilesAfterAbort++;
        tiles++;
        // Abort in the middle of the second iteration's gradient pass, with a finished iteration behind it.
        if (e.pass === 'gradient' && e.iteration === 2 && e.tile === 2) {
          passTiles = e.tiles;
          controller.abort();
        }
      },
    });
    const err = await run.then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(err instanceof AbortError, `the run ended with ${String(err)}`);
    assert.ok(passTiles > 4, `the pass had ${passTiles} tiles`);
    assert.equal(tilesAfterAbort, 0, `${tilesAfterAbort} tiles ran after the abort (of ${passTiles} in the pass, ${tiles} in all)`);
    assert.equal(iterations, 1, 'the interrupted iteration was not reported');
    const partial = err.partial as { width: number; height: number } | undefined;
    assert.ok(partial, 'the last finished image is kept');
    assert.deepEqual([partial.width, partial.height], [64, 48]);
  });
});
