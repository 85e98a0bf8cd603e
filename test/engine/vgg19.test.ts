/**
 * The full VGG-19 loss graph with the real ImageNet weights (../shared/weights) against the float64
 * reference: a crop of dog.jpg against matisse.jpg, and one session serving several image sizes.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { StyleEngine } from '../../src/engine/style-engine.js';
import type { Targets } from '../../src/engine/loss-terms.js';
import { nodeBackend } from '../../src/node/ort-backend.js';
import { referenceLoss, referenceTargets, volume, type ReferenceLayout } from '../reference/reference.js';
import { preprocess } from '../../src/model/convention.js';
import { readWeightsFile, extractConvWeights, type NetworkWeights } from '../../src/model/weights-file.js';
import { truncateTo, vgg19, type NetworkSpec } from '../../src/model/vgg19.js';
import { maxRelativeError, relativeError, sharedImage, sharedWeights } from '../helpers.js';

/** A W×H crop (or resize) of a shared image, in the network's input space, planar. */
async function load(name: 'dog' | 'matisse', width: number, height: number, net: NetworkSpec, crop: boolean): Promise<Float32Array> {
  let pipeline = sharp(sharedImage(name));
  pipeline = crop ? pipeline.extract({ left: 300, top: 200, width, height }) : pipeline.resize(width, height, { fit: 'fill' });
  const { data } = await pipeline.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const planar = new Float32Array(3 * width * height);
  for (let i = 0; i < width * height; i++) for (let c = 0; c < 3; c++) planar[c * width * height + i] = data[3 * i + c] / 255;
  return preprocess(planar, width * height, net.convention);
}

const layout = {
  contentLayers: ['conv4_2'],
  styleLayers: ['conv1_1', 'conv2_1', 'conv3_1', 'conv4_1', 'conv5_1'],
  styleNormalisation: 'recipe' as const,
  pooling: 'max' as const,
};
const termWeights = {
  content: new Map([['conv4_2', 1]]),
  style: new Map([
    ['conv1_1', 1e3],
    ['conv2_1', 0.8e3],
    ['conv3_1', 0.6e3],
    ['conv4_1', 0.4e3],
    ['conv5_1', 0.2e3],
  ]),
  tv: 0.5,
};

describe('VGG-19 loss graph with the shared ImageNet weights', () => {
  let net: NetworkSpec;
  let weights: NetworkWeights;
  let engine: StyleEngine;
  let refLayout: ReferenceLayout;

  before(async () => {
    const file = await readWeightsFile(sharedWeights);
    net = vgg19(file.convention!, 'vgg19-caffe-q8');
    weights = extractConvWeights(file.tensors, net, sharedWeights);
    engine = await StyleEngine.create(nodeBackend(), net, weights, layout);
    refLayout = { ...layout, layers: truncateTo(net, [...layout.contentLayers, ...layout.styleLayers]) };
  });
  after(async () => engine.release());

  /** Evaluate both implementations at W×H: content = dog crop, style = matisse, image = dog + a perturbation. */
  async function compare(width: number, height: number) {
    const content = await load('dog', width, height, net, true);
    const style = await load('matisse', width, height, net, false);
    const image = content.map((v, i) => v + 20 * Math.sin(i * 0.37)); // fp32-exact input for both sides
    const graphTargets: Targets = {
      content: (await engine.targets(content, width, height, { content: true, style: false })).content,
      gram: (await engine.targets(style, width, height, { content: false, style: true })).gram,
    };
    const refTargets = {
      content: referenceTargets(volume(3, height, width, Float64Array.from(content)), refLayout, weights).content,
      gram: referenceTargets(volume(3, height, width, Float64Array.from(style)), refLayout, weights).gram,
    };
    // The targets themselves agree.
    for (const [l, g] of refTargets.gram) assert.ok(maxRelativeError(graphTargets.gram.get(l)!, g) < 1e-4, `gram target ${l}`);
    const grad = new Float32Array(image.length);
    const terms = await engine.evaluate(image, width, height, graphTargets, termWeights, grad);
    const ref = referenceLoss(volume(3, height, width, Float64Array.from(image)), refLayout, weights, refTargets, termWeights);
    return { terms, ref, grad };
  }

  it('every loss term equals the reference within 1e-4 and the gradient within 1e-3 (32x16 crop)', async () => {
    const { terms, ref, grad } = await compare(32, 16);
    assert.ok(relativeError(terms.total, ref.total) < 1e-4, `total ${terms.total} vs ${ref.total}`);
    assert.ok(relativeError(terms.content.get('conv4_2')!, ref.content.get('conv4_2')!) < 1e-4, 'content');
    for (const [l, v] of ref.style) assert.ok(relativeError(terms.style.get(l)!, v) < 1e-4, `style ${l}: ${terms.style.get(l)} vs ${v}`);
    assert.ok(relativeError(terms.tv, ref.tv) < 1e-4, 'tv');
    const err = maxRelativeError(grad, ref.grad);
    assert.ok(err < 1e-3, `gradient error ${err}`);
  });

  // The sizes are the smallest that still cover every shape case, because the float64 reference is
  // the expensive part (plain TypeScript, ~1 MFLOP per pixel forward and backward): 32x16 above is
  // even at every 2x2 pooling (32 → 16 → 8 → 4 → 2 and 16 → 8 → 4 → 2 → 1 at conv5_1); 47x31 below
  // is odd in both directions at every pooling (47 → 23 → 11 → 5 → 2 and 31 → 15 → 7 → 3 → 1; 31 is
  // the least such side: 15 would leave nothing after the fourth pool), so each of the four max
  // pools drops a trailing row and column (floor mode) and routes its gradient past them. Neither
  // is square, so a width/height mix-up shows. Both run every layer type of the graph: 3x3
  // convolutions with their zero padding, ReLU, max pooling, the Gram and content terms and total
  // variation. (64x64, 128x96, 130x77, then 32x32 and 63x47 were checked here before: no shape case
  // these two sizes lack.)
  it('one session serves a second size, odd at every pooling (47x31), and gives the reference results', async () => {
    const [width, height] = [47, 31];
    const { terms, ref, grad } = await compare(width, height);
    assert.ok(relativeError(terms.total, ref.total) < 1e-4, `${width}x${height} total ${terms.total} vs ${ref.total}`);
    for (const [l, v] of ref.style) assert.ok(relativeError(terms.style.get(l)!, v) < 1e-4, `${width}x${height} style ${l}`);
    assert.ok(relativeError(terms.content.get('conv4_2')!, ref.content.get('conv4_2')!) < 1e-4, `${width}x${height} content`);
    assert.ok(relativeError(terms.tv, ref.tv) < 1e-4, `${width}x${height} tv`);
    assert.equal(grad.length, 3 * width * height);
    const err = maxRelativeError(grad, ref.grad);
    assert.ok(err < 1e-3, `${width}x${height} gradient error ${err}`);
  });
});
