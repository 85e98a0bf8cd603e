/**
 * Per-scale engine choice (src/pipeline/memory.ts). The tile progress of a tiled run through the
 * library is in test/stylize-masks.test.ts, on that file's Stylizer.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { normaliseOptions } from '../../src/options.js';
import { planScaleEngines } from '../../src/pipeline/memory.js';
import { RunError } from '../../src/errors.js';

const GIB = 2 ** 30;
const opts = normaliseOptions({ content: 'c.jpg', style: 's.jpg' });
const sizes = (longs: number[]) => longs.map((l) => ({ width: l, height: Math.round((l * 3) / 4) }));

describe('planScaleEngines', () => {
  it('keeps small scales untiled and tiles the large ones, cost and history following the budget', () => {
    const plans = planScaleEngines(sizes([512, 1024, 2048, 4096]), opts, 4 * GIB);
    assert.deepEqual(
      plans.map((p) => p.tiled),
      [false, false, true, true],
    );
    assert.equal(plans[0].cost, 1);
    for (const p of plans.slice(2)) assert.ok(p.tiled && p.cost > 1.5 && p.tiles > 1 && p.history >= 1 && p.history <= 20);
    assert.ok(plans[3].history <= plans[2].history);
  });

  it('plans L-BFGS memory for the pairs a scale can hold: no more than its iterations', () => {
    // 2048 after 1448 gets few iterations (n·(1024/long)², the schedule's large-scale rule): it
    // never holds 20 pairs, so its plan counts only as many as it runs, leaving the crops more room.
    const scales = sizes([1024, 1448, 2048]);
    // 25 iterations at the last scale, whatever the preset's count is today.
    const [, , big] = planScaleEngines(scales, { ...opts, iterations: 25 }, 4 * GIB);
    const n = 6; // 25 · (1024/2048)², the final scale's count
    assert.ok(big.tiled && big.history === n, JSON.stringify(big));
    const fullHistory = planScaleEngines(scales, { ...opts, iterations: 200 }, 4 * GIB)[2];
    assert.ok(fullHistory.tiled && fullHistory.history === 20);
    assert.ok(fullHistory.tiles > big.tiles, `${fullHistory.tiles} tiles with 20 pairs against ${big.tiles} with ${n}`);
  });

  it('--tile tiles exactly the scales larger than it; no budget means untiled otherwise', () => {
    const withTile = normaliseOptions({ content: 'c.jpg', style: 's.jpg', tile: 300 });
    const plans = planScaleEngines(sizes([256, 362, 512]), withTile, undefined);
    assert.deepEqual(
      plans.map((p) => (p.tiled ? p.tiles : 0)),
      [0, 2, 4], // 362x272: two columns, one row; 512x384: 2 x 2
    );
    assert.ok(planScaleEngines(sizes([4096]), opts, undefined).every((p) => !p.tiled));
  });

  it('counts the style regions: a budget that holds the plain 1024 px graph tiles the same scale with 4 masks', () => {
    // The guided graph keeps F∘m² per region and style layer (~500 bytes per pixel per region, src/engine/memory.ts).
    const [plain] = planScaleEngines(sizes([1024]), opts, 3.2 * GIB, 32);
    const [masked] = planScaleEngines(sizes([1024]), opts, 3.2 * GIB, 32, 4);
    assert.equal(plain.tiled, false, JSON.stringify(plain));
    assert.equal(masked.tiled, true, JSON.stringify(masked));
    assert.deepEqual(planScaleEngines(sizes([1024]), opts, 3.2 * GIB, 32, 0), [plain]);
  });

  it('refuses with the output size (the largest scale) when even tiles do not fit', () => {
    assert.throws(
      () => planScaleEngines(sizes([1024, 2048, 8192]), opts, 2 * GIB),
      (e: unknown) => e instanceof RunError && /^a 8192x6144 run/.test(e.message),
    );
  });
});
