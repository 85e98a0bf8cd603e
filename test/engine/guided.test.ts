/**
 * Guided Gram matrices (spatial and scale control, src/losses/guided.ts) on the tiny random network:
 * the graph's masked loss and hand-written gradient against a float64 TypeScript version of the
 * same maths (its central differences), an all-ones mask against the plain graph, complementary
 * binary masks whose raw Grams add up to the whole image's, and per-style layer weights with one
 * style against the plain loss through the pipeline's own option handling.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { StyleEngine } from '../../src/engine/style-engine.js';
import type { LossLayout } from '../../src/engine/loss-graph.js';
import type { TermWeights } from '../../src/engine/loss-terms.js';
import { nodeBackend } from '../../src/node/ort-backend.js';
import type { MaskPropagation } from '../../src/losses/guided.js';
import type { StyleNormalisation } from '../../src/losses/style.js';
import type { Pooling } from '../../src/model/vgg19.js';
import { normaliseOptions } from '../../src/options.js';
import { termWeights } from '../../src/pipeline/objective.js';
import { computeTargets } from '../../src/pipeline/targets.js';
import { referenceFeatures, volume, type Volume } from '../reference/reference.js';
import { gaussian, maxRelativeError, relativeError, seededRandom } from '../helpers.js';
import { centralDifferences, randomWeights, tinyLayers, tinyNet } from './tiny-net.js';

const STYLE_LAYERS = ['conv1_1', 'conv2_1', 'conv3_1'];
const CONTENT_LAYERS = ['conv2_2'];
const channelsOf = (name: string) => (tinyLayers.find((l) => l.name === name) as { outChannels: number }).outChannels;

/** Float64 masks [R][h·w] at each conv layer: average (or, 'inside', min) 2x2 pools; 'inside' also a 3x3 min per conv. */
function propagate(masks: Float64Array[], width: number, height: number, propagation: MaskPropagation): Map<string, { data: Float64Array[]; w: number; h: number }> {
  const out = new Map<string, { data: Float64Array[]; w: number; h: number }>();
  let m = masks;
  let w = width;
  let h = height;
  for (const layer of tinyLayers) {
    if (layer.kind === 'conv') {
      if (propagation === 'inside') {
        m = m.map((x) => {
          const y = new Float64Array(w * h);
          for (let r = 0; r < h; r++)
            for (let c = 0; c < w; c++) {
              let v = Infinity;
              for (let dr = -1; dr <= 1; dr++)
                for (let dc = -1; dc <= 1; dc++) if (r + dr >= 0 && r + dr < h && c + dc >= 0 && c + dc < w) v = Math.min(v, x[(r + dr) * w + c + dc]);
              y[r * w + c] = v;
            }
          return y;
        });
      }
      out.set(layer.name, { data: m, w, h });
    } else {
      const pw = Math.floor(w / 2);
      const ph = Math.floor(h / 2);
      m = m.map((x) => {
        const y = new Float64Array(pw * ph);
        for (let r = 0; r < ph; r++)
          for (let c = 0; c < pw; c++) {
            const v = [x[2 * r * w + 2 * c], x[2 * r * w + 2 * c + 1], x[(2 * r + 1) * w + 2 * c], x[(2 * r + 1) * w + 2 * c + 1]];
            y[r * pw + c] = propagation === 'inside' ? Math.min(...v) : (v[0] + v[1] + v[2] + v[3]) / 4;
          }
        return y;
      });
      w = pw;
      h = ph;
    }
  }
  return out;
}

/** G_r = (F∘m)(F∘m)ᵀ · N/Σm² · g in float64 (losses/guided.ts). */
function guidedGram(f: Volume, m: Float64Array, norm: StyleNormalisation): Float64Array {
  const C = f.channels;
  const N = f.height * f.width;
  let mass = 0;
  for (const v of m) mass += v * v;
  const scale = (norm === 'recipe' ? 1 : 1 / (C * N)) * (N / mass);
  const G = new Float64Array(C * C);
  for (let a = 0; a < C; a++)
    for (let b = 0; b < C; b++) {
      let s = 0;
      for (let k = 0; k < N; k++) s += f.data[a * N + k] * f.data[b * N + k] * m[k] * m[k];
      G[a * C + b] = s * scale;
    }
  return G;
}

/** The guided style loss Σ_l w_l Σ_r ρ_{r,l} styleₗ(G_r), float64, of an image [3,H,W]. */
function referenceGuidedLoss(
  image: Float64Array,
  width: number,
  height: number,
  pooling: Pooling,
  norm: StyleNormalisation,
  propagation: MaskPropagation,
  masks: Float64Array[],
  targets: Map<string, Float32Array>,
  weights: TermWeights,
  net: ReturnType<typeof randomWeights>,
): number {
  const { features } = referenceFeatures(volume(3, height, width, image), tinyLayers, net, pooling);
  const atLayer = propagate(masks, width, height, propagation);
  let total = 0;
  for (const l of STYLE_LAYERS) {
    const f = features.get(l)!;
    const C = f.channels;
    const M = C * f.width * f.height;
    masks.forEach((_, r) => {
      const G = guidedGram(f, atLayer.get(l)!.data[r], norm);
      let sq = 0;
      for (let i = 0; i < C * C; i++) sq += (G[i] - targets.get(l)![r * C * C + i]) ** 2;
      const style = norm === 'recipe' ? sq / (C * C) / M : sq / (C * C);
      total += weights.style.get(l)! * weights.regions!.get(l)![r] * style;
    });
  }
  return total;
}

const W = 11;
const H = 9;

for (const pooling of ['max', 'avg'] as Pooling[]) {
  for (const styleNormalisation of ['recipe', 'size-invariant'] as StyleNormalisation[]) {
    for (const propagation of ['pool', 'inside'] as MaskPropagation[]) {
      describe(`guided Grams: ${pooling} pooling, ${styleNormalisation}, '${propagation}' propagation, ${W}x${H}, two soft masks`, () => {
        const weights = randomWeights(7);
        const layout: LossLayout = { contentLayers: CONTENT_LAYERS, styleLayers: STYLE_LAYERS, styleNormalisation, pooling, guided: propagation };
        const random = seededRandom(21);
        const normal = gaussian(random);
        const image = Float32Array.from({ length: 3 * H * W }, () => normal());
        // Two overlapping soft masks, 0…1, fp32-exact; the second is positive where the first is not
        // so neither region vanishes under 'inside' erosion.
        const masks = [0, 1].map((r) =>
          Float64Array.from({ length: H * W }, (_, i) => Math.fround(r === 0 ? (i % W < 7 ? 0.5 + 0.5 * random() : 0.2 * random()) : 0.3 + 0.7 * random())),
        );
        // Targets NOT symmetric, as in gradient.test.ts.
        const gram = new Map(
          STYLE_LAYERS.map((l) => [l, Float32Array.from({ length: 2 * channelsOf(l) ** 2 }, () => (styleNormalisation === 'recipe' ? 5 * random() : 0.1 * random()))]),
        );
        const termWeights: TermWeights = {
          content: new Map([['conv2_2', 0]]),
          style: new Map([
            ['conv1_1', 0.7],
            ['conv2_1', 2],
            ['conv3_1', 3],
          ]),
          tv: 0,
          regions: new Map([
            ['conv1_1', [1, 0.5]],
            ['conv2_1', [0.3, 2]],
            ['conv3_1', [1.5, 1]],
          ]),
        };
        let engine: StyleEngine;
        before(async () => {
          engine = await StyleEngine.create(nodeBackend({ threads: 1 }), tinyNet, weights, layout);
        });
        after(async () => engine.release());

        it('loss equals the float64 guided loss (1e-5) and the gradient matches its central differences (1e-3)', async () => {
          const maskData = new Float32Array(2 * H * W);
          masks.forEach((m, r) => maskData.set(m, r * H * W));
          const content = new Float32Array(4 * Math.floor(H / 2) * Math.floor(W / 2));
          const targets = { content: new Map([['conv2_2', { data: content, dims: [1, 4, Math.floor(H / 2), Math.floor(W / 2)] }]]), gram, masks: { data: maskData, regions: 2 } };
          const grad = new Float32Array(image.length);
          const terms = await engine.evaluate(image, W, H, targets, termWeights, grad);
          const loss = (x: Float64Array) => referenceGuidedLoss(x, W, H, pooling, styleNormalisation, propagation, masks, gram, termWeights, weights);
          const x = Float64Array.from(image);
          const ref = loss(x);
          assert.ok(relativeError(terms.total, ref) < 1e-5, `total ${terms.total} vs ${ref}`);
          const numeric = centralDifferences(loss, x, 1e-4);
          const err = maxRelativeError(grad, numeric);
          assert.ok(err <= 1e-3, `max relative gradient error ${err}`);
        });
      });
    }
  }
}

for (const styleNormalisation of ['recipe', 'size-invariant'] as StyleNormalisation[]) {
  describe(`guided Grams against the plain graph (${styleNormalisation})`, () => {
    const weights = randomWeights(5);
    const plainLayout: LossLayout = { contentLayers: CONTENT_LAYERS, styleLayers: STYLE_LAYERS, styleNormalisation, pooling: 'max' };
    let plain: StyleEngine;
    let guided: StyleEngine;
    before(async () => {
      plain = await StyleEngine.create(nodeBackend({ threads: 1 }), tinyNet, weights, plainLayout);
      guided = await StyleEngine.create(nodeBackend({ threads: 1 }), tinyNet, weights, { ...plainLayout, guided: 'pool' });
    });
    after(async () => Promise.all([plain.release(), guided.release()]));

    const normal = gaussian(seededRandom(3));
    const make = (w: number, h: number) => Float32Array.from({ length: 3 * w * h }, () => 10 * normal());
    const weightsOf: TermWeights = {
      content: new Map([['conv2_2', 1.5]]),
      style: new Map([
        ['conv1_1', 0.7],
        ['conv2_1', 2],
        ['conv3_1', 3],
      ]),
      tv: 0.3,
    };

    it('an all-ones mask gives the plain loss terms (1e-6) and gradient (1e-5), and the plain Gram targets', async () => {
      const [w, h] = [13, 10];
      const style = make(w, h);
      const image = make(w, h);
      const content = await plain.targets(make(w, h), w, h, { content: true, style: false });
      const plainTargets = { content: content.content, gram: (await plain.targets(style, w, h, { content: false, style: true })).gram };
      const guidedGram = (await guided.targets(style, w, h, { content: false, style: true })).gram;
      for (const [l, g] of plainTargets.gram) assert.ok(maxRelativeError(guidedGram.get(l)!, g) < 1e-6, `target ${l}`);
      const gradPlain = new Float32Array(image.length);
      const gradGuided = new Float32Array(image.length);
      const a = await plain.evaluate(image, w, h, plainTargets, weightsOf, gradPlain);
      const masks = { data: new Float32Array(w * h).fill(1), regions: 1 };
      const b = await guided.evaluate(image, w, h, { ...plainTargets, masks }, weightsOf, gradGuided);
      assert.ok(relativeError(b.total, a.total) < 1e-6, `total ${b.total} vs ${a.total}`);
      for (const [l, v] of a.style) assert.ok(relativeError(b.style.get(l)!, v) < 1e-6, `style ${l}: ${b.style.get(l)} vs ${v}`);
      assert.ok(maxRelativeError(gradGuided, gradPlain) < 1e-5, `gradient ${maxRelativeError(gradGuided, gradPlain)}`);
    });

    it('two complementary binary masks: the raw guided Grams add up to the whole image Gram at every layer', async () => {
      // A left/right split on the 4 px grid of the two pools, so the masks stay binary and complementary at every level.
      const [w, h] = [16, 12];
      const image = make(w, h);
      const left = Float32Array.from({ length: w * h }, (_, i) => (i % w < 8 ? 1 : 0));
      const right = left.map((v) => 1 - v);
      const whole = (await plain.targets(image, w, h, { content: false, style: true })).gram;
      const parts = [await guided.targets(image, w, h, { content: false, style: true }, left), await guided.targets(image, w, h, { content: false, style: true }, right)];
      const levels: Record<string, number> = { conv1_1: 1, conv2_1: 2, conv3_1: 4 };
      for (const l of STYLE_LAYERS) {
        const c = channelsOf(l);
        const n = (w / levels[l]) * (h / levels[l]);
        const m = c * n;
        // G = raw/M (size-invariant) or raw (recipe); G_r = raw_r/(C·mass_r) or raw_r·M/(C·mass_r), mass_r = n/2 here.
        const raw = (g: Float32Array, mass?: number) =>
          Array.from(g, (v) => (mass === undefined ? (styleNormalisation === 'recipe' ? v : v * m) : styleNormalisation === 'recipe' ? (v * c * mass) / m : v * c * mass));
        const sum = raw(parts[0].gram.get(l)!, n / 2).map((v, i) => v + raw(parts[1].gram.get(l)!, n / 2)[i]);
        const err = maxRelativeError(sum, raw(whole.get(l)!));
        assert.ok(err < 1e-5, `${l}: ${err}`);
        // And neither part is the whole: the split matters.
        assert.ok(maxRelativeError(raw(parts[0].gram.get(l)!, n / 2), raw(whole.get(l)!)) > 1e-2);
      }
    });

    it('per-style layer weights, one style, through the options and the pipeline: the plain loss (1e-6)', async () => {
      const [w, h] = [13, 10];
      const contentImage = make(w, h);
      const style = { input: make(w, h), width: w, height: h };
      const image = make(w, h);
      for (const layerWeights of [
        [1, 1, 1],
        [0.5, 1, 2],
      ]) {
        const common = { content: 'c.png', style: 's.png', contentLayers: CONTENT_LAYERS, styleLayers: STYLE_LAYERS, styleNormalisation, pooling: 'max' as const, tvWeight: 0.3 };
        const plainOpts = normaliseOptions({ ...common, styleLayerWeights: layerWeights });
        const perStyle = normaliseOptions({ ...common, styleLayerWeights: [layerWeights] });
        assert.deepEqual(perStyle.perStyleLayerWeights, [layerWeights]);
        const content = { input: contentImage, width: w, height: h };
        const a = await plain.evaluate(image, w, h, await computeTargets(plain, content, [style], [1]), termWeights(plainOpts), new Float32Array(image.length));
        const masks = { data: new Float32Array(w * h).fill(1), regions: 1 };
        const b = await guided.evaluate(image, w, h, await computeTargets(guided, content, [style], [1], { masks }), termWeights(perStyle), new Float32Array(image.length));
        assert.ok(relativeError(b.total, a.total) < 1e-6, `${layerWeights}: total ${b.total} vs ${a.total}`);
      }
    });
  });
}
