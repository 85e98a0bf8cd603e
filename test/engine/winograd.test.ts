/**
 * Winograd's F(4×4, 3×3) convolutions (src/engine/winograd.ts), which the untiled loss graph uses on
 * onnxruntime-node where they pay:
 * 1. both algorithms (the forward one, and the gradient's at the reciprocal points that reuses the
 *    forward kernels) compute a correlation exactly, in float64;
 * 2. the ONNX graph on onnxruntime-node (the kernels' transform, which ORT folds into constants,
 *    and the convolution) against a float64 direct convolution, forward and gradient, at sizes
 *    that are and are not multiples of the 4x4 tile, and smaller than one tile;
 * 3. the whole VGG-19 loss with Winograd against the same graph with ORT's Conv: the loss terms
 *    within 1e-5 (measured: 2.5e-6 at conv5_1, less elsewhere) and the gradient within 1e-3
 *    (relative L2; measured 2–4e-4: arg-max and ReLU flips at near-ties move whole values).
 *    test/engine/vgg19.test.ts checks the Winograd graph (nodeBackend's default) against the
 *    float64 reference too.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { GraphBuilder } from '../../src/engine/graph-builder.js';
import { buildLossModel } from '../../src/engine/loss-graph.js';
import { flipTransposeKernel } from '../../src/engine/network-graph.js';
import { StyleEngine } from '../../src/engine/style-engine.js';
import { winogradConv, winogradKernels, winogradTransforms } from '../../src/engine/winograd.js';
import { preprocess } from '../../src/model/convention.js';
import { extractConvWeights, readWeightsFile, type NetworkWeights } from '../../src/model/weights-file.js';
import { vgg19, type NetworkSpec } from '../../src/model/vgg19.js';
import { nodeBackend } from '../../src/node/ort-backend.js';
import { gaussian, relativeError, relativeL2, seededRandom, sharedImage, sharedWeights } from '../helpers.js';

type Matrix = readonly (readonly number[])[];
const times = (m: Matrix, v: readonly number[]) => m.map((row) => row.reduce((s, x, j) => s + x * v[j], 0));

/** y_i = Σ_k g_k d_{i+k}, i < 4: the 1-D correlation F(4,3) computes. */
const correlate = (d: readonly number[], g: readonly number[]) => [0, 1, 2, 3].map((i) => g[0] * d[i] + g[1] * d[i + 1] + g[2] * d[i + 2]);

describe('Winograd F(4,3): the algorithms, in float64', () => {
  const random = gaussian(seededRandom(17));
  const { forward, backward, G } = winogradTransforms;
  it('the forward transforms compute a correlation: Aᵀ[(G g) ⊙ (Bᵀ d)] = d ⋆ g', () => {
    for (let trial = 0; trial < 20; trial++) {
      const g = [random(), random(), random()];
      const d = Array.from({ length: 6 }, random);
      const u = times(G, g);
      const v = times(forward.BT, d);
      const y = times(
        forward.AT,
        u.map((x, j) => x * v[j]),
      );
      const expected = correlate(d, g);
      for (let i = 0; i < 4; i++) assert.ok(Math.abs(y[i] - expected[i]) < 1e-12, `${y[i]} vs ${expected[i]}`);
    }
  });
  it("the gradient's transforms compute the correlation by the flipped kernel from the forward kernel's transform", () => {
    for (let trial = 0; trial < 20; trial++) {
      const g = [random(), random(), random()];
      const d = Array.from({ length: 6 }, random);
      const u = times(G, g); // the forward kernel's transform, as stored
      const v = times(backward.BT, d);
      const y = times(
        backward.AT,
        u.map((x, j) => x * v[j]),
      );
      const expected = correlate(d, [g[2], g[1], g[0]]);
      for (let i = 0; i < 4; i++) assert.ok(Math.abs(y[i] - expected[i]) < 1e-12, `${y[i]} vs ${expected[i]}`);
    }
  });
});

/** A 3x3 convolution (zero padding 1) of x [C,H,W] by w [K,C,3,3], in float64. */
function referenceConv(x: Float32Array, w: Float32Array, C: number, K: number, H: number, W: number): Float64Array {
  const y = new Float64Array(K * H * W);
  for (let o = 0; o < K; o++) {
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 3; j++) {
          const wv = w[((o * C + c) * 3 + i) * 3 + j];
          for (let h = Math.max(0, 1 - i); h < Math.min(H, H + 1 - i); h++) {
            for (let v = Math.max(0, 1 - j); v < Math.min(W, W + 1 - j); v++) y[(o * H + h) * W + v] += wv * x[(c * H + h + i - 1) * W + v + j - 1];
          }
        }
      }
    }
  }
  return y;
}

describe('Winograd F(4,3) as an ONNX graph on onnxruntime-node, against a float64 convolution', () => {
  const [C, K] = [12, 20];
  const random = gaussian(seededRandom(5));
  const w = Float32Array.from({ length: K * C * 9 }, () => 0.2 * random());
  const sessions = new Map<string, ort.InferenceSession>();

  /** One session per direction; the image size is symbolic. */
  async function session(direction: 'forward' | 'backward'): Promise<ort.InferenceSession> {
    const known = sessions.get(direction);
    if (known) return known;
    const g = new GraphBuilder(`winograd_${direction}`);
    const [inC, outC] = direction === 'forward' ? [C, K] : [K, C];
    const x = g.input('x', [1, inC, 'H', 'W']);
    const kernels = winogradKernels(g, 'w', w, K, C);
    g.output(winogradConv(g, x, kernels, outC, direction), 'y', [1, outC, 'H', 'W']);
    const created = await ort.InferenceSession.create(g.encode(), { executionProviders: ['cpu'], intraOpNumThreads: 2 });
    sessions.set(direction, created);
    return created;
  }
  after(async () => Promise.all([...sessions.values()].map((s) => s.release())));

  // 37x29: neither side a multiple of 4 (the padding and the crop); 8x12: both are; 3x2: less than one tile.
  for (const [width, height] of [
    [37, 29],
    [8, 12],
    [3, 2],
  ]) {
    for (const direction of ['forward', 'backward'] as const) {
      it(`${direction}, ${width}x${height}: within 1e-5 (relative L2) and 5e-5 (largest error / largest value)`, async () => {
        const [inC, outC] = direction === 'forward' ? [C, K] : [K, C];
        const x = Float32Array.from({ length: inC * width * height }, random);
        const kernel = direction === 'forward' ? w : flipTransposeKernel(w, K, C);
        const expected = referenceConv(x, kernel, inC, outC, height, width);
        const out = await (await session(direction)).run({ x: new ort.Tensor('float32', x, [1, inC, height, width]) });
        assert.deepEqual(out.y.dims, [1, outC, height, width]);
        const y = out.y.data as Float32Array;
        assert.ok(relativeL2(y, expected) < 1e-5, `relative L2 ${relativeL2(y, expected)}`);
        let worst = 0;
        let scale = 0;
        for (let i = 0; i < y.length; i++) {
          worst = Math.max(worst, Math.abs(y[i] - expected[i]));
          scale = Math.max(scale, Math.abs(expected[i]));
        }
        assert.ok(worst / scale < 5e-5, `largest error ${worst} of ${scale}`);
      });
    }
  }
});

describe('the VGG-19 loss with Winograd against ORT Conv (shared weights)', () => {
  const layout = {
    contentLayers: ['conv4_2'],
    styleLayers: ['conv1_1', 'conv2_1', 'conv3_1', 'conv4_1', 'conv5_1'],
    styleNormalisation: 'size-invariant' as const,
    pooling: 'max' as const,
  };
  let net: NetworkSpec;
  let weights: NetworkWeights;
  let engines: { winograd: StyleEngine; direct: StyleEngine };
  before(async () => {
    const file = await readWeightsFile(sharedWeights);
    net = vgg19(file.convention!, 'vgg19-caffe-q8');
    weights = extractConvWeights(file.tensors, net, sharedWeights);
    const [winograd, direct] = await Promise.all((['winograd', 'direct'] as const).map((convolution) => StyleEngine.create(nodeBackend({ convolution }), net, weights, layout)));
    engines = { winograd, direct };
  });
  after(async () => Promise.all([engines.winograd.release(), engines.direct.release()]));

  it('uses Winograd for the convolutions with ≥ 256 channels in and out, and their gradients share its kernels', () => {
    const bytes = (convolution: 'winograd' | 'direct') => Buffer.from(buildLossModel(net, weights, layout, { convolution }));
    const text = bytes('winograd').toString('latin1');
    assert.ok(text.includes('winograd.kernel_transform'));
    // The gradient of a Winograd layer needs no flipped kernels of its own; the others keep theirs.
    for (const layer of ['conv3_2', 'conv3_4', 'conv4_1', 'conv4_4', 'conv5_1']) assert.ok(!text.includes(`${layer}.weight_flipped_t`), `${layer} by Winograd`);
    for (const layer of ['conv1_2', 'conv2_2', 'conv3_1']) assert.ok(text.includes(`${layer}.weight_flipped_t`), `${layer} by Conv`);
    // So the model is about half the size: conv3_2 … conv5_1 hold two thirds of the weights to conv5_1.
    assert.ok(bytes('winograd').length < 0.6 * bytes('direct').length);
  });

  it('96x72 (deep layers odd and not multiples of 4): loss terms within 1e-5, gradient within 1e-3 (relative L2)', async () => {
    const [width, height] = [96, 72];
    const load = async (name: 'dog' | 'matisse') => {
      const { data } = await sharp(sharedImage(name)).resize(width, height, { fit: 'fill' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const planar = new Float32Array(3 * width * height);
      for (let i = 0; i < width * height; i++) for (let c = 0; c < 3; c++) planar[c * width * height + i] = data[3 * i + c] / 255;
      return preprocess(planar, width * height, net.convention);
    };
    const [content, style] = [await load('dog'), await load('matisse')];
    const targets = { content: (await engines.direct.targets(content, width, height)).content, gram: (await engines.direct.targets(style, width, height)).gram };
    const termWeights = { content: new Map([['conv4_2', 5]]), style: new Map(layout.styleLayers.map((l) => [l, 500])), tv: 1e-3 };
    const image = content.map((v, i) => v + 20 * Math.sin(i * 0.37));
    const run = async (engine: StyleEngine) => {
      const grad = new Float32Array(image.length);
      return { terms: await engine.evaluate(image, width, height, targets, termWeights, grad), grad };
    };
    const [a, b] = [await run(engines.winograd), await run(engines.direct)];
    assert.ok(relativeError(a.terms.total, b.terms.total) < 1e-5, `total ${a.terms.total} vs ${b.terms.total}`);
    for (const [l, v] of b.terms.style) assert.ok(relativeError(a.terms.style.get(l)!, v) < 1e-5, `style ${l}: ${relativeError(a.terms.style.get(l)!, v)}`);
    assert.ok(relativeError(a.terms.content.get('conv4_2')!, b.terms.content.get('conv4_2')!) < 1e-5, 'content');
    const err = relativeL2(a.grad, b.grad);
    assert.ok(err < 1e-3, `gradient error ${err}`);
    assert.ok(err > 0, 'the two graphs are not the same computation');
  });
});
