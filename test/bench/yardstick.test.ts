import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { relativeDistance, SCORE_STYLE_LAYERS, Yardstick } from '../../bench/yardstick.js';
import { decodeImage } from '../../src/image/io.js';
import type { RawImage } from '../../src/image/image.js';
import { sharedImage, sharedWeights } from '../helpers.js';

describe('relativeDistance', () => {
  it('is ‖a − b‖ / ‖b‖', () => {
    // a − b = (3, 4): ‖·‖ = 5; ‖b‖ = ‖(0, 10)‖ = 10.
    assert.equal(relativeDistance([3, 14], [0, 10]), 0.5);
    assert.equal(relativeDistance([1, 2, 3], [1, 2, 3]), 0);
    assert.throws(() => relativeDistance([1], [1, 2]), /lengths differ/);
  });
});

describe('Yardstick', () => {
  let yardstick: Yardstick;
  let dog: RawImage;
  let matisse: RawImage;
  before(async () => {
    yardstick = await Yardstick.create(sharedWeights);
    // The network's features of an input are a pure function of it, and the scores below feed the same
    // inputs many times (the content image as the output, the style image as the output and as the
    // style, the same score in both cases): each distinct input is run once (4 forward passes at
    // 384 px instead of 12). What the yardstick does with the features is unchanged.
    const engine = (yardstick as unknown as { engine: { targets: (input: Float32Array, ...rest: unknown[]) => Promise<unknown> } }).engine;
    const targets = engine.targets.bind(engine);
    const seen = new Map<string, Promise<unknown>>();
    engine.targets = (input, ...rest) => {
      const key = createHash('sha256')
        .update(new Uint8Array(input.buffer, input.byteOffset, input.byteLength))
        .update(JSON.stringify(rest))
        .digest('hex');
      if (!seen.has(key)) seen.set(key, targets(input, ...rest));
      return seen.get(key)!;
    };
    [dog, matisse] = await Promise.all([decodeImage(sharedImage('dog')), decodeImage(sharedImage('matisse'))]);
  });
  after(() => yardstick.release());

  it('scores the content image itself as content error 0 and the style image as style error 0, at 384 px shorter side', async () => {
    const asContent = await yardstick.score(dog, dog, matisse);
    assert.equal(asContent.content, 0);
    assert.ok(asContent.style > 0.3, `the photo is far from the painting's style: ${asContent.style}`);
    assert.deepEqual([asContent.width, asContent.height], [512, 384]);
    const asStyle = await yardstick.score(matisse, dog, matisse);
    assert.equal(asStyle.style, 0);
    for (const layer of SCORE_STYLE_LAYERS) assert.equal(asStyle.styleLayers[layer], 0);
    assert.ok(asStyle.content > 0.5, `the painting is far from the photo's content: ${asStyle.content}`);
  });

  it('does not depend on the size the picture comes in', async () => {
    // The same picture at 1024x768 and at 800x600 scores nearly alike: everything is measured at 384 px.
    const { resizeRaw } = await import('../../src/image/resize.js');
    const other = await resizeRaw(dog, 800, 600);
    const full = await yardstick.score(dog, dog, matisse);
    const small = await yardstick.score(other, dog, matisse);
    assert.ok(Math.abs(small.style - full.style) / full.style < 0.05, `${small.style} vs ${full.style}`);
    assert.ok(small.content < 0.05, `content error of a resized copy: ${small.content}`);
  });
});
