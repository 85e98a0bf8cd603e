/**
 * Input-level padding: the margin's index maps by hand, the fold as the exact adjoint of the pad,
 * and the whole padded loss's gradient (graph + fold) against float64 central differences of the
 * reference on the padded image.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { foldGradient, padImage, sourceIndex, withPadding, type PaddingMode } from '../../src/engine/padding.js';
import { StyleEngine } from '../../src/engine/style-engine.js';
import { nodeBackend } from '../../src/node/ort-backend.js';
import { referenceLoss, referenceTargets, volume, type ReferenceLayout } from '../reference/reference.js';
import { gaussian, maxRelativeError, relativeError, seededRandom } from '../helpers.js';
import { centralDifferences, randomWeights, TINY_TERM_WEIGHTS, tinyLayers, tinyNet } from './tiny-net.js';

describe('padding index maps', () => {
  it('reflect mirrors without repeating the edge, periodically for wide margins', () => {
    // n = 4, margin 3: padded 0..9 ↔ image −3..6.
    assert.deepEqual(
      Array.from({ length: 10 }, (_, i) => sourceIndex(i, 4, 3, 'reflect')),
      [3, 2, 1, 0, 1, 2, 3, 2, 1, 0],
    );
    // n = 3, margin 5 (wider than the image): period 4.
    assert.deepEqual(
      Array.from({ length: 13 }, (_, i) => sourceIndex(i, 3, 5, 'reflect')),
      [1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1],
    );
    assert.deepEqual(
      Array.from({ length: 5 }, (_, i) => sourceIndex(i, 1, 2, 'reflect')),
      [0, 0, 0, 0, 0],
    );
  });

  it('replicate repeats the edge pixel', () => {
    assert.deepEqual(
      Array.from({ length: 8 }, (_, i) => sourceIndex(i, 4, 2, 'replicate')),
      [0, 0, 0, 1, 2, 3, 3, 3],
    );
  });

  it('pads a small image as written out by hand', () => {
    // One channel, 3 wide, 2 high: rows [1 2 3] [4 5 6], margin 1.
    const x = Float32Array.of(1, 2, 3, 4, 5, 6);
    assert.deepEqual(Array.from(padImage(x, 3, 2, 1, 'reflect', 1)), [5, 4, 5, 6, 5, 2, 1, 2, 3, 2, 5, 4, 5, 6, 5, 2, 1, 2, 3, 2]);
    assert.deepEqual(Array.from(padImage(x, 3, 2, 1, 'replicate', 1)), [1, 1, 2, 3, 3, 1, 1, 2, 3, 3, 4, 4, 5, 6, 6, 4, 4, 5, 6, 6]);
  });

  it('refuses a negative margin and a buffer of the wrong size', () => {
    assert.throws(() => padImage(new Float32Array(12), 2, 2, -1, 'reflect'), /margin/);
    assert.throws(() => padImage(new Float32Array(11), 2, 2, 1, 'reflect'), /12|3x2x2/);
    assert.throws(() => foldGradient(new Float32Array(12), 2, 2, 1, 'reflect'), /padded gradient/);
  });
});

describe('foldGradient is the adjoint of padImage', () => {
  const cases: [number, number, number, PaddingMode][] = [
    [11, 9, 4, 'reflect'],
    [11, 9, 4, 'replicate'],
    [3, 2, 5, 'reflect'], // margin wider than the image: pixels are copied many times
    [7, 1, 3, 'reflect'],
    [16, 12, 16, 'replicate'],
  ];
  for (const [w, h, m, mode] of cases) {
    it(`<pad(x), y> = <x, fold(y)>, ${w}x${h}, margin ${m}, ${mode}`, () => {
      const normal = gaussian(seededRandom(w * 100 + h * 10 + m));
      const x = Float32Array.from({ length: 3 * w * h }, normal);
      const y = Float32Array.from({ length: 3 * (w + 2 * m) * (h + 2 * m) }, normal);
      const px = padImage(x, w, h, m, mode);
      const fy = foldGradient(y, w, h, m, mode);
      let lhs = 0;
      for (let i = 0; i < px.length; i++) lhs += px[i] * y[i];
      let rhs = 0;
      for (let i = 0; i < x.length; i++) rhs += x[i] * fy[i];
      assert.ok(relativeError(lhs, rhs) < 1e-6, `${lhs} vs ${rhs}`);
    });
  }
});

describe('loss and gradient through a reflect margin (tiny network, 11x9, margin 4)', () => {
  const W = 11;
  const H = 9;
  const margin = 4;
  const PW = W + 2 * margin;
  const PH = H + 2 * margin;
  const weights = randomWeights(5);
  const layout = { contentLayers: ['conv2_2'], styleLayers: ['conv1_1', 'conv2_1', 'conv3_1'], styleNormalisation: 'size-invariant' as const, pooling: 'max' as const };
  const refLayout: ReferenceLayout = { ...layout, layers: tinyLayers };
  const termWeights = TINY_TERM_WEIGHTS;
  const normal = gaussian(seededRandom(23));
  const image = Float32Array.from({ length: 3 * W * H }, normal);
  // Targets from other images, padded the same way, as the pipeline does.
  const content = padImage(Float64Array.from({ length: 3 * W * H }, normal), W, H, margin, 'reflect');
  const style = padImage(Float64Array.from({ length: 3 * W * H }, normal), W, H, margin, 'reflect');
  // Rounded to float32 so the graph and the reference see the same targets.
  const refTargets = {
    content: new Map([...referenceTargets(volume(3, PH, PW, content), refLayout, weights).content].map(([l, v]) => [l, Float32Array.from(v)])),
    gram: new Map([...referenceTargets(volume(3, PH, PW, style), refLayout, weights).gram].map(([l, v]) => [l, Float32Array.from(v)])),
  };
  let engine: StyleEngine;
  before(async () => {
    engine = await StyleEngine.create(nodeBackend({ threads: 1 }), tinyNet, weights, layout);
  });
  after(async () => engine.release());

  /** The float64 reference of the whole padded objective, as a function of the unpadded image. */
  const loss = (x: Float64Array) => referenceLoss(volume(3, PH, PW, padImage(x, W, H, margin, 'reflect')), refLayout, weights, refTargets, termWeights);

  it('graph + fold matches central differences of the float64 reference (1e-3) and the loss (1e-5)', async () => {
    const targets = {
      // conv2_2: 4 channels, after one pooling of the padded 19x17.
      content: new Map([['conv2_2', { data: refTargets.content.get('conv2_2')!, dims: [1, 4, Math.floor(PH / 2), Math.floor(PW / 2)] }]]),
      gram: refTargets.gram,
    };
    const evaluate = withPadding(W, H, { margin, mode: 'reflect' }, (padded, pw, ph, grad) => engine.evaluate(padded, pw, ph, targets, termWeights, grad));
    const grad = new Float32Array(image.length);
    const terms = await evaluate(image, grad);
    const x = Float64Array.from(image);
    const ref = loss(x);
    assert.ok(relativeError(terms.total, ref.total) < 1e-5, `total ${terms.total} vs ${ref.total}`);
    const numeric = centralDifferences((v) => loss(v).total, x, 1e-4);
    const err = maxRelativeError(grad, numeric);
    assert.ok(err <= 1e-3, `max relative gradient error ${err}`);
    // The margin matters: the gradient differs from the unpadded loss's.
    const unpadded = new Float32Array(image.length);
    const smallTargets = {
      content: new Map([['conv2_2', { data: new Float32Array(4 * Math.floor(H / 2) * Math.floor(W / 2)), dims: [1, 4, Math.floor(H / 2), Math.floor(W / 2)] }]]),
      gram: targets.gram,
    };
    await engine.evaluate(image, W, H, smallTargets, termWeights, unpadded);
    assert.ok(maxRelativeError(unpadded, grad) > 1e-2);
  });
});
