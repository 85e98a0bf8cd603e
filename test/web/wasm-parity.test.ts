/**
 * onnxruntime-web's wasm backend (the browser's engine, run here in Node with the page's own session
 * options) against the float64 reference and onnxruntime-node, on real pictures at 64x48: every loss
 * term within 1e-5. This is what makes the browser test's "iteration 1's loss equals Node's within
 * 1e-4" hold, checked in seconds without Chromium. (Before the losses summed one axis at a time, a
 * flat float32 ReduceSum over the 512x512 Gram difference put wasm's conv4_1 term 1.8e-4 off.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { StyleEngine } from '../../src/engine/style-engine.js';
import type { LossTerms, Targets } from '../../src/engine/loss-terms.js';
import { referenceLoss, referenceTargets, volume, type ReferenceLayout } from '../reference/reference.js';
import { preprocess } from '../../src/model/convention.js';
import { extractConvWeights, readWeightsFile } from '../../src/model/weights-file.js';
import { truncateTo, vgg19, type NetworkSpec } from '../../src/model/vgg19.js';
import { nodeBackend } from '../../src/node/ort-backend.js';
import { engineBackend } from '../../src/web/platform.js';
import { relativeError, sharedImage, sharedWeights } from '../helpers.js';

const WIDTH = 64;
const HEIGHT = 48;
const layout = {
  contentLayers: ['conv4_2'],
  styleLayers: ['conv1_1', 'conv2_1', 'conv3_1', 'conv4_1', 'conv5_1'],
  styleNormalisation: 'size-invariant' as const,
  pooling: 'max' as const,
};
const termWeights = { content: new Map([['conv4_2', 1]]), style: new Map(layout.styleLayers.map((l) => [l, 100])), tv: 1e-3 };

async function load(name: 'dog' | 'matisse', net: NetworkSpec): Promise<Float32Array> {
  const { data } = await sharp(sharedImage(name)).resize(WIDTH, HEIGHT, { fit: 'fill' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const n = WIDTH * HEIGHT;
  const planar = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) planar[c * n + i] = data[3 * i + c] / 255;
  return preprocess(planar, n, net.convention);
}

describe('onnxruntime-web (wasm) loss terms', () => {
  let net: NetworkSpec;
  let web: StyleEngine;
  let node: StyleEngine;
  let content: Float32Array;
  let style: Float32Array;
  let reference: ReturnType<typeof referenceLoss>;

  before(async () => {
    const file = await readWeightsFile(sharedWeights);
    net = vgg19(file.convention!, 'vgg19-caffe-q8');
    const weights = extractConvWeights(file.tensors, net, sharedWeights);
    [web, node] = await Promise.all([StyleEngine.create(engineBackend('wasm'), net, weights, layout), StyleEngine.create(nodeBackend(), net, weights, layout)]);
    content = await load('dog', net);
    style = await load('matisse', net);
    // Iteration 1 of a run: the image is the content itself.
    const refLayout: ReferenceLayout = { ...layout, layers: truncateTo(net, [...layout.contentLayers, ...layout.styleLayers]) };
    const refTargets = {
      content: referenceTargets(volume(3, HEIGHT, WIDTH, Float64Array.from(content)), refLayout, weights).content,
      gram: referenceTargets(volume(3, HEIGHT, WIDTH, Float64Array.from(style)), refLayout, weights).gram,
    };
    reference = referenceLoss(volume(3, HEIGHT, WIDTH, Float64Array.from(content)), refLayout, weights, refTargets, termWeights);
  });
  after(async () => Promise.all([web?.release(), node?.release()]));

  async function terms(engine: StyleEngine): Promise<LossTerms> {
    const targets: Targets = {
      content: (await engine.targets(content, WIDTH, HEIGHT, { content: true, style: false })).content,
      gram: (await engine.targets(style, WIDTH, HEIGHT, { content: false, style: true })).gram,
    };
    return engine.evaluate(content, WIDTH, HEIGHT, targets, termWeights, new Float32Array(content.length));
  }

  it('equal the float64 reference within 1e-5, term by term, and onnxruntime-node within 1e-5', async () => {
    const [w, n] = [await terms(web), await terms(node)];
    for (const [layer, v] of reference.style) {
      assert.ok(relativeError(w.style.get(layer)!, v) < 1e-5, `wasm style ${layer}: ${w.style.get(layer)} vs ${v}`);
      assert.ok(relativeError(n.style.get(layer)!, v) < 1e-5, `node style ${layer}: ${n.style.get(layer)} vs ${v}`);
    }
    assert.ok(relativeError(w.tv, reference.tv) < 1e-5, `wasm tv ${w.tv} vs ${reference.tv}`);
    assert.ok(relativeError(w.total, reference.total) < 1e-5, `wasm total ${w.total} vs ${reference.total}`);
    assert.ok(relativeError(w.total, n.total) < 1e-5, `wasm total ${w.total} vs node ${n.total}`);
  });
});
