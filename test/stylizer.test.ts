/**
 * createStylizer(): one object keeps the network and its ONNX Runtime sessions between jobs. The
 * loads and builds are counted on the real Node platform (a wrapper that counts and delegates).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { estimateUntiledBytes } from '../src/engine/memory.js';
import { PRESETS } from '../src/options.js';
import { createStylizer, createStylizerOn, stylize, StyleTransferError, type ProgressEvent, type Stylizer, type StylizeOptions } from '../src/index.js';
import { nodePlatform } from '../src/node/platform.js';
import type { Platform } from '../src/platform.js';
import { sharedImage, sharedWeights } from './helpers.js';

const job: StylizeOptions = {
  content: sharedImage('dog'),
  style: sharedImage('monet'),
  size: 48,
  iterations: 2,
  scaleIterations: 0,
  threads: 1,
};

/** The Node platform, counting the expensive calls: weight reads and session builds (and which were lean: without the memory arena). */
function countingPlatform(): { platform: Platform; counts: { weightReads: number; backends: number }; leanBuilds: boolean[] } {
  const counts = { weightReads: 0, backends: 0 };
  const leanBuilds: boolean[] = [];
  const platform: Platform = {
    ...nodePlatform,
    resolveWeights: (r) => (counts.weightReads++, nodePlatform.resolveWeights(r)),
    backend: (threads, lean) => (counts.backends++, leanBuilds.push(lean ?? false), nodePlatform.backend(threads, lean)),
  };
  return { platform, counts, leanBuilds };
}

describe('createStylizer()', () => {
  it('runs a second job without reading the weights or building a session again, with the same result as stylize()', async () => {
    const { platform, counts } = countingPlatform();
    const stylizer = createStylizerOn(platform, { weights: sharedWeights });
    try {
      const loading: string[][] = [];
      const results = [];
      for (let k = 0; k < 2; k++) {
        const stages: string[] = [];
        results.push(await stylizer.stylize({ ...job, onProgress: (e) => e.type === 'loading' && stages.push(e.stage) }));
        loading.push(stages);
      }
      assert.deepEqual(counts, { weightReads: 1, backends: 1 });
      assert.deepEqual(stylizer.stats, { weightLoads: 1, sessionBuilds: 1, jobs: 2 });
      assert.deepEqual(loading, [['images', 'weights', 'engine'], ['images']]);

      const again = results[1]; // the job that reused the network and the session
      const once = await stylize({ ...job, weights: sharedWeights });
      assert.deepEqual(again.image.data, once.image.data);
      assert.equal(again.loss.loss, once.loss.loss);
    } finally {
      await stylizer.close();
    }
  });

  it('uses the memory arena when it fits the budget, the lean engine when only that fits, with the same result', async () => {
    const { platform, leanBuilds } = countingPlatform();
    const stylizer = createStylizerOn(platform, { weights: sharedWeights });
    try {
      const plain = { ...job, padding: 'zero' as const };
      const roomy = await stylizer.stylize({ ...plain, memory: '8G' });
      // A budget between the two untiled estimates of this size (L-BFGS keeps at most 2 pairs in 2 iterations).
      const pixels = roomy.image.width * roomy.image.height;
      const state = { optimizer: 'lbfgs' as const, history: 2, winograd: true }; // Node's graph holds Winograd's kernels
      const between = (estimateUntiledBytes(pixels, state) + estimateUntiledBytes(pixels, state, true)) / 2;
      const tight = await stylizer.stylize({ ...plain, memory: Math.floor(between) });
      assert.deepEqual(leanBuilds, [false, true]);
      assert.deepEqual(tight.image.data, roomy.image.data, 'allocation does not change the numbers');
    } finally {
      await stylizer.close();
    }
  });

  it('builds one more engine for another loss layout, and reads no weights for it', async () => {
    const { platform, counts } = countingPlatform();
    const stylizer = createStylizerOn(platform, { weights: sharedWeights });
    try {
      await stylizer.stylize(job);
      await stylizer.stylize({ ...job, pooling: 'avg' });
      await stylizer.stylize({ ...job, pooling: 'avg', iterations: 1 });
      assert.deepEqual(counts, { weightReads: 1, backends: 2 });
    } finally {
      await stylizer.close();
    }
  });

  // The last three cases share one Stylizer (they count no loads or builds); the last one closes it.
  describe('one Stylizer for several jobs', () => {
    let stylizer: Stylizer;
    before(async () => {
      stylizer = await createStylizer({ weights: sharedWeights, threads: 1 });
    });
    after(async () => stylizer.close());

    it('a failed job (bad image) does not poison the next one', async () => {
      await assert.rejects(stylizer.stylize({ ...job, content: new Uint8Array([1, 2, 3]) }), { name: 'ImageError' });
      const ok = await stylizer.stylize(job);
      assert.equal(ok.width, 48);
    });

    it('reports, in every iteration event, the loss terms of the point whose loss it reports', async () => {
      // Adam evaluates once per step at the current point, so iteration i's terms are the terms of the
      // image before update i; with a content image as init the content term starts at 0 (up to the
      // rounding of the loss graph's Winograd convolutions against the target graph's Conv, ~2e-6).
      const events: Extract<ProgressEvent, { type: 'iteration' }>[] = [];
      await stylizer.stylize({ ...job, optimizer: 'adam', learningRate: 2, colourStart: false, onProgress: (e) => e.type === 'iteration' && events.push(e) });
      assert.ok(events[0].content < 1e-4, `${events[0].content}`);
      assert.ok(events[1].content > 1e3 * events[0].content, `${events[1].content}`);
      for (const e of events) {
        // total = α·content + β·Σwₗ·styleₗ + tv weight·tv with the quality preset's α, β and TV weight
        const { contentWeight, styleWeight, tvWeight } = PRESETS.quality;
        const recombined = contentWeight * e.content + styleWeight * e.style + tvWeight * e.tv;
        assert.ok(Math.abs(recombined - e.loss) <= 1e-4 * e.loss, `iteration ${e.iteration}: ${recombined} vs ${e.loss}`);
        // Adam: one network evaluation per step (issue 18 counts work in evaluations).
        assert.equal(e.evaluations, 1);
      }
    });

    it('runs jobs one at a time in call order, and refuses jobs once closed', async () => {
      const order: string[] = [];
      const track = (name: string) => (e: ProgressEvent) => {
        if (e.type === 'loading' && e.stage === 'images') order.push(`${name} start`);
        if (e.type === 'done') order.push(`${name} done`);
      };
      await Promise.all([stylizer.stylize({ ...job, onProgress: track('a') }), stylizer.stylize({ ...job, onProgress: track('b') })]);
      assert.deepEqual(order, ['a start', 'a done', 'b start', 'b done']);
      await stylizer.close();
      await assert.rejects(stylizer.stylize(job), (err: unknown) => err instanceof StyleTransferError && /closed/.test((err as Error).message));
    });
  });
});
