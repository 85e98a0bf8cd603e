import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OptionError } from '../../src/errors.js';
import { createAdam } from '../../src/optim/adam.js';
import type { Evaluate } from '../../src/optim/types.js';

/** f(x) = ½ Σ cᵢ xᵢ², ∂f/∂xᵢ = cᵢ xᵢ, evaluated in float64. */
function quadratic(c: number[]): Evaluate {
  return async (x, grad) => {
    let f = 0;
    for (let i = 0; i < x.length; i++) {
      grad[i] = c[i] * x[i];
      f += 0.5 * c[i] * x[i] * x[i];
    }
    return f;
  };
}

describe('createAdam', () => {
  it('reproduces torch.optim.Adam step by step', async () => {
    const x = Float32Array.from([1, -2, 0.5]);
    const adam = createAdam(x, { lr: 0.1 });
    const f = quadratic([1, 3, 10]);
    // Step 1 by hand: m̂ = g and v̂ = g², so x ← x − lr·g/(|g| + eps) = x − 0.1·sign(g)·(1 − 1e-8/|g|).
    // Steps 2 and 3: PyTorch's update written out in float64 (Python), independently of this code:
    //   m = β1 m + (1−β1) g; v = β2 v + (1−β2) g²; x −= lr/(1−β1^t) · m / (√v/√(1−β2^t) + eps)
    const expected = [
      { loss: 7.75, x: [0.900000001, -1.9000000001666666, 0.4000000002] },
      { loss: 6.62000000265, x: [0.8004122297123382, -1.800166485947237, 0.30118742000198795] },
      { loss: 5.6347982442652444, x: [0.701586274504415, -1.7006233917912488, 0.20487125001697837] },
    ];
    for (const [k, want] of expected.entries()) {
      const r = await adam.step(f);
      assert.equal(r.evaluations, 1);
      assert.equal(r.converged, false);
      assert.ok(Math.abs(r.loss - want.loss) <= 1e-5 * want.loss, `step ${k + 1} loss ${r.loss} vs ${want.loss}`);
      for (let i = 0; i < 3; i++) assert.ok(Math.abs(x[i] - want.x[i]) <= 2e-7, `step ${k + 1} x[${i}] = ${x[i]} vs ${want.x[i]}`);
    }
    assert.equal(adam.t, 3);
    assert.equal(adam.x, x);
  });

  it('uses the given betas and eps', async () => {
    // With β1 = 0, β2 = 0 the update is x −= lr·g/(|g| + eps) every step; a large eps shows up.
    const x = Float32Array.from([2]);
    const adam = createAdam(x, { lr: 0.5, beta1: 0, beta2: 0, eps: 1 });
    await adam.step(quadratic([1])); // g = 2: x = 2 − 0.5·2/3
    assert.ok(Math.abs(x[0] - (2 - 1 / 3)) < 1e-6);
    await adam.step(quadratic([1])); // g = 5/3: x −= 0.5·(5/3)/(8/3) = 5/16
    assert.ok(Math.abs(x[0] - (2 - 1 / 3 - 5 / 16)) < 1e-6);
  });

  it('minimises a quadratic', async () => {
    const x = Float32Array.from([3, -4, 1, 0.5]);
    const adam = createAdam(x, { lr: 0.05 });
    const f = quadratic([1, 2, 5, 0.5]);
    let first = Number.NaN;
    let last = Number.NaN;
    for (let k = 0; k < 1500; k++) {
      last = (await adam.step(f)).loss;
      if (k === 0) first = last;
    }
    assert.ok(last < 1e-4 * first, `loss ${first} → ${last}`);
    for (const v of x) assert.ok(Math.abs(v) < 0.02, `x = ${Array.from(x)}`);
  });

  it('reports convergence at a stationary starting point', async () => {
    const x = Float32Array.from([0, 0]);
    const r = await createAdam(x, { lr: 0.1 }).step(quadratic([1, 1]));
    assert.deepEqual(r, { loss: 0, terms: undefined, evaluations: 1, converged: true });
    assert.deepEqual(Array.from(x), [0, 0]);
  });

  it('validates options', () => {
    assert.throws(() => createAdam(new Float32Array(1), { lr: 0 }), { name: 'OptionError', message: 'option lr: expected a positive number, received 0' });
    assert.throws(() => createAdam(new Float32Array(1), { lr: 0.1, beta1: 1 }), OptionError);
    assert.throws(() => createAdam(new Float32Array(1), { lr: 0.1, beta2: -0.1 }), OptionError);
    assert.throws(() => createAdam(new Float32Array(1), { lr: 0.1, eps: Number.NaN }), OptionError);
  });
});
