/**
 * Adam (Kingma & Ba 2015), written to give the same numbers as torch.optim.Adam (no weight decay,
 * no amsgrad): the bias corrections are applied to the step size and to √v separately, and eps is
 * added after the square root:
 *   m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²
 *   x ← x − lr/(1−β1^t) · m / (√v/√(1−β2^t) + eps)
 * The moments are kept in float32, as PyTorch keeps them for float32 parameters.
 */
import { OptionError } from '../errors.js';
import { evaluateAt, type Evaluate, type Optimizer, type StepResult } from './types.js';

export interface AdamOptions {
  lr: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  eps?: number;
}

export interface AdamOptimizer<T = void> extends Optimizer<T> {
  /** Number of updates made so far. */
  readonly t: number;
}

export function createAdam<T = void>(x: Float32Array, opts: AdamOptions): AdamOptimizer<T> {
  const lr = opts.lr;
  const beta1 = opts.beta1 ?? 0.9;
  const beta2 = opts.beta2 ?? 0.999;
  const eps = opts.eps ?? 1e-8;
  if (!(Number.isFinite(lr) && lr > 0)) throw new OptionError('lr', 'a positive number', lr);
  if (!(beta1 >= 0 && beta1 < 1)) throw new OptionError('beta1', 'a number in [0, 1)', beta1);
  if (!(beta2 >= 0 && beta2 < 1)) throw new OptionError('beta2', 'a number in [0, 1)', beta2);
  if (!(Number.isFinite(eps) && eps >= 0)) throw new OptionError('eps', 'a non-negative number', eps);

  const n = x.length;
  const grad = new Float32Array(n);
  const m = new Float32Array(n);
  const v = new Float32Array(n);
  let t = 0;

  return {
    x,
    get t() {
      return t;
    },
    async step(evaluate: Evaluate<T>): Promise<StepResult<T>> {
      const { loss, terms } = await evaluateAt(evaluate, x, grad);
      let allZero = true;
      for (let i = 0; i < n; i++) {
        if (grad[i] !== 0) {
          allZero = false;
          break;
        }
      }
      // A zero gradient means a stationary point: Adam would still move (momentum), but there is
      // nothing to learn from here on the first step, and the caller may stop.
      if (allZero && t === 0) return { loss, terms, evaluations: 1, converged: true };
      t += 1;
      const bias1 = 1 - beta1 ** t;
      const sqrtBias2 = Math.sqrt(1 - beta2 ** t);
      const stepSize = lr / bias1;
      for (let i = 0; i < n; i++) {
        const g = grad[i];
        m[i] = beta1 * m[i] + (1 - beta1) * g;
        v[i] = beta2 * v[i] + (1 - beta2) * g * g;
        x[i] -= (stepSize * m[i]) / (Math.sqrt(v[i]) / sqrtBias2 + eps);
      }
      return { loss, terms, evaluations: 1, converged: false };
    },
  };
}
