/**
 * Resuming from a checkpoint: resumeOptions() turns a checkpoint into the library's `startAt` (start
 * at the next scale from the checkpoint's image), and a resumed run optimises exactly the scales an
 * uninterrupted run had left, under the same numbers, to the same picture (up to the checkpoint's
 * 8-bit rounding).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RawImage } from '../../src/image/image.js';
import { encodeImageBytes } from '../../src/image/io.js';
import { resolveTuning } from '../../src/options.js';
import type { ProgressEvent } from '../../src/progress.js';
import { createStylizer, type Stylizer } from '../../src/stylize.js';
import { plannedScales, resumeOptions, type Checkpoint } from '../../src/jobs/checkpoint.js';
import { sharedImage, sharedWeights } from '../helpers.js';

const DOG = { width: 1024, height: 768 }; // the shared dog.jpg

describe('checkpoint resume', () => {
  // One Stylizer for every run here: the weights are read and each size's sessions built once.
  let stylizer: Stylizer;
  before(async () => {
    stylizer = await createStylizer({ weights: sharedWeights, threads: 1 });
  });
  after(async () => {
    await stylizer.close();
  });

  it("plans the same scales as the library's runs (long and short side)", async () => {
    for (const options of [
      { size: 100, startSize: 30, scaleIterations: 1, iterations: 0 },
      { preset: 'recipe' as const, size: 70, startSize: 16, scaleIterations: 1, iterations: 0 },
    ]) {
      const result = await stylizer.stylize({ ...options, content: sharedImage('dog'), style: sharedImage('matisse'), weights: sharedWeights, threads: 1 });
      assert.ok(result.scales.length >= 3, JSON.stringify(result.scales));
      assert.deepEqual(plannedScales(resolveTuning(options), DOG), result.scales);
    }
  });

  it('resumes at the next scale of the plan, and refuses a checkpoint that is not of this plan', () => {
    const image = new Uint8Array([1]);
    const options = { sizeSide: 'short' as const, size: 333, startSize: 50 };
    const plan = plannedScales(resolveTuning(options), DOG);
    assert.ok(plan.length >= 4);
    for (let finished = 1; finished < plan.length; finished++) {
      const checkpoint: Checkpoint = { finished, scales: plan.length, next: plan[finished], iterations: 0 };
      assert.deepEqual(resumeOptions(options, DOG, checkpoint, image), { ...options, startAt: { scale: finished + 1, image } });
    }
    const good: Checkpoint = { finished: 1, scales: plan.length, next: plan[1], iterations: 0 };
    // Another size, another schedule, or another picture: the saved image is not one of this run's scales.
    assert.equal(resumeOptions({ ...options, size: 300 }, DOG, good, image), undefined);
    assert.equal(resumeOptions({ ...options, scaleRatio: 1.3 }, DOG, good, image), undefined);
    assert.equal(resumeOptions(options, { width: 640, height: 640 }, good, image), undefined);
    assert.equal(resumeOptions(options, DOG, { ...good, scales: plan.length + 1 }, image), undefined);
  });

  it('a resumed run runs the remaining scales of the plan, numbered as in the whole run, to the same picture', async () => {
    // upsampleDetail on: the resumed scale adds back the content's detail exactly as the uninterrupted run does.
    const options = { size: 64, startSize: 32, scaleIterations: 2, iterations: 2, optimizer: 'adam' as const, learningRate: 2, upsampleDetail: true, colourStart: false };
    const inputs = { content: sharedImage('dog'), style: sharedImage('matisse'), weights: sharedWeights, threads: 1 };
    const scaleEvents = (events: ProgressEvent[]) => events.flatMap((e) => (e.type === 'scale' ? [{ scale: e.scale, scales: e.scales, width: e.width, height: e.height }] : []));
    const fullEvents: ProgressEvent[] = [];
    let firstResult: RawImage | undefined; // the first scale's result, as the worker's checkpoint keeps it
    const full = await stylizer.stylize({
      ...options,
      ...inputs,
      onProgress: (e) => {
        fullEvents.push(e);
        if (e.type === 'iteration' && e.scale === 1 && e.iteration === e.iterations) firstResult = e.preview();
      },
    });
    assert.ok(full.scales.length >= 3 && firstResult, JSON.stringify(full.scales));
    const checkpoint: Checkpoint = { finished: 1, scales: full.scales.length, next: full.scales[1], iterations: 2 };
    const resume = async (image: RawImage) => {
      const events: ProgressEvent[] = [];
      const png = await encodeImageBytes(image, 'png');
      const result = await stylizer.stylize({ ...resumeOptions(options, DOG, checkpoint, png)!, ...inputs, onProgress: (e) => events.push(e) });
      return { result, events };
    };

    const { result: rest, events } = await resume(firstResult!);
    assert.deepEqual(rest.scales, full.scales.slice(1));
    assert.deepEqual(scaleEvents(events), scaleEvents(fullEvents).slice(1));
    assert.equal(rest.iterations, full.iterations - 2);
    const meanDifference = (a: RawImage, b: RawImage) => a.data.reduce((sum, v, i) => sum + Math.abs(v - b.data[i]), 0) / a.data.length;
    const same = meanDifference(rest.image, full.image);
    assert.ok(same < 1, `mean difference ${same} levels from the uninterrupted run`);
    // The image matters: a grey stand-in for the first scale's result ends elsewhere.
    const grey = { ...firstResult!, data: new Uint8Array(firstResult!.data.length).fill(128) };
    const other = meanDifference((await resume(grey)).result.image, full.image);
    assert.ok(other > 10 * Math.max(same, 0.1), `from grey: ${other} levels`);
  });
});
