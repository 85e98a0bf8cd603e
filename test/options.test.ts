/** normaliseOptions and resolveTuning: the library's option validation, without running anything; planJob: a job's geometry from sizes. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stylize } from '../src/stylize.js';
import { checkImageSizes, normaliseOptions, resolveTuning, type StylizeOptions } from '../src/options.js';
import { planJob } from '../src/pipeline/plan.js';
import { sharedImage } from './helpers.js';

const base: StylizeOptions = { content: 'content.jpg', style: 'style.jpg' };

describe('normaliseOptions', () => {
  it('names an unknown option once, quoted once', () => {
    assert.throws(
      () => normaliseOptions({ ...base, colour: 1 } as never),
      (err: Error & { option?: string }) => {
        assert.equal(err.name, 'OptionError');
        assert.equal(err.option, 'colour');
        assert.match(err.message, /^option colour: expected a known option \(.*\), received "colour"$/);
        return true;
      },
    );
  });

  it('refuses a layer named twice, in either list', () => {
    assert.throws(() => normaliseOptions({ ...base, styleLayers: ['conv1_1', 'conv1_1'], styleLayerWeights: [1, 1] }), {
      name: 'OptionError',
      message: 'option styleLayers: expected distinct layer names (conv1_1 is named twice), received "conv1_1,conv1_1"',
    });
    assert.throws(() => normaliseOptions({ ...base, contentLayers: ['conv4_2', 'conv3_1', 'conv4_2'] }), {
      name: 'OptionError',
      message: /^option contentLayers: expected distinct/,
    });
    // The same layer as content and style target is two different losses, and fine.
    assert.equal(normaliseOptions({ ...base, contentLayers: ['conv1_1'], styleLayers: ['conv1_1'], styleLayerWeights: [1] }).styleLayers[0], 'conv1_1');
  });
});

describe('resolveTuning', () => {
  it('resolves the same values as normaliseOptions, without images', () => {
    for (const options of [{}, { preset: 'recipe' as const, size: 300 }, { preset: 'best' as const, history: 40, styleBlend: [1, 3] }]) {
      const styles = options.styleBlend?.length ?? 1;
      const full = normaliseOptions({ ...options, content: 'c.jpg', style: Array.from({ length: styles }, () => 's.jpg') });
      const { content, styles: _styles, startAt, styleMasks, styleImageMasks, ...tuning } = full;
      assert.deepEqual(resolveTuning(options, styles), tuning);
    }
  });

  it('refuses what normaliseOptions refuses, with the same message, and images', () => {
    assert.throws(() => resolveTuning({ size: 3 }), { name: 'OptionError', message: 'option size: expected an integer between 16 and 65536, received 3' });
    assert.throws(() => resolveTuning({ styleBlend: [1, 2] }, 1), { name: 'OptionError', message: /^option styleBlend: expected 1 weights/ });
    assert.throws(() => resolveTuning({ content: 'c.jpg' } as never), { name: 'OptionError', message: /^option content: expected a known option/ });
  });
});

describe('startAt', () => {
  it('takes a scale from 2 on and an image', () => {
    assert.deepEqual(normaliseOptions({ ...base, startAt: { scale: 2, image: 'prev.png' } }).startAt, { scale: 2, image: 'prev.png' });
    assert.equal(normaliseOptions(base).startAt, undefined);
    for (const bad of [{ scale: 1, image: 'prev.png' }, { scale: 2.5, image: 'prev.png' }, { scale: 3 }, 'prev.png']) {
      assert.throws(() => normaliseOptions({ ...base, startAt: bad as never }), { name: 'OptionError', message: /^option startAt: expected \{ scale, image \}/ });
    }
  });

  it('stylize() refuses a scale the run does not have, before it reads any weights', async () => {
    // One scale (scaleIterations 0): there is no scale 2 to start at.
    const run = stylize({
      content: sharedImage('dog'),
      style: sharedImage('matisse'),
      weights: '/nonexistent.safetensors',
      scaleIterations: 0,
      startAt: { scale: 2, image: sharedImage('dog') },
    });
    await assert.rejects(run, { name: 'OptionError', message: /^option startAt: expected a scale of this run's 1, from 2 on, received 2$/ });
  });
});

describe('planJob', () => {
  it("plans the output, the scales and their iterations from the content's size", () => {
    const plan = planJob({ width: 1024, height: 768 }, resolveTuning({ size: 512, startSize: 256, scaleRatio: 2, scaleIterations: 7, iterations: 9 }));
    assert.deepEqual(plan, {
      output: { width: 512, height: 384 },
      scales: [
        { width: 256, height: 192 },
        { width: 512, height: 384 },
      ],
      iterations: [7, 9],
    });
    // The recipe sizes the short side (torchvision's Resize(int)).
    assert.deepEqual(planJob({ width: 1000, height: 500 }, resolveTuning({ preset: 'recipe' })).output, { width: 448, height: 224 });
  });
});

describe('checkImageSizes', () => {
  const opts = normaliseOptions(base); // layers up to conv5_1: four poolings, 16 px
  const sizes = (...list: [number, number][]) => list.map(([width, height]) => ({ width, height }));

  it('accepts every image at 16 px on its shorter side', () => {
    checkImageSizes(opts, sizes([22, 16], [44, 33]), [sizes([16, 16]), sizes([60, 16])]);
  });

  it('names size when the output is too small, startSize when an earlier scale is', () => {
    assert.throws(() => checkImageSizes(opts, sizes([20, 15]), [sizes([20, 20])]), {
      name: 'OptionError',
      message: 'option size: expected an output at least 16 px on the shorter side, which conv5_1 needs (it would be 20x15), received 512',
    });
    assert.throws(
      () => checkImageSizes(opts, sizes([16, 12], [32, 24]), [sizes([16, 16]), sizes([32, 32])]),
      (err: Error & { option?: string }) => err.option === 'startSize',
    );
  });

  it('names styleScale for a style image that becomes too small at some scale (size with matchStyleShape)', () => {
    assert.throws(() => checkImageSizes(opts, sizes([32, 24], [64, 48]), [sizes([40, 16], [32, 32]), sizes([80, 10], [64, 64])]), {
      message: 'option styleScale: expected style image 1 at least 16 px on the shorter side, which conv5_1 needs (it would be 80x10 at the 64x48 scale), received 1',
    });
    const recipe = normaliseOptions({ ...base, preset: 'recipe' });
    assert.throws(
      () => checkImageSizes(recipe, sizes([30, 20]), [sizes([30, 15])]),
      (err: Error & { option?: string }) => err.option === 'size',
    );
  });

  it('uses the deepest layer: three poolings before conv4_2 need only 8 px', () => {
    const shallow = normaliseOptions({ ...base, contentLayers: ['conv4_2'], styleLayers: ['conv1_1', 'conv3_1'], styleLayerWeights: [1, 1] });
    checkImageSizes(shallow, sizes([10, 8]), [sizes([8, 8])]);
    assert.throws(() => checkImageSizes(shallow, sizes([10, 7]), [sizes([8, 8])]), { message: /at least 8 px on the shorter side, which conv4_2 needs/ });
  });

  it('stylize() refuses a too-small output before it reads any weights', async () => {
    await assert.rejects(stylize({ content: sharedImage('dog'), style: sharedImage('monet'), size: 20, weights: '/nonexistent/weights.safetensors' }), {
      name: 'OptionError',
      message: /^option size: expected an output at least 16 px on the shorter side, which conv5_1 needs \(it would be 20x15\), received 20$/,
    });
  });
});
