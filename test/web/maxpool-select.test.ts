/**
 * The WebGPU graph's max-pool gradient (`maxPoolGradient: 'select'`: strided window views, Equal,
 * DepthToSpace) against the default one (MaxPool's indices + MaxUnpool), on onnxruntime-node and on
 * onnxruntime-web's wasm in Node: the same loss and the same gradient, bit for bit. The picture has
 * flat areas, so many pooling windows hold several equal positive maxima: the tie-break (the first
 * maximum in scan order, as ORT's MaxPool records it) is exercised, not only the easy case. An even
 * and an odd size (a trailing row and column that the floor-mode pool drops).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { StyleEngine, type EngineBackend } from '../../src/engine/style-engine.js';
import type { Targets } from '../../src/engine/loss-terms.js';
import { extractConvWeights, readWeightsFile } from '../../src/model/weights-file.js';
import { vgg19, type NetworkSpec } from '../../src/model/vgg19.js';
import type { NetworkWeights } from '../../src/model/conv-weights.js';
import { nodeBackend } from '../../src/node/ort-backend.js';
import { engineBackend } from '../../src/web/platform.js';
import { seededRandom, sharedWeights } from '../helpers.js';

const layout = {
  contentLayers: ['conv4_2'],
  styleLayers: ['conv1_1', 'conv2_1', 'conv3_1', 'conv4_1', 'conv5_1'],
  styleNormalisation: 'size-invariant' as const,
  pooling: 'max' as const,
};
const termWeights = { content: new Map([['conv4_2', 1]]), style: new Map(layout.styleLayers.map((l) => [l, 100])), tv: 1e-3 };

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
  let net: NetworkSpec;
  let weights: NetworkWeights;
  const engines: StyleEngine[] = [];

  before(async () => {
    const file = await readWeightsFile(sharedWeights);
    net = vgg19(file.convention!, 'vgg19-caffe-q8');
    weights = extractConvWeights(file.tensors, net, sharedWeights);
  });
  after(async () => Promise.all(engines.map((e) => e.release())));

  async function evaluate(backend: EngineBackend, width: number, height: number) {
    const engine = await StyleEngine.create(backend, net, weights, layout);
    engines.push(engine);
    const image = blocky(width, height, 1);
    const style = blocky(width, height, 2);
    const targets: Targets = {
      content: (await engine.targets(image, width, height, { content: true, style: false })).content,
      gram: (await engine.targets(style, width, height, { content: false, style: true })).gram,
    };
    const x = blocky(width, height, 3);
    const grad = new Float32Array(x.length);
    const terms = await engine.evaluate(x, width, height, targets, termWeights, grad);
    return { loss: terms.total, grad };
  }

  for (const [name, backend] of [
    ['onnxruntime-node', nodeBackend()],
    ["onnxruntime-web's wasm", engineBackend('wasm')],
  ] as const) {
    for (const [width, height] of [
      [64, 64],
      [61, 45],
    ]) {
      it(`${name}, ${width}x${height}: the same loss and gradient, bit for bit`, async () => {
        const indices = await evaluate(backend, width, height);
        const select = await evaluate({ ...backend, graph: { maxPoolGradient: 'select' } }, width, height);
        assert.equal(select.loss, indices.loss);
        let differing = 0;
        let nonzero = 0;
        for (let i = 0; i < indices.grad.length; i++) {
          if (select.grad[i] !== indices.grad[i]) differing++;
          if (indices.grad[i] !== 0) nonzero++;
        }
        assert.equal(differing, 0, `${differing} of ${indices.grad.length} gradient values differ`);
        assert.ok(nonzero > indices.grad.length / 2, `a gradient that says something: ${nonzero} non-zero values`);
      });
    }
  }
});
