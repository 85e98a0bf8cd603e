/**
 * The recipe preset, end to end through stylize(), against a plain-TypeScript float64 reference of
 * the same loop (reference VGG-19 forward/backward from test/reference/reference.ts and Adam written
 * out here): 32x16 (size 16: the recipe's size is the shorter side; 2x1 positions at conv5_1, the
 * fewest pixels with more than one there), 5 Adam iterations, the shared ImageNet weights. The float64
 * network costs ~2 s per evaluation at 32x16 on one core.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { stylize } from '../src/stylize.js';
import { toPlanar, type RawImage } from '../src/image/image.js';
import { referenceLoss, referenceTargets, volume } from './reference/reference.js';
import { preprocess } from '../src/model/convention.js';
import { extractConvWeights, readWeightsFile } from '../src/model/weights-file.js';
import { truncateTo, vgg19 } from '../src/model/vgg19.js';
import { PRESETS } from '../src/options.js';
import type { ProgressEvent } from '../src/progress.js';
import { relativeError, sharedImage, sharedWeights } from './helpers.js';

async function rawImage(name: 'dog' | 'matisse', width: number, height: number): Promise<RawImage> {
  const { data, info } = await sharp(sharedImage(name)).resize(width, height, { fit: 'fill' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height, channels: 3 };
}

it('recipe preset: 5 Adam iterations at 32x16 give the loss terms of a float64 reference loop (1e-3)', async () => {
  const [width, height] = [32, 16];
  const size = 16; // the shorter side
  const iterations = 5;
  const content = await rawImage('dog', width, height);
  const style = await rawImage('matisse', width, height);

  const events: Extract<ProgressEvent, { type: 'iteration' }>[] = [];
  await stylize({
    preset: 'recipe',
    content,
    style,
    size,
    iterations,
    weights: sharedWeights,
    model: 'vgg19-caffe-rgb',
    onProgress: (e) => e.type === 'iteration' && events.push(e),
  });
  assert.equal(events.length, iterations);
  assert.deepEqual([events[0].width, events[0].height], [width, height]);

  // The same loop, written out independently.
  const recipe = PRESETS.recipe;
  const file = await readWeightsFile(sharedWeights);
  const net = vgg19(file.convention!);
  const weights = extractConvWeights(file.tensors, net);
  const layout = {
    layers: truncateTo(net, [...recipe.contentLayers, ...recipe.styleLayers]),
    contentLayers: recipe.contentLayers,
    styleLayers: recipe.styleLayers,
    styleNormalisation: 'recipe' as const,
    pooling: 'max' as const,
  };
  const pixels = width * height;
  const input = (img: RawImage) => Float64Array.from(preprocess(toPlanar(img).data, pixels, net.convention));
  const contentInput = input(content);
  const targets = {
    content: referenceTargets(volume(3, height, width, contentInput), layout, weights).content,
    gram: referenceTargets(volume(3, height, width, input(style)), layout, weights).gram,
  };
  const termWeights = {
    content: new Map([['conv4_2', 1]]),
    style: new Map(recipe.styleLayers.map((l, i) => [l, 1e6 * recipe.styleLayerWeights[i]])),
    tv: 0,
  };
  const x = Float64Array.from(contentInput); // the target image starts as a copy of the content
  const m = new Float64Array(x.length);
  const v = new Float64Array(x.length);
  const [lr, b1, b2, eps] = [0.001, 0.9, 0.999, 1e-8];
  for (let t = 1; t <= iterations; t++) {
    const r = referenceLoss(volume(3, height, width, x), layout, weights, targets, termWeights);
    const styleSum = recipe.styleLayers.reduce((s, l, i) => s + recipe.styleLayerWeights[i] * r.style.get(l)!, 0);
    const e = events[t - 1];
    assert.ok(relativeError(e.loss, r.total) < 1e-3, `iteration ${t}: total ${e.loss} vs ${r.total}`);
    assert.ok(relativeError(e.style, styleSum) < 1e-3, `iteration ${t}: style ${e.style} vs ${styleSum}`);
    // Content starts at exactly 0 (the image is the content): compare on the scale of the total.
    assert.ok(
      Math.abs(e.content - r.content.get('conv4_2')!) <= 1e-3 * Math.max(r.content.get('conv4_2')!, 1e-3 * r.total),
      `iteration ${t}: content ${e.content} vs ${r.content.get('conv4_2')}`,
    );
    for (let i = 0; i < x.length; i++) {
      const g = r.grad[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      x[i] -= ((lr / (1 - b1 ** t)) * m[i]) / (Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** t) + eps);
    }
  }
  // The loop actually optimises: the loss went down.
  assert.ok(events[iterations - 1].loss < events[0].loss);
});
