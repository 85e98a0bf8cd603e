/**
 * onnxruntime-web's wasm backend (the browser's engine, run here in Node with the page's own session
 * options) against the float64 reference and onnxruntime-node, and the WebGPU graph's max-pool
 * gradient on both runtimes. One process, one session of each kind (sessions take any size): the
 * default graph on onnxruntime-node and on wasm, and the 'select' graph on each.
 *
 * 1. Loss terms on real pictures at 32x24: every term within 1e-5 of the float64 reference, wasm's
 *    total within 1e-5 of onnxruntime-node's. This is what makes the browser test's "iteration 1's
 *    loss equals Node's within 1e-4" hold, checked in seconds without Chromium. (Before the losses
 *    summed one axis at a time, a flat float32 ReduceSum over the 512x512 Gram difference put wasm's
 *    conv4_1 term 1.8e-4 off: the Gram's size is the channel count's, whatever the picture's.)
 * 2. The max-pool gradient without MaxUnpool (`maxPoolGradient: 'select'`: strided window views,
 *    Equal, DepthToSpace) against the default one (MaxPool's indices + MaxUnpool), on
 *    onnxruntime-node and on wasm: the same loss and the same gradient, bit for bit. The picture has
 *    flat areas, so many pooling windows hold several equal positive maxima: the tie-break (the first
 *    maximum in scan order, as ORT's MaxPool records it) is exercised, not only the easy case. 48x48
 *    (even at every pool) and 45x33 (a trailing row and column that the floor-mode pool drops).
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
import type { NetworkWeights } from '../../src/model/conv-weights.js';
import { nodeBackend } from '../../src/node/ort-backend.js';
import { engineBackend } from '../../src/web/platform.js';
import { relativeError, seededRandom, sharedImage, sharedWeights } from '../helpers.js';

const layout = {
  contentLayers: ['conv4_2'],
  styleLayers: ['conv1_1', 'conv2_1', 'conv3_1', 'conv4_1', 'conv5_1'],
  styleNormalisation: 'size-invariant' as const,
  pooling: 'max' as const,
};
const termWeights = { content: new Map([['conv4_2', 1]]), style: new Map(layout.styleLayers.map((l) => [l, 100])), tv: 1e-3 };

let net: NetworkSpec;
let weights: NetworkWeights;
/** The default graph (MaxPool's indices + MaxUnpool) and the 'select' one, on each runtime. */
const engines: Record<'node' | 'wasm', { indices: StyleEngine; select: StyleEngine }> = {} as never;

before(async () => {
  const file = await readWeightsFile(sharedWeights);
  net = vgg19(file.convention!, 'vgg19-caffe-q8');
  weights = extractConvWeights(file.tensors, net, sharedWeights);
  const node = nodeBackend();
  const wasm = engineBackend('wasm');
  const [nodeIndices, nodeSelect, wasmIndices, wasmSelect] = await Promise.all(
    [node, { ...node, graph: { ...node.graph, maxPoolGradient: 'select' as const } }, wasm, { ...wasm, graph: { ...wasm.graph, maxPoolGradient: 'select' as const } }].map((b) =>
      StyleEngine.create(b, net, weights, layout),
    ),
  );
  engines.node = { indices: nodeIndices, select: nodeSelect };
  engines.wasm = { indices: wasmIndices, select: wasmSelect };
});
after(async () => Promise.all(Object.values(engines).flatMap((e) => [e.indices.release(), e.select.release()])));

describe('onnxruntime-web (wasm) loss terms', () => {
  const WIDTH = 32;
  const HEIGHT = 24;
  let content: Float32Array;
  let style: Float32Array;
  let reference: ReturnType<typeof referenceLoss>;

  async function load(name: 'dog' | 'matisse'): Promise<Float32Array> {
    const { data } = await sharp(sharedImage(name)).resize(WIDTH, HEIGHT, { fit: 'fill' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const n = WIDTH * HEIGHT;
    const planar = new Float32Array(3 * n);
    for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) planar[c * n + i] = data[3 * i + c] / 255;
    return preprocess(planar, n, net.convention);
  }

  before(async () => {
    content = await load('dog');
    style = await load('matisse');
    // Iteration 1 of a run: the image is the content itself.
    const refLayout: ReferenceLayout = { ...layout, layers: truncateTo(net, [...layout.contentLayers, ...layout.styleLayers]) };
    const refTargets = {
      content: referenceTargets(volume(3, HEIGHT, WIDTH, Float64Array.from(content)), refLayout, weights).content,
      gram: referenceTargets(volume(3, HEIGHT, WIDTH, Float64Array.from(style)), refLayout, weights).gram,
    };
    reference = referenceLoss(volume(3, HEIGHT, WIDTH, Float64Array.from(content)), refLayout, weights, refTargets, termWeights);
  });

  async function terms(engine: StyleEngine): Promise<LossTerms> {
    const targets: Targets = {
      content: (await engine.targets(content, WIDTH, HEIGHT, { content: true, style: false })).content,
      gram: (await engine.targets(style, WIDTH, HEIGHT, { content: false, style: true })).gram,
    };
    return engine.evaluate(content, WIDTH, HEIGHT, targets, termWeights, new Float32Array(content.length));
  }

  it('equal the float64 reference within 1e-5, term by term, and onnxruntime-node within 1e-5', async () => {
    const [w, n] = [await terms(engines.wasm.indices), await terms(engines.node.indices)];
    for (const [layer, v] of reference.style) {
      assert.ok(relativeError(w.style.get(layer)!, v) < 1e-5, `wasm style ${layer}: ${w.style.get(layer)} vs ${v}`);
      assert.ok(relativeError(n.style.get(layer)!, v) < 1e-5, `node style ${layer}: ${n.style.get(layer)} vs ${v}`);
    }
    assert.ok(relativeError(w.tv, reference.tv) < 1e-5, `wasm tv ${w.tv} vs ${reference.tv}`);
    assert.ok(relativeError(w.total, reference.total) < 1e-5, `wasm total ${w.total} vs ${reference.total}`);
    assert.ok(relativeError(w.total, n.total) < 1e-5, `wasm total ${w.total} vs node ${n.total}`);
  });
});

/** Blocks of one colour (exact ties inside each) with a little noise on every other block. */
function blocky(width: number, height: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  const colours = Array.from({ length: 64 }, () => [random() * 200 - 100, random() * 200 - 100, random() * 200 - 100]);
  const n = width * height;
  const out = new Float32Array(3 * n);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const block = (Math.floor(y / 12) * 8 + Math.floor(x / 12)) % 64;
      const noisy = block % 2 === 1;
      for (let c = 0; c < 3; c++) out[c * n + y * width + x] = colours[block][c] + (noisy ? (random() - 0.5) * 30 : 0);
    }
  }
  return out;
}

describe("max-pool gradient without MaxUnpool ('select', the WebGPU graph)", () => {
  for (const [name, runtime] of [
    ['onnxruntime-node', 'node'],
    ["onnxruntime-web's wasm", 'wasm'],
  ] as const) {
    for (const [width, height] of [
      [48, 48],
      [45, 33],
    ]) {
      it(`${name}, ${width}x${height}: the same loss and gradient, bit for bit`, async () => {
        const { indices, select } = engines[runtime];
        // The targets from one engine for both: the two graphs differ in the loss's backward only.
        const targets: Targets = {
          content: (await indices.targets(blocky(width, height, 1), width, height, { content: true, style: false })).content,
          gram: (await indices.targets(blocky(width, height, 2), width, height, { content: false, style: true })).gram,
        };
        const x = blocky(width, height, 3);
        const run = async (engine: StyleEngine) => {
          const grad = new Float32Array(x.length);
          return { loss: (await engine.evaluate(x, width, height, targets, termWeights, grad)).total, grad };
        };
        const a = await run(indices);
        const b = await run(select);
        assert.equal(b.loss, a.loss);
        let differing = 0;
        let nonzero = 0;
        for (let i = 0; i < a.grad.length; i++) {
          if (b.grad[i] !== a.grad[i]) differing++;
          if (a.grad[i] !== 0) nonzero++;
        }
        assert.equal(differing, 0, `${differing} of ${a.grad.length} gradient values differ`);
        assert.ok(nonzero > a.grad.length / 2, `a gradient that says something: ${nonzero} non-zero values`);
      });
    }
  }
});
