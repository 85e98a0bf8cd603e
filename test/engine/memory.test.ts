/** The memory budget and the per-scale choice between the untiled graph and tiles (src/engine/budget.ts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseBytes } from '../../src/bytes.js';
import { estimateTiledBytes, estimateUntiledBytes, planScaleMemory } from '../../src/engine/budget.js';
import { memoryBudget } from '../../src/node/memory-budget.js';
import { planTilesWithin } from '../../src/engine/tiling.js';
import { OptionError, RunError } from '../../src/errors.js';

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

  it('the option wins over STYLE_TRANSFER_MEMORY_LIMIT, which wins over the free memory', () => {
    assert.equal(memoryBudget('4G', { STYLE_TRANSFER_MEMORY_LIMIT: '2G' }), 4 * GIB);
    assert.equal(memoryBudget(123456789, {}), 123456789);
    assert.equal(memoryBudget(undefined, { STYLE_TRANSFER_MEMORY_LIMIT: '2G' }), 2 * GIB);
    const free = memoryBudget(undefined, {});
    assert.ok(free > 0 && free < 2 ** 50);
    assert.throws(
      () => memoryBudget('four gigs', {}),
      (e: unknown) => e instanceof OptionError && /memory/.test(e.message),
    );
    assert.throws(() => memoryBudget(undefined, { STYLE_TRANSFER_MEMORY_LIMIT: 'x' }), OptionError);
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
