/**
 * The graph's hand-written backward pass against float64 central finite differences of the plain
 * TypeScript reference, on a small random network with both pooling types and odd sizes (11x9).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { StyleEngine } from '../../src/engine/style-engine.js';
import { nodeBackend } from '../../src/node/ort-backend.js';
import { referenceLoss, volume, type ReferenceLayout } from '../reference/reference.js';
import type { Pooling } from '../../src/model/vgg19.js';
import type { StyleNormalisation } from '../../src/losses/style.js';
import { gaussian, maxRelativeError, relativeError, seededRandom } from '../helpers.js';
import { centralDifferences, randomWeights, TINY_TERM_WEIGHTS, tinyLayers, tinyNet } from './tiny-net.js';

const layers = tinyLayers;
const net = tinyNet;

const W = 11;
const H = 9;

for (const pooling of ['max', 'avg'] as Pooling[]) {
  for (const styleNormalisation of ['recipe', 'size-invariant'] as StyleNormalisation[]) {
    describe(`backward graph, ${pooling} pooling, ${styleNormalisation} style loss, ${W}x${H}`, () => {
      const weights = randomWeights(7);
      const contentLayers = ['conv2_2'];
      const styleLayers = ['conv1_1', 'conv2_1', 'conv3_1'];
      const layout = { contentLayers, styleLayers, styleNormalisation, pooling };
      const refLayout: ReferenceLayout = { ...layout, layers };
      const random = seededRandom(11);
      const normal = gaussian(random);
      // fp32-exact image values, so the graph and the reference see the same input.
      const image = Float32Array.from({ length: 3 * H * W }, () => normal());
      // Random targets, the Gram ones NOT symmetric: the gradient must not assume symmetry.
      const featureSize = (name: string) => {
        const l = layers.find((x) => x.name === name)!;
        const div = name.startsWith('conv1') ? 1 : name.startsWith('conv2') ? 2 : 4;
        return (l.kind === 'conv' ? l.outChannels : 0) * Math.floor(H / div) * Math.floor(W / div);
      };
      const contentTarget = Float32Array.from({ length: featureSize('conv2_2') }, () => Math.abs(normal()));
      const channels = (name: string) => (layers.find((x) => x.name === name) as { outChannels: number }).outChannels;
      const gramTargets = new Map(
        styleLayers.map((l) => [l, Float32Array.from({ length: channels(l) ** 2 }, () => (styleNormalisation === 'recipe' ? 5 * random() : 0.1 * random()))]),
      );
      const termWeights = TINY_TERM_WEIGHTS;
      const refTargets = { content: new Map([['conv2_2', contentTarget]]), gram: gramTargets };
      let engine: StyleEngine;

      before(async () => {
        engine = await StyleEngine.create(nodeBackend({ threads: 1 }), net, weights, layout);
      });
      after(async () => engine.release());

      const loss = (x: Float64Array) => referenceLoss(volume(3, H, W, x), refLayout, weights, refTargets, termWeights);

      it('reference gradient matches central finite differences (float64)', () => {
        const x = Float64Array.from(image);
        const analytic = loss(x).grad;
        const numeric = centralDifferences((v) => loss(v).total, x, 1e-5);
        assert.ok(maxRelativeError(analytic, numeric) < 1e-6, `error ${maxRelativeError(analytic, numeric)}`);
      });

      it('graph loss terms equal the reference (1e-5) and its gradient matches finite differences (1e-3)', async () => {
        const grad = new Float32Array(image.length);
        const targets = { content: new Map([['conv2_2', { data: contentTarget, dims: [1, 4, Math.floor(H / 2), Math.floor(W / 2)] }]]), gram: gramTargets };
        const terms = await engine.evaluate(image, W, H, targets, termWeights, grad);
        const x = Float64Array.from(image);
        const ref = loss(x);
        assert.ok(relativeError(terms.total, ref.total) < 1e-5, `total ${terms.total} vs ${ref.total}`);
        assert.ok(relativeError(terms.tv, ref.tv) < 1e-5);
        for (const [l, v] of ref.style) assert.ok(relativeError(terms.style.get(l)!, v) < 1e-5, `${l}: ${terms.style.get(l)} vs ${v}`);
        assert.ok(relativeError(terms.content.get('conv2_2')!, ref.content.get('conv2_2')!) < 1e-5);
        // Central differences of the float64 reference loss, every pixel.
        const numeric = centralDifferences((v) => loss(v).total, x, 1e-4);
        const err = maxRelativeError(grad, numeric);
        assert.ok(err <= 1e-3, `max relative gradient error ${err}`);
      });
    });
  }
}
