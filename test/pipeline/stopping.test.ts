import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createStoppingRule, STOP_WINDOW } from '../../src/pipeline/stopping.js';

/** Feeds losses until the rule says stop; the 1-based iteration it stopped after, or undefined. */
function stopAt(losses: readonly number[], tolerance: number, minIterations = 0): number | undefined {
  const rule = createStoppingRule({ tolerance, minIterations });
  for (let i = 0; i < losses.length; i++) if (rule.update(losses[i])) return i + 1;
  return undefined;
}

describe('stopping rule', () => {
  // A loss that falls fast, then slowly: 1000·(1 + 1/i²) has relative decreases that keep shrinking.
  const losses = Array.from({ length: 300 }, (_, k) => 1000 * (1 + 1 / (k + 1) ** 2));

  it('stops at the first iteration whose mean relative decrease over the window is below the tolerance', () => {
    const tolerance = 1e-4;
    let expected: number | undefined;
    for (let i = STOP_WINDOW + 1; i <= losses.length && expected === undefined; i++) {
      const now = losses[i - 1];
      const before = losses[i - 1 - STOP_WINDOW];
      if ((before - now) / now / STOP_WINDOW < tolerance) expected = i;
    }
    assert.ok(expected !== undefined && expected > 20 && expected < 300, `test data: ${expected}`);
    assert.equal(stopAt(losses, tolerance), expected);
    // A looser tolerance stops earlier, a tighter one later.
    assert.ok(stopAt(losses, 1e-3)! < expected!);
    assert.ok((stopAt(losses, 1e-5) ?? Infinity) > expected!);
  });

  it('never stops with tolerance 0, and not before minIterations nor before a full window', () => {
    assert.equal(stopAt(losses, 0), undefined);
    const flat = Array.from({ length: 100 }, () => 5);
    assert.equal(stopAt(flat, 1e-3), STOP_WINDOW + 1);
    assert.equal(stopAt(flat, 1e-3, 40), 40);
  });

  it('stops when the loss rises over the window', () => {
    const rising = Array.from({ length: 30 }, (_, k) => 10 + k);
    assert.equal(stopAt(rising, 1e-6), STOP_WINDOW + 1);
  });
});
