/**
 * Resuming from a checkpoint: the options resumeOptions() builds make the library run exactly the
 * scales that were left, from the checkpoint's image. Checked against the library's own schedule
 * (the scales a real run reports), and by a real resumed run.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeImageBytes } from '../../src/image/io.js';
import { normaliseOptions } from '../../src/options.js';
import { stylize } from '../../src/stylize.js';
import { plannedScales, resumeOptions, type Checkpoint } from '../../src/jobs/checkpoint.js';
import { sharedImage, sharedWeights } from '../helpers.js';

const DOG = { width: 1024, height: 768 }; // the shared dog.jpg

function resolved(options: object) {
  const placeholder = new Uint8Array(1);
  return normaliseOptions({ ...options, content: placeholder, style: [placeholder] });
}

describe('checkpoint resume', () => {
  it("plans the same scales as the library's runs (long and short side)", async () => {
    for (const options of [
      { size: 100, startSize: 30, scaleIterations: 1, iterations: 0 },
      { preset: 'recipe' as const, size: 70, startSize: 16, scaleIterations: 1, iterations: 0 },
    ]) {
      const result = await stylize({ ...options, content: sharedImage('dog'), style: sharedImage('matisse'), weights: sharedWeights, threads: 1 });
      assert.ok(result.scales.length >= 3, JSON.stringify(result.scales));
      assert.deepEqual(plannedScales(resolved(options), DOG), result.scales);
    }
  });

  it('resumes at every scale of many shapes with exactly the remaining scales', () => {
    const shapes = [DOG, { width: 768, height: 1024 }, { width: 1000, height: 333 }, { width: 333, height: 1000 }, { width: 517, height: 389 }, { width: 640, height: 640 }];
    const image = new Uint8Array([1]);
    let checked = 0;
    for (const content of shapes) {
      for (const options of [
        { size: 512 },
        { size: 300, startSize: 40, scaleRatio: 1.3 },
        { preset: 'recipe' as const, size: 224, startSize: 60, scaleIterations: 10 },
        { sizeSide: 'short' as const, size: 333, startSize: 50 },
      ]) {
        const plan = plannedScales(resolved(options), content);
        for (let finished = 1; finished < plan.length; finished++) {
          const checkpoint: Checkpoint = { finished, scales: plan.length, next: plan[finished], iterations: 0 };
          const resumed = resumeOptions(options, content, checkpoint, image);
          assert.ok(resumed, `no resume for ${JSON.stringify({ content, options, finished })}`);
          assert.equal(resumed.init, image);
          assert.deepEqual(plannedScales(resolved(resumed), content), plan.slice(finished), JSON.stringify({ content, options, finished }));
          checked++;
        }
      }
    }
    assert.ok(checked > 40, `${checked} resumptions checked`);
  });

  it('continues a real run from its checkpoint image', async () => {
    const options = { size: 64, startSize: 32, scaleIterations: 2, iterations: 2, optimizer: 'adam' as const, learningRate: 2 };
    const full = await stylize({ ...options, content: sharedImage('dog'), style: sharedImage('matisse'), weights: sharedWeights, threads: 1 });
    const checkpoint: Checkpoint = { finished: 1, scales: full.scales.length, next: full.scales[1], iterations: 2 };
    // Any image of the first scale's size stands in for its result.
    const first = full.scales[0];
    const image = await encodeImageBytes({ data: new Uint8Array(first.width * first.height * 3).fill(128), width: first.width, height: first.height, channels: 3 }, 'png');
    const resumed = resumeOptions(options, DOG, checkpoint, image)!;
    const rest = await stylize({ ...resumed, content: sharedImage('dog'), style: sharedImage('matisse'), weights: sharedWeights, threads: 1 });
    assert.deepEqual(rest.scales, full.scales.slice(1));
    assert.equal(rest.iterations, 2 * (full.scales.length - 1));
  });
});
