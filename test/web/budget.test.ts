import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { estimatePeakBytes } from '../../src/engine/memory.js';
import { browserBudgetBytes, budgetMessage, fitsBudget, largestLongSide } from '../../src/web/budget.js';

const GiB = 2 ** 30;

describe('browser memory budget', () => {
  it('is three quarters of wasm32 memory, or half the device memory when that is less', () => {
    assert.equal(browserBudgetBytes(undefined), 3 * GiB);
    assert.equal(browserBudgetBytes(8), 3 * GiB);
    assert.equal(browserBudgetBytes(4), 2 * GiB);
    assert.equal(browserBudgetBytes(0.5), 0.25 * GiB);
  });

  it('picks the largest long side that fits, by the same estimate as Node', () => {
    const budget = 3 * GiB;
    for (const aspect of [1, 4 / 3, 2]) {
      const long = largestLongSide(aspect, budget);
      assert.equal(long % 16, 0);
      assert.ok(fitsBudget(long, Math.round(long / aspect), budget), `${long} fits`);
      assert.ok(!fitsBudget(long + 16, Math.round((long + 16) / aspect), budget), `${long + 16} does not`);
      assert.ok(estimatePeakBytes(long, Math.round(long / aspect)) <= budget);
    }
    // A square 896² run (≈3.0 GiB by the estimate, the planner's untiled model) fits 3 GiB; with 2 GiB it does not.
    assert.ok(fitsBudget(896, 896, 3 * GiB));
    assert.ok(!fitsBudget(896, 896, 2 * GiB));
  });

  it('explains a refusal in one line with a size that fits', () => {
    const message = budgetMessage(2000, 1500, 2 * GiB);
    assert.equal(
      message,
      `a 2000x1500 run needs about 9.1 GiB, more than this browser can give it (2.0 GiB); choose ${largestLongSide(4 / 3, 2 * GiB)} px or less, or run it on the server`,
    );
    assert.ok(!message.includes('\n'));
  });
});
