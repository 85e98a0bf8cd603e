/** normaliseOptions: the library's option validation, without running anything. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stylize } from '../src/stylize.js';
import { checkImageSizes, normaliseOptions, type StylizeOptions } from '../src/options.js';
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
