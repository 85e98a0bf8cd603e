import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EtaEstimator, FIXED_COST_PIXELS, SCALE_SETUP_ITERATIONS, WARM_START_SURCHARGE } from '../../src/pipeline/eta.js';

const close = (actual: number, expected: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);
const cost = (pixels: number) => pixels + FIXED_COST_PIXELS;
const fixed = (pixels: number, n: number) => ({ pixels, maxIterations: n, expectedIterations: n });

describe('EtaEstimator', () => {
  it('has no estimate before an iteration was timed', () => {
    assert.ok(Number.isNaN(new EtaEstimator([fixed(100, 10)]).secondsLeft(0, 0)));
  });

  it('counts every later scale at its own size, with the speed measured on the first', () => {
    // Coarse to fine: 4 scales of 10 iterations, each twice the pixels of the one before; every
    // iteration costs exactly msPerCost per pixel-iteration.
    const eta = new EtaEstimator([fixed(10_000, 10), fixed(20_000, 10), fixed(40_000, 10), fixed(80_000, 10)]);
    const msPerCost = 0.002;
    for (let i = 1; i <= 3; i++) eta.record(0, i, msPerCost * cost(10_000));
    // Each scale not started yet also computes its targets (SCALE_SETUP_ITERATIONS).
    const work = 7 * cost(10_000) + (10 + SCALE_SETUP_ITERATIONS) * (cost(20_000) + cost(40_000) + cost(80_000));
    close(eta.secondsLeft(0, 3), (work * msPerCost) / 1000, 'after 3 iterations of the first scale');
  });

  it("keeps a scale's slow first iteration out of the speed and charges its surcharge to each scale to come", () => {
    const eta = new EtaEstimator([fixed(1000, 3), fixed(4000, 3)]);
    const msPerCost = 0.01;
    eta.record(0, 1, 5 * msPerCost * cost(1000)); // a line search of 5 evaluations
    // Until a later iteration is timed, the first one is all there is.
    close(eta.secondsLeft(0, 1), (5 * msPerCost * (2 * cost(1000) + (3 + SCALE_SETUP_ITERATIONS) * cost(4000))) / 1000, 'after the first iteration');
    eta.record(0, 2, msPerCost * cost(1000));
    eta.record(0, 3, msPerCost * cost(1000));
    close(eta.secondsLeft(0, 3), (msPerCost * (3 + SCALE_SETUP_ITERATIONS + 4) * cost(4000)) / 1000, 'the next scale with a 4-iteration surcharge');
    eta.record(1, 1, msPerCost * cost(4000) * 2); // a warm start: only one extra evaluation
    close(eta.secondsLeft(1, 1), (2 * msPerCost * cost(4000)) / 1000, 'two iterations left');
    assert.equal(eta.secondsLeft(1, 3), 0);
  });

  it('expects a warm-started scale to begin with a cheaper first iteration than the cold first scale', () => {
    const eta = new EtaEstimator([fixed(1000, 3), fixed(4000, 3)], { warmStart: true });
    const msPerCost = 0.01;
    eta.record(0, 1, 8 * msPerCost * cost(1000)); // cold: a line search of 8 evaluations
    eta.record(0, 2, msPerCost * cost(1000));
    close(eta.secondsLeft(0, 2), (msPerCost * (cost(1000) + (3 + SCALE_SETUP_ITERATIONS + WARM_START_SURCHARGE) * cost(4000))) / 1000, 'warm surcharge');
  });

  it('averages the speed over every iteration so far, weighted by their cost', () => {
    const eta = new EtaEstimator([fixed(1000, 3), fixed(4000, 3)]);
    eta.record(0, 1, 50);
    eta.record(0, 2, 10);
    eta.record(0, 3, 30);
    eta.record(1, 1, 500);
    eta.record(1, 2, 100);
    const msPerCost = 140 / (2 * cost(1000) + cost(4000));
    close(eta.secondsLeft(1, 2), (cost(4000) * msPerCost) / 1000, 'one iteration left');
  });

  it('expects the typical count under a stopping rule and corrects it by what the finished scales ran', () => {
    const eta = new EtaEstimator([
      { pixels: 1000, maxIterations: 200, expectedIterations: 100 },
      { pixels: 1000, maxIterations: 200, expectedIterations: 100 },
      { pixels: 1000, maxIterations: 50, expectedIterations: 50 },
    ]);
    assert.deepEqual(eta.iterationsLeft(0, 10), [90, 100, 50]);
    eta.finishScale(0, 150); // ran 1.5× the typical count: expect the same of the next scale, within its cap
    assert.deepEqual(eta.iterationsLeft(1, 0), [0, 150, 50]);
    eta.finishScale(1, 1000); // the correction is clamped to 2×, and never above a cap
    assert.deepEqual(eta.iterationsLeft(1, 0), [0, 200, 50]);
  });

  it('never expects less than nothing nor more than the cap at the current scale', () => {
    const eta = new EtaEstimator([{ pixels: 1000, maxIterations: 30, expectedIterations: 20 }]);
    assert.deepEqual(eta.iterationsLeft(0, 25), [0]);
    eta.record(0, 1, 5);
    assert.equal(eta.secondsLeft(0, 25), 0);
  });

  it('refuses an empty schedule', () => {
    assert.throws(() => new EtaEstimator([]), /at least one scale/);
  });
});
