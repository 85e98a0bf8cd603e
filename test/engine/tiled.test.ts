/**
 * Exact tiled evaluation (src/engine/tiling.ts, tiled-engine.ts) against the untiled graph
 * (StyleEngine), which the other engine tests check against float64 references: the tile geometry,
 * a small random network at odd sizes with tiny tiles (fast, both poolings and normalisations),
 * and the real VGG-19 to conv5_1 at 203x157 (odd) and 200x64 (a strip) with 64 px interiors.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { StyleEngine } from '../../src/engine/style-engine.js';
import type { Targets, TermWeights } from '../../src/engine/loss-terms.js';
import { TiledEngine } from '../../src/engine/tiled-engine.js';
import { nodeBackend } from '../../src/node/ort-backend.js';
import { axisCuts, levelWindow, planTiles, planTilesWithin, tileGeometry } from '../../src/engine/tiling.js';
import type { LossLayout } from '../../src/engine/loss-graph.js';
import { preprocess } from '../../src/model/convention.js';
import { readWeightsFile, extractConvWeights } from '../../src/model/weights-file.js';
import { truncateTo, vgg19, VGG19_LAYERS, type NetworkSpec, type Pooling } from '../../src/model/vgg19.js';
import type { StyleNormalisation } from '../../src/losses/style.js';
import { gaussian, maxRelativeError, relativeError, relativeL2, seededRandom, sharedImage, sharedWeights } from '../helpers.js';
import { randomWeights, TINY_TERM_WEIGHTS, tinyLayers, tinyNet } from './tiny-net.js';

const QUALITY_LOSS = { contentLayers: ['conv4_2'], styleLayers: ['conv1_1', 'conv2_1', 'conv3_1', 'conv4_1', 'conv5_1'] };

describe('tile geometry', () => {
  it('VGG-19 to conv5_1 needs 16 px alignment and an 80 px halo; to conv4_2 alone 8 and 40', () => {
    const all = [...QUALITY_LOSS.contentLayers, ...QUALITY_LOSS.styleLayers];
    const g = tileGeometry(truncateTo({ layers: VGG19_LAYERS }, all), all);
    assert.equal(g.alignment, 16);
    assert.equal(g.halo, 80);
    assert.deepEqual(Object.fromEntries(g.levels), { conv4_2: 3, conv1_1: 0, conv2_1: 1, conv3_1: 2, conv4_1: 3, conv5_1: 4 });
    const content = tileGeometry(truncateTo({ layers: VGG19_LAYERS }, ['conv4_2']), ['conv4_2']);
    assert.deepEqual([content.alignment, content.halo], [8, 40]);
  });

  it('cuts sit on the alignment grid, cover the axis once, and never leave a part narrower than one step', () => {
    for (const [length, count] of [
      [200, 4],
      [150, 3],
      [17, 1],
      [1024, 2],
      [4096, 7],
      [100, 50],
    ]) {
      const cuts = axisCuts(length, count, 16);
      assert.equal(cuts[0], 0);
      assert.equal(cuts[cuts.length - 1], length);
      for (let i = 1; i < cuts.length; i++) {
        assert.ok(cuts[i] > cuts[i - 1], `${length}/${count}: increasing`);
        if (i < cuts.length - 1) assert.equal(cuts[i] % 16, 0);
        assert.ok(cuts[i] - cuts[i - 1] >= 16 || cuts.length === 2, `${length}/${count}: part ${cuts[i - 1]}..${cuts[i]}`);
      }
    }
  });

  it('a plan partitions the image; crops are the interiors plus the halo, clipped at the border', () => {
    const g = { alignment: 16, halo: 80, levels: new Map([['conv5_1', 4]]) };
    const plan = planTiles(200, 150, 64, g);
    assert.equal(plan.tiles.length, 9);
    const owner = new Int32Array(200 * 150);
    for (const t of plan.tiles) {
      for (let y = t.y0; y < t.y1; y++) for (let x = t.x0; x < t.x1; x++) owner[y * 200 + x]++;
      assert.deepEqual([t.cropX0, t.cropY0, t.cropX1, t.cropY1], [Math.max(0, t.x0 - 80), Math.max(0, t.y0 - 80), Math.min(200, t.x1 + 80), Math.min(150, t.y1 + 80)]);
      // Every interior owns at least one conv5_1 position; the last row of tiles ends at floor(150/16) = 9.
      const w = levelWindow(t, plan, 4);
      assert.ok(w.r1 > w.r0 && w.c1 > w.c0);
      if (t.y1 === 150) assert.equal(w.r1 + t.cropY0 / 16, 9);
    }
    assert.ok(owner.every((n) => n === 1));
  });

  it('the memory-bounded plan fits its crop limit with the least halo overhead (strips for a wide budget)', () => {
    const g = { alignment: 16, halo: 80, levels: new Map([['conv5_1', 4]]) };
    const plan = planTilesWithin(1024, 1024, 1024 * 600, g)!;
    assert.ok(plan.maxCropPixels <= 1024 * 600);
    assert.equal(plan.tiles.length, 2); // two strips of 512 + 80 rows
    assert.ok(Math.abs(plan.overhead - (2 * 592) / 1024) < 1e-12);
    assert.equal(planTilesWithin(1024, 1024, 100 * 100, g), undefined); // 16 + 2·80 px does not fit
  });
});

// The tiny random network of tiny-net.ts: alignment 4, halo 12.

/** Tiled and untiled results for one image, the targets computed by the untiled engine. */
async function bothWays(
  untiled: StyleEngine,
  tiled: TiledEngine,
  content: Float32Array,
  style: Float32Array,
  image: Float32Array,
  width: number,
  height: number,
  weights: TermWeights,
) {
  const targets: Targets = {
    content: (await untiled.targets(content, width, height, { content: true, style: false })).content,
    gram: (await untiled.targets(style, width, height, { content: false, style: true })).gram,
  };
  const gradUntiled = new Float32Array(image.length);
  const gradTiled = new Float32Array(image.length).fill(Number.NaN); // every element must be written
  const a = await untiled.evaluate(image, width, height, targets, weights, gradUntiled);
  const b = await tiled.evaluate(image, width, height, targets, weights, gradTiled);
  return { a, b, gradUntiled, gradTiled, targets };
}

for (const pooling of ['max', 'avg'] as Pooling[]) {
  for (const styleNormalisation of ['recipe', 'size-invariant'] as StyleNormalisation[]) {
    describe(`tiled = untiled on a small random network (${pooling} pooling, ${styleNormalisation})`, () => {
      const layout: LossLayout = { contentLayers: ['conv2_2'], styleLayers: ['conv1_1', 'conv2_1', 'conv3_1'], styleNormalisation, pooling };
      const weights = randomWeights(3);
      const termWeights: TermWeights = TINY_TERM_WEIGHTS;
      let untiled: StyleEngine;
      let tiled: TiledEngine;
      let tooSmallHalo: TiledEngine;
      before(async () => {
        untiled = await StyleEngine.create(nodeBackend({ threads: 1 }), tinyNet, weights, layout);
        tiled = await TiledEngine.create(nodeBackend({ threads: 1 }), tinyNet, weights, layout, { interior: 8, forwardInterior: 12 });
        tooSmallHalo = await TiledEngine.create(nodeBackend({ threads: 1 }), tinyNet, weights, layout, { interior: 8, halo: 8 });
      });
      after(async () => Promise.all([untiled.release(), tiled.release(), tooSmallHalo.release()]));

      for (const [width, height] of [
        [53, 41],
        [40, 37],
        [9, 30],
      ]) {
        it(`${width}x${height} with 8 px interiors (12 px in the forward pass): loss terms within 1e-5, gradient within 1e-5 (relative L2)`, async () => {
          assert.equal(tiled.geometry.halo, 12);
          const normal = gaussian(seededRandom(width * height));
          const make = () => Float32Array.from({ length: 3 * width * height }, () => 10 * normal());
          const { a, b, gradUntiled, gradTiled } = await bothWays(untiled, tiled, make(), make(), make(), width, height, termWeights);
          assert.ok(tiled.plan(width, height).tiles.length > 1 && tiled.forwardPlan(width, height).tiles.length > 1);
          assert.ok(relativeError(b.total, a.total) < 1e-5, `total ${b.total} vs ${a.total}`);
          assert.ok(relativeError(b.tv, a.tv) < 1e-5, `tv ${b.tv} vs ${a.tv}`);
          for (const [l, v] of a.style) assert.ok(relativeError(b.style.get(l)!, v) < 1e-5, `style ${l}: ${b.style.get(l)} vs ${v}`);
          assert.ok(relativeError(b.content.get('conv2_2')!, a.content.get('conv2_2')!) < 1e-5, 'content');
          const err = relativeL2(gradTiled, gradUntiled);
          assert.ok(err < 1e-5, `gradient error ${err}`);
        });
      }

      it('a halo one alignment step short of the computed one is measurably wrong (the halo is needed)', async () => {
        const normal = gaussian(seededRandom(5));
        const make = () => Float32Array.from({ length: 3 * 53 * 41 }, () => 10 * normal());
        const { a, b, gradUntiled, gradTiled } = await bothWays(untiled, tooSmallHalo, make(), make(), make(), 53, 41, termWeights);
        const err = relativeL2(gradTiled, gradUntiled);
        assert.ok(err > 1e-3 || relativeError(b.total, a.total) > 1e-3, `gradient error ${err} with a 8 px halo`);
      });

      it('tiled targets equal untiled ones', async () => {
        const normal = gaussian(seededRandom(9));
        const image = Float32Array.from({ length: 3 * 53 * 41 }, () => 10 * normal());
        const t = await tiled.targets(image, 53, 41);
        const u = await untiled.targets(image, 53, 41);
        for (const [l, g] of u.gram) assert.ok(maxRelativeError(t.gram.get(l)!, g) < 1e-5, `gram ${l}`);
        for (const [l, f] of u.content) {
          assert.deepEqual(t.content.get(l)!.dims, f.dims);
          assert.ok(maxRelativeError(t.content.get(l)!.data, f.data) < 1e-6, `content ${l}`);
        }
      });
    });
  }
}

// Guided Grams (spatial control): the masks are cropped with the image and propagated inside each
// crop; the interiors' masks, Gram sums and masses must be the untiled graph's, for both propagations.
for (const guided of ['pool', 'inside'] as const) {
  for (const styleNormalisation of ['recipe', 'size-invariant'] as StyleNormalisation[]) {
    describe(`tiled = untiled with two region masks ('${guided}' propagation, ${styleNormalisation})`, () => {
      const layout: LossLayout = { contentLayers: ['conv2_2'], styleLayers: ['conv1_1', 'conv2_1', 'conv3_1'], styleNormalisation, pooling: 'max', guided };
      const weights = randomWeights(4);
      const termWeights: TermWeights = {
        ...TINY_TERM_WEIGHTS,
        regions: new Map([
          ['conv1_1', [1, 0.5]],
          ['conv2_1', [0.3, 2]],
          ['conv3_1', [1.5, 1]],
        ]),
      };
      let untiled: StyleEngine;
      let tiled: TiledEngine;
      before(async () => {
        untiled = await StyleEngine.create(nodeBackend({ threads: 1 }), tinyNet, weights, layout);
        tiled = await TiledEngine.create(nodeBackend({ threads: 1 }), tinyNet, weights, layout, { interior: 8, forwardInterior: 12 });
      });
      after(async () => Promise.all([untiled.release(), tiled.release()]));

      it('53x41, 8 px interiors: loss terms within 1e-5, gradient within 1e-5 (relative L2); masked style targets too', async () => {
        const [width, height] = [53, 41];
        const random = seededRandom(17);
        const normal = gaussian(random);
        const make = () => Float32Array.from({ length: 3 * width * height }, () => 10 * normal());
        // A soft diagonal boundary between the regions (so it crosses tiles), plus noise.
        const first = Float32Array.from({ length: width * height }, (_, i) => Math.min(1, Math.max(0, ((i % width) - Math.floor(i / width)) / 10 + 0.5 + 0.1 * random())));
        const masks = new Float32Array(2 * width * height);
        masks.set(first);
        masks.set(
          first.map((v) => 1 - v),
          width * height,
        );
        const style = make();
        const styleMask = first.map((v) => 1 - v);
        const g0 = (await untiled.targets(make(), width, height, { content: false, style: true })).gram;
        const g1 = (await untiled.targets(style, width, height, { content: false, style: true }, styleMask)).gram;
        const gram = new Map([...g0].map(([l, g]) => [l, Float32Array.of(...g, ...g1.get(l)!)]));
        const targets: Targets = { content: (await untiled.targets(make(), width, height, { content: true, style: false })).content, gram, masks: { data: masks, regions: 2 } };
        const image = make();
        const gradUntiled = new Float32Array(image.length);
        const gradTiled = new Float32Array(image.length).fill(Number.NaN);
        const a = await untiled.evaluate(image, width, height, targets, termWeights, gradUntiled);
        const b = await tiled.evaluate(image, width, height, targets, termWeights, gradTiled);
        assert.ok(tiled.plan(width, height).tiles.length > 1);
        assert.ok(relativeError(b.total, a.total) < 1e-5, `total ${b.total} vs ${a.total}`);
        for (const [l, v] of a.style) assert.ok(relativeError(b.style.get(l)!, v) < 1e-5, `style ${l}: ${b.style.get(l)} vs ${v}`);
        const err = relativeL2(gradTiled, gradUntiled);
        assert.ok(err < 1e-5, `gradient error ${err}`);
        const t = (await tiled.targets(style, width, height, { content: false, style: true }, styleMask)).gram;
        for (const [l, g] of g1) assert.ok(maxRelativeError(t.get(l)!, g) < 1e-5, `masked gram target ${l}`);
      });
    });
  }
}

describe('tiled = untiled on VGG-19 to conv5_1 with the shared weights', () => {
  const layout: LossLayout = { ...QUALITY_LOSS, styleNormalisation: 'size-invariant', pooling: 'max' };
  const termWeights: TermWeights = { content: new Map([['conv4_2', 5]]), style: new Map(QUALITY_LOSS.styleLayers.map((l) => [l, 500])), tv: 1e-3 };
  let net: NetworkSpec;
  let untiled: StyleEngine;
  let tiled: TiledEngine;

  async function load(name: 'dog' | 'matisse', width: number, height: number): Promise<Float32Array> {
    const { data } = await sharp(sharedImage(name)).resize(width, height, { fit: 'fill' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const planar = new Float32Array(3 * width * height);
    for (let i = 0; i < width * height; i++) for (let c = 0; c < 3; c++) planar[c * width * height + i] = data[3 * i + c] / 255;
    return preprocess(planar, width * height, net.convention);
  }

  before(async () => {
    const file = await readWeightsFile(sharedWeights);
    net = vgg19(file.convention!, 'vgg19-caffe-q8');
    const weights = extractConvWeights(file.tensors, net, sharedWeights);
    // Both with ORT's Conv: the tiles' graphs always use it, and this compares tiling alone. The
    // untiled engine's default, Winograd's convolutions (engine/winograd.ts), rounds differently by
    // ~2e-6 per layer, which moves the gradient by ~3e-4 (test/engine/winograd.test.ts).
    untiled = await StyleEngine.create(nodeBackend({ convolution: 'direct' }), net, weights, layout);
    tiled = await TiledEngine.create(nodeBackend(), net, weights, layout, { interior: 64 });
  });
  after(async () => Promise.all([untiled.release(), tiled.release()]));

  // 203x157: 3x3 tiles, odd sides (203 → 101 → 50 → 25 → 12, 157 → 78 → 39 → 19 → 9: pools drop a
  // trailing column or row), the last column and row past the alignment grid. 200x64: one row of 3 (crops 144, 200 and 152 px wide: the halo
  // clipped at one border, at both, at the other), even at every pooling in y; a second shape on the
  // same sessions. (200x150 in 3x3 tiles was the second case before: 6x the halo pixels of 200x64.)
  for (const [width, height, tiles] of [
    [203, 157, 9],
    [200, 64, 3],
  ]) {
    it(`${width}x${height}, 64 px interiors (${tiles} tiles straddling the border): loss within 1e-4, gradient within 1e-4 (relative L2), targets too`, async () => {
      const content = await load('dog', width, height);
      const style = await load('matisse', width, height);
      const image = content.map((v, i) => v + 20 * Math.sin(i * 0.37));
      const { a, b, gradUntiled, gradTiled, targets } = await bothWays(untiled, tiled, content, style, image, width, height, termWeights);
      assert.equal(tiled.plan(width, height).tiles.length, tiles);
      assert.ok(relativeError(b.total, a.total) < 1e-4, `total ${b.total} vs ${a.total}`);
      for (const [l, v] of a.style) assert.ok(relativeError(b.style.get(l)!, v) < 1e-4, `style ${l}: ${b.style.get(l)} vs ${v}`);
      assert.ok(relativeError(b.content.get('conv4_2')!, a.content.get('conv4_2')!) < 1e-4, 'content');
      assert.ok(relativeError(b.tv, a.tv) < 1e-4, 'tv');
      const err = relativeL2(gradTiled, gradUntiled);
      assert.ok(err < 1e-4, `gradient error ${err}`);
      // The tiled targets: the content features exactly where computed, the Gram matrices up to summation order.
      const t = await tiled.targets(style, width, height, { content: false, style: true });
      for (const [l, g] of targets.gram) assert.ok(maxRelativeError(t.gram.get(l)!, g) < 1e-4, `gram target ${l}`);
      const c = await tiled.targets(content, width, height, { content: true, style: false });
      assert.ok(maxRelativeError(c.content.get('conv4_2')!.data, targets.content.get('conv4_2')!.data) < 1e-4, 'content target');
    });
  }
});
