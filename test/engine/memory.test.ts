/**
 * The memory model (src/engine/memory.ts): the budget from the platform's facts, the per-scale
 * choice between the untiled graph (with or without the arena) and tiles, and the public estimate,
 * which is the same model.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseBytes } from '../../src/bytes.js';
import { estimatePeakBytes, estimateTiledBytes, estimateUntiledBytes, planScaleMemory } from '../../src/engine/memory.js';
import { createStylizerOn, type ProgressEvent } from '../../src/index.js';
import { memoryBudget } from '../../src/node/memory-budget.js';
import { nodePlatform } from '../../src/node/platform.js';
import { planTilesWithin } from '../../src/engine/tiling.js';
import { OptionError, RunError } from '../../src/errors.js';
import { sharedImage, sharedWeights } from '../helpers.js';

const GIB = 2 ** 30;
const vgg = { alignment: 16, halo: 80, levels: new Map([['conv5_1', 4]]) };
const lbfgs = { optimizer: 'lbfgs' as const, history: 20 };

describe('memory budget', () => {
  it('parses sizes with K/M/G/T suffixes, with or without iB, and refuses anything else', () => {
    assert.equal(parseBytes('4G'), 4 * GIB);
    assert.equal(parseBytes('512m'), 512 * 2 ** 20);
    assert.equal(parseBytes('1.5GiB'), 1.5 * GIB);
    assert.equal(parseBytes(' 3000000000 '), 3e9);
    for (const bad of ['', 'lots', '4X', '-1G', '0', 'G4']) assert.equal(parseBytes(bad), undefined, bad);
  });

  it('the option wins over STYLE_TRANSFER_MEMORY_LIMIT, which wins over 85 % of the available memory', () => {
    const available = () => 10 * GIB;
    assert.equal(memoryBudget('4G', { STYLE_TRANSFER_MEMORY_LIMIT: '2G' }, available), 4 * GIB);
    assert.equal(memoryBudget(123456789, {}, available), 123456789);
    assert.equal(memoryBudget(undefined, { STYLE_TRANSFER_MEMORY_LIMIT: '2G' }, available), 2 * GIB);
    assert.equal(memoryBudget(undefined, {}, available), 8.5 * GIB);
    assert.throws(
      () => memoryBudget('four gigs', {}, available),
      (e: unknown) => e instanceof OptionError && /memory/.test(e.message),
    );
    assert.throws(() => memoryBudget(undefined, { STYLE_TRANSFER_MEMORY_LIMIT: 'x' }, available), OptionError);
  });

  it("a run follows the platform's free memory: the arena when it fits, lean when only that fits, tiles below", async () => {
    // The Node platform, with the free memory it reports replaced by a given figure.
    let free = 0;
    const leanBuilds: boolean[] = [];
    // Set at a job's scale event to stop it there: the platform's next step, the targets' resize, fails.
    let halt = false;
    const stopped = new Error('stopped after the scale event');
    const stylizer = createStylizerOn(
      {
        ...nodePlatform,
        memoryBudget: (memory) => memoryBudget(memory, {}, () => free),
        resize: (img, width, height) => (halt ? Promise.reject(stopped) : nodePlatform.resize(img, width, height)),
        backend: (threads, lean) => (leanBuilds.push(lean ?? false), nodePlatform.backend(threads, lean)),
      },
      { weights: sharedWeights, threads: 1 },
    );
    const job = { content: sharedImage('dog'), style: sharedImage('monet'), size: 64, scaleIterations: 0, iterations: 1, optimizer: 'adam' as const, padding: 'zero' as const };
    // Node's untiled loss graph holds Winograd's kernels (engine/winograd.ts), which the planner counts.
    const state = { optimizer: 'adam' as const, history: 20, winograd: true };
    const pixels = 64 * 48;
    const fast = estimateUntiledBytes(pixels, state);
    const lean = estimateUntiledBytes(pixels, state, true);
    /** The tiles of the job's scale; `stop`: end the job at its scale event (after its engine is built). */
    const tilesOf = async (freeBytes: number, size = 64, stop = false) => {
      free = freeBytes;
      halt = false;
      const events: ProgressEvent[] = [];
      const job$ = stylizer.stylize({
        ...job,
        size,
        onProgress: (e) => {
          events.push(e);
          if (stop && e.type === 'scale') halt = true;
        },
      });
      if (stop) await assert.rejects(job$, (e) => e === stopped);
      else await job$;
      const scale = events.find((e) => e.type === 'scale');
      return scale?.type === 'scale' ? scale.tiles : undefined;
    };
    try {
      assert.equal(await tilesOf(fast / 0.85 + 1), 1);
      assert.deepEqual(leanBuilds, [false], 'the arena: one untiled engine with it');
      assert.equal(await tilesOf((fast + lean) / 2 / 0.85), 1);
      assert.deepEqual(leanBuilds, [false, true], 'lean: an engine without the arena');
      // Tiles pay for their own sessions, so they are the choice only for a picture whose untiled
      // graph outweighs them: 640x480 with a byte less than its lean graph needs. The job stops once
      // its tiled engine is built and its scale announced: a run tiled by a budget to its end is
      // test/cli/tiled-run.test.ts's (the same planner, the budget given by --memory).
      const tiles = await tilesOf((estimateUntiledBytes(640 * 480, state, true) - 1) / 0.85, 640, true);
      assert.ok(tiles !== undefined && tiles > 1, `${tiles} tiles`);
      assert.equal(leanBuilds.length, 3, 'a third engine: the tiled one');
    } finally {
      await stylizer.close();
    }
  });
});

describe('estimatePeakBytes', () => {
  it('is the planner’s model: an untiled scale fits a budget exactly when its estimate (without the arena) does', () => {
    for (const [w, h, margin] of [
      [512, 384, 16],
      [1024, 768, 0],
      [1536, 1152, 16],
    ]) {
      const need = estimatePeakBytes(w, h, { margin });
      assert.equal(planScaleMemory(w, h, need, lbfgs, vgg, undefined, 2 * margin).tiled, false, `${w}x${h} at its estimate`);
      assert.equal(planScaleMemory(w, h, need - 1, lbfgs, vgg, undefined, 2 * margin).tiled, true, `${w}x${h} below it`);
      assert.ok(estimatePeakBytes(w, h, { margin, arena: true }) > need, 'the arena keeps more');
    }
  });

  it('counts the L-BFGS history given (the default preset’s when none is), the images, and the margin for the network only', () => {
    const plain = estimatePeakBytes(1024, 768);
    assert.equal(estimatePeakBytes(1024, 768, { history: 20 }), plain, 'the default preset keeps 20 pairs');
    assert.equal(estimatePeakBytes(1024, 768, { history: 100 }) - plain, 2 * 80 * 3 * 1024 * 768 * 4, 'two float32 vectors per pair');
    assert.ok(estimatePeakBytes(1024, 768, { optimizer: 'adam' }) < plain, 'Adam keeps three vectors');
    assert.equal(estimatePeakBytes(1024, 768, { inputPixels: 40e6, stylePixels: 1e6 }) - plain, 3 * 40e6 + 15 * 1e6);
    const margin = estimatePeakBytes(1024, 768, { margin: 16 });
    assert.ok(margin > plain && margin < estimatePeakBytes(1056, 800), 'a margin enlarges the tensors, not the optimiser');
    assert.equal(estimatePeakBytes(1024, 768, { margin: 16, history: 40 }) - margin, 2 * 20 * 3 * 1024 * 768 * 4);
  });
});

describe('planScaleMemory', () => {
  it('runs untiled whenever the untiled estimate fits', () => {
    const plan = planScaleMemory(512, 384, 8 * GIB, lbfgs, vgg);
    assert.equal(plan.tiled, false);
    assert.equal(plan.history, 20);
    assert.ok(plan.estimate === estimateUntiledBytes(512 * 384, lbfgs));
  });

  it('runs untiled with the memory arena when that fits, else without it (lean) before resorting to tiles', () => {
    const pixels = 1536 * 1152;
    const fast = estimateUntiledBytes(pixels, lbfgs);
    const lean = estimateUntiledBytes(pixels, lbfgs, true);
    assert.ok(fast > lean, 'the arena keeps more than the live tensors');
    const roomy = planScaleMemory(1536, 1152, fast, lbfgs, vgg);
    assert.ok(!roomy.tiled && !roomy.lean && roomy.estimate === fast);
    const between = planScaleMemory(1536, 1152, (fast + lean) / 2, lbfgs, vgg);
    assert.ok(!between.tiled && between.lean && between.estimate === lean);
    assert.equal(planScaleMemory(1536, 1152, lean - 1, lbfgs, vgg).tiled, true);
  });

  it('tiles a scale that does not fit, with a plan whose estimate is within the budget', () => {
    const budget = 4 * GIB;
    for (const [w, h] of [
      [2048, 2048],
      [2048, 1536],
      [4096, 3072],
    ]) {
      const plan = planScaleMemory(w, h, budget, lbfgs, vgg);
      assert.ok(estimateUntiledBytes(w * h, lbfgs, true) > budget);
      assert.equal(plan.tiled, true);
      if (!plan.tiled) continue;
      assert.ok(plan.estimate <= budget, `${w}x${h}: ${plan.estimate}`);
      assert.equal(plan.estimate, estimateTiledBytes(w * h, plan.maxCropPixels, lbfgs, plan.history, plan.float32Work));
      assert.ok(planTilesWithin(w, h, plan.maxCropPixels, vgg));
    }
  });

  it('shortens the L-BFGS history only when the crops would otherwise be small, never below one pair; Adam keeps none', () => {
    const roomy = planScaleMemory(2048, 1536, 6 * GIB, lbfgs, vgg);
    assert.equal(roomy.history, 20);
    const tight = planScaleMemory(4096, 3072, 4 * GIB, lbfgs, vgg);
    assert.ok(tight.history >= 1 && tight.history < 20);
    const adam = planScaleMemory(4096, 3072, 4 * GIB, { optimizer: 'adam', history: 20 }, vgg);
    assert.ok(adam.tiled && tight.tiled && adam.maxCropPixels > tight.maxCropPixels);
  });

  it('drops the float64 work vector of L-BFGS before any curvature pair, and counts it', () => {
    const roomy = planScaleMemory(2048, 1536, 6 * GIB, lbfgs, vgg);
    assert.ok(roomy.tiled && !roomy.float32Work, 'no need with room to spare');
    const tight = planScaleMemory(4096, 3072, 4 * GIB, lbfgs, vgg);
    assert.ok(tight.tiled && tight.float32Work);
    assert.equal(tight.estimate, estimateTiledBytes(4096 * 3072, tight.maxCropPixels, lbfgs, tight.history, true));
    // 24 bytes a pixel (3 channels of float64) more room for the crops than the same history with the float64 vector.
    const withVector = estimateTiledBytes(4096 * 3072, tight.maxCropPixels, lbfgs, tight.history, false);
    assert.equal(withVector - tight.estimate, 2 * 12 * 4096 * 3072);
    // A budget where dropping the vector is enough: the full history is kept.
    const justShort = Array.from({ length: 120 }, (_, i) => 4 + i / 20)
      .map((g) => planScaleMemory(3000, 2250, g * GIB, lbfgs, vgg))
      .find((p) => p.tiled && p.float32Work && p.history === 20);
    assert.ok(justShort, 'some budget needs only the work vector dropped');
    assert.equal(planScaleMemory(4096, 3072, 4 * GIB, { optimizer: 'adam', history: 20 }, vgg).float32Work, false);
  });

  it('--tile forces tiles on scales larger than the interior and leaves smaller ones untiled', () => {
    const small = planScaleMemory(200, 150, 64 * GIB, lbfgs, vgg, 256);
    assert.equal(small.tiled, false);
    const big = planScaleMemory(1024, 768, 64 * GIB, lbfgs, vgg, 256);
    assert.equal(big.tiled, true);
  });

  it('refuses what cannot fit even in tiles, suggesting a size that does', () => {
    assert.throws(
      () => planScaleMemory(8192, 6144, 4 * GIB, lbfgs, vgg),
      (e: unknown) => {
        assert.ok(e instanceof RunError);
        const m = /try --size (\d+) or smaller/.exec(e.message);
        assert.ok(m, e.message);
        const side = Number(m[1]);
        assert.doesNotThrow(() => planScaleMemory(side, Math.round((side * 6144) / 8192), 4 * GIB, lbfgs, vgg));
        return true;
      },
    );
    assert.throws(() => planScaleMemory(1024, 1024, 0.5 * GIB, lbfgs, vgg), /free some memory or give a larger --memory/);
  });
});
