/**
 * Limited-memory BFGS (Nocedal 1980; Liu & Nocedal 1989) with a strong-Wolfe line search.
 *
 * Why strong Wolfe rather than backtracking Armijo: every evaluation is a full forward and backward
 * pass through VGG, so what matters is evaluations per unit of progress. With a good quasi-Newton
 * direction the unit step satisfies both Wolfe conditions almost always, so the search costs one
 * evaluation, exactly like backtracking. When it does not, the curvature condition
 * (|φ'(t)| ≤ c2|φ'(0)|) is what keeps the step from being too short and guarantees yᵀs > 0, so the
 * curvature pair it produces is a good one; backtracking only ever shortens and can feed the
 * two-loop recursion pairs that say little about the curvature. The search is Nocedal & Wright's
 * Algorithm 3.5/3.6 (bracket, then zoom), capped at maxEvalsPerStep evaluations; if the cap is
 * hit, the lowest point that decreased f is taken. Its trial steps come from the derivatives alone
 * (safeguarded secant steps, see `secantStep`), not N&W's cubic through the values: the values
 * still decide which points are accepted, but they do not place the next one.
 *
 * Like torch.optim.LBFGS: the first step (and any restart) goes along −g scaled by min(1, 1/‖g‖₁)
 * so the first trial point is not absurdly far on an objective with huge gradients (style losses
 * reach 1e10), the initial Hessian is γI with γ = sᵀy/yᵀy from the newest pair, and pairs with
 * yᵀs ≤ 1e-10 are skipped. Vectors are float32 (x may hold 3×512×512 values; each stored pair costs
 * 2 × 4n bytes), dot products are float64.
 */
import { OptionError } from '../errors.js';
import { evaluateAt, type Evaluate, type Optimizer, type StepResult } from './types.js';

export interface LbfgsOptions {
  /** Number of curvature pairs kept. Default 20. */
  history?: number;
  /** Initial trial step along the quasi-Newton direction. Default 1 (the natural step of a Newton-like method). */
  lr?: number;
  /** Most evaluations one step's line search may use. Default 20. */
  maxEvalsPerStep?: number;
  /** Converged when max |∂f/∂xᵢ| ≤ this. Default 1e-7 (torch's tolerance_grad). */
  toleranceGrad?: number;
  /** Converged when a step changes f, or moves every xᵢ, by less than this. Default 1e-9 (torch's tolerance_change). */
  toleranceChange?: number;
  /** Sufficient-decrease constant of the Wolfe conditions. Default 1e-4. */
  c1?: number;
  /** Curvature constant of the Wolfe conditions. Default 0.9 (the usual choice for quasi-Newton methods). */
  c2?: number;
  /**
   * The inverse-Hessian scale γ (H₀ = γI) to assume before any curvature pair is stored, e.g. carried
   * over from a previous, related problem. The first step then goes along −γg with the unit step
   * (× lr), instead of along −g scaled by min(1, 1/‖g‖₁), whose line search on a badly scaled
   * objective spends several evaluations finding the step length. Default: none.
   */
  initialGamma?: number;
  /**
   * Run the two-loop recursion in float32 inside the direction vector instead of in a float64 work
   * vector: 8n bytes less, for images so large that memory decides how they are computed (a
   * 4096x3072 image: 300 MB). The direction then carries float32 rounding from its 4·pairs + 2
   * passes, harmless for a search direction. Default false.
   */
  float32Work?: boolean;
}

export interface LbfgsOptimizer<T = void> extends Optimizer<T> {
  /** Curvature pairs currently held. */
  readonly pairs: number;
  /** The current inverse-Hessian scale γ = sᵀy/yᵀy of the newest pair (initialGamma before any; NaN without either). */
  readonly gamma: number;
}

interface Pair {
  s: Float32Array;
  y: Float32Array;
  rho: number; // 1 / yᵀs
}

export function createLbfgs<T = void>(x: Float32Array, opts: LbfgsOptions = {}): LbfgsOptimizer<T> {
  const history = opts.history ?? 20;
  const lr = opts.lr ?? 1;
  const maxEvals = opts.maxEvalsPerStep ?? 20;
  const tolGrad = opts.toleranceGrad ?? 1e-7;
  const tolChange = opts.toleranceChange ?? 1e-9;
  const c1 = opts.c1 ?? 1e-4;
  const c2 = opts.c2 ?? 0.9;
  const initialGamma = opts.initialGamma;
  if (!(Number.isInteger(history) && history >= 1)) throw new OptionError('history', 'a positive integer', history);
  if (!(Number.isFinite(lr) && lr > 0)) throw new OptionError('lr', 'a positive number', lr);
  if (!(Number.isInteger(maxEvals) && maxEvals >= 1)) throw new OptionError('maxEvalsPerStep', 'a positive integer', maxEvals);
  if (!(tolGrad >= 0)) throw new OptionError('toleranceGrad', 'a non-negative number', tolGrad);
  if (!(tolChange >= 0)) throw new OptionError('toleranceChange', 'a non-negative number', tolChange);
  if (!(c1 > 0 && c1 < c2 && c2 < 1)) throw new OptionError('c1, c2', '0 < c1 < c2 < 1', `${c1}, ${c2}`);
  if (initialGamma !== undefined && !(Number.isFinite(initialGamma) && initialGamma > 0)) throw new OptionError('initialGamma', 'a positive number', initialGamma);

  const n = x.length;
  const g = new Float32Array(n); // gradient at x (valid when haveGrad)
  const x0 = new Float32Array(n); // start of the current line search
  const d = new Float32Array(n); // search direction
  const gTrial = new Float32Array(n); // gradient at the latest trial point
  const gBest = new Float32Array(n); // gradient at the best trial point so far
  // Two-loop work vector: float64, as it is summed into many times; with float32Work, d itself.
  const q: Float32Array | Float64Array = opts.float32Work ? d : new Float64Array(n);
  const alpha = new Float64Array(history);
  const pairs: Pair[] = [];
  let f = Number.NaN;
  /** The objective's terms at x (the point whose value is f). */
  let fTerms = undefined as T;
  let haveGrad = false;
  /** Whether the given initialGamma may still be used (only before the first stored pair; a restart forgets it). */
  let warm = initialGamma !== undefined;

  function setTrial(t: number): void {
    for (let i = 0; i < n; i++) x[i] = x0[i] + t * d[i];
  }

  /** d = −H g by the two-loop recursion over the stored pairs (H₀ = γI). */
  function direction(): void {
    for (let i = 0; i < n; i++) q[i] = g[i];
    for (let k = pairs.length - 1; k >= 0; k--) {
      const { s, y, rho } = pairs[k];
      const a = rho * dot64(s, q);
      alpha[k] = a;
      for (let i = 0; i < n; i++) q[i] -= a * y[i];
    }
    const newest = pairs[pairs.length - 1];
    const gamma = 1 / (newest.rho * dot(newest.y, newest.y)); // sᵀy / yᵀy
    for (let i = 0; i < n; i++) q[i] *= gamma;
    for (let k = 0; k < pairs.length; k++) {
      const { s, y, rho } = pairs[k];
      const b = rho * dot64(y, q);
      const a = alpha[k];
      for (let i = 0; i < n; i++) q[i] += s[i] * (a - b);
    }
    for (let i = 0; i < n; i++) d[i] = -q[i];
  }

  /** The first direction of a warm start: −γg with the unit step. */
  function scaledSteepest(gamma: number): number {
    for (let i = 0; i < n; i++) d[i] = -gamma * g[i];
    return lr;
  }

  function steepest(): number {
    let l1 = 0;
    for (let i = 0; i < n; i++) {
      d[i] = -g[i];
      l1 += Math.abs(g[i]);
    }
    return Math.min(1, 1 / l1) * lr;
  }

  function remember(): void {
    // s = x − x0 as actually stored (float32), y = g_new − g_old. Check the curvature first, so a
    // skipped pair never costs the oldest one.
    let ys = 0;
    for (let i = 0; i < n; i++) ys += (gTrial[i] - g[i]) * (x[i] - x0[i]);
    if (!(ys > 1e-10)) return;
    const reuse = pairs.length >= history ? pairs.shift() : undefined;
    const s = reuse?.s ?? new Float32Array(n);
    const y = reuse?.y ?? new Float32Array(n);
    let stored = 0;
    for (let i = 0; i < n; i++) {
      s[i] = x[i] - x0[i];
      y[i] = gTrial[i] - g[i];
      stored += y[i] * s[i];
    }
    // ys from the rounded float32 y may differ in the last bits; ρ must match the stored vectors.
    if (stored > 0) pairs.push({ s, y, rho: 1 / stored });
  }

  return {
    x,
    get pairs() {
      return pairs.length;
    },
    get gamma() {
      const newest = pairs[pairs.length - 1];
      return newest ? 1 / (newest.rho * dot(newest.y, newest.y)) : warm ? initialGamma! : Number.NaN;
    },
    async step(evaluate: Evaluate<T>): Promise<StepResult<T>> {
      let evaluations = 0;
      if (!haveGrad) {
        ({ loss: f, terms: fTerms } = await evaluateAt(evaluate, x, g));
        evaluations++;
        haveGrad = true;
      }
      const loss = f;
      const terms = fTerms;
      if (!Number.isFinite(f)) return { loss, terms, evaluations, converged: true };
      if (maxAbs(g) <= tolGrad) return { loss, terms, evaluations, converged: true };

      let t0 = pairs.length > 0 ? (direction(), lr) : warm ? scaledSteepest(initialGamma!) : steepest();
      let gd = dot(g, d);
      if (!(gd < 0)) {
        // Not a descent direction (round-off in a stale history): start afresh from −g.
        pairs.length = 0;
        warm = false;
        t0 = steepest();
        gd = dot(g, d);
        if (!(gd < 0)) return { loss, terms, evaluations, converged: true };
      }
      x0.set(x);

      const search = await lineSearch(evaluate, t0, gd, maxEvals);
      evaluations += search.evaluations;

      if (search.t === 0) {
        // Nothing along d decreased f: put x back; a restart along −g may still help, unless
        // this already was −g, in which case no progress is possible.
        x.set(x0);
        const wasSteepest = pairs.length === 0 && !warm;
        pairs.length = 0;
        warm = false;
        return { loss, terms, evaluations, converged: wasSteepest };
      }

      if (search.fromBest) {
        setTrial(search.t);
        gTrial.set(gBest);
      }
      remember();
      const fOld = f;
      f = search.f;
      fTerms = search.terms;
      g.set(gTrial);

      let maxMove = 0;
      for (let i = 0; i < n; i++) maxMove = Math.max(maxMove, Math.abs(x[i] - x0[i]));
      const converged = Math.abs(f - fOld) < tolChange || maxMove < tolChange || maxAbs(g) <= tolGrad;
      return { loss, terms, evaluations, converged };
    },
  };

  /**
   * Find t > 0 with f(x0 + t d) ≤ f0 + c1 t φ'(0) and |φ'(t)| ≤ c2 |φ'(0)| (strong Wolfe).
   * Leaves x and gTrial at the accepted point unless fromBest (then the caller restores gBest).
   * t = 0 means no evaluated point decreased f.
   */
  async function lineSearch(
    evaluate: Evaluate<T>,
    tInit: number,
    gd0: number,
    budget: number,
  ): Promise<{ t: number; f: number; terms: T; evaluations: number; fromBest: boolean }> {
    const f0 = f;
    let evals = 0;
    let best = { t: 0, f: f0, terms: fTerms };

    const probe = async (t: number): Promise<{ f: number; gd: number; terms: T }> => {
      setTrial(t);
      const { loss: ft, terms } = await evaluateAt(evaluate, x, gTrial);
      evals++;
      const gdt = dot(gTrial, d);
      if (Number.isFinite(ft) && ft < best.f && ft <= f0 + c1 * t * gd0) {
        best = { t, f: ft, terms };
        gBest.set(gTrial);
      }
      return { f: ft, gd: gdt, terms };
    };
    const done = (t: number, ft: number, terms: T) => ({ t, f: ft, terms, evaluations: evals, fromBest: false });
    const fallback = () => ({ t: best.t, f: best.f, terms: best.terms, evaluations: evals, fromBest: true });
    const armijo = (t: number, ft: number) => ft <= f0 + c1 * t * gd0;
    const curvature = (gdt: number) => Math.abs(gdt) <= -c2 * gd0;
    const dMax = maxAbs(d);

    // Bracketing phase (N&W Algorithm 3.5).
    let tPrev = 0;
    let fPrev = f0;
    let gdPrev = gd0;
    let t = tInit;
    let lo: { t: number; f: number; gd: number };
    let hi: { t: number; f: number; gd: number };
    for (;;) {
      const { f: ft, gd: gdt, terms } = await probe(t);
      // A non-finite value (overflow far along d) counts as "too far": it brackets like a rise.
      if (!Number.isFinite(ft) || !Number.isFinite(gdt) || !armijo(t, ft) || (evals > 1 && ft >= fPrev)) {
        lo = { t: tPrev, f: fPrev, gd: gdPrev };
        hi = { t, f: Number.isFinite(ft) ? ft : Number.POSITIVE_INFINITY, gd: Number.isFinite(gdt) ? gdt : Number.NaN };
        break;
      }
      if (curvature(gdt)) return done(t, ft, terms);
      if (gdt >= 0) {
        lo = { t, f: ft, gd: gdt };
        hi = { t: tPrev, f: fPrev, gd: gdPrev };
        break;
      }
      if (evals >= budget) return fallback();
      // Still descending and still steep: extrapolate, between a bit beyond t and 10·t.
      const next = secantStep(tPrev, gdPrev, t, gdt, t + 0.01 * (t - tPrev), 10 * t);
      tPrev = t;
      fPrev = ft;
      gdPrev = gdt;
      t = next;
    }

    // Zoom phase (N&W Algorithm 3.6): lo always satisfies Armijo and has the lowest f seen in the bracket.
    while (evals < budget) {
      const width = Math.abs(hi.t - lo.t);
      if (width * dMax < tolChange) break;
      const left = Math.min(lo.t, hi.t);
      const right = Math.max(lo.t, hi.t);
      let tj = Number.isFinite(hi.f) && Number.isFinite(hi.gd) ? secantStep(lo.t, lo.gd, hi.t, hi.gd, left, right) : Number.NaN;
      // Safeguard: stay in the middle 80% of the bracket so it shrinks by at least 10% each time.
      if (!(tj >= left + 0.1 * width && tj <= right - 0.1 * width)) tj = (lo.t + hi.t) / 2;
      const { f: ft, gd: gdt, terms } = await probe(tj);
      if (!Number.isFinite(ft) || !armijo(tj, ft) || ft >= lo.f) {
        hi = { t: tj, f: Number.isFinite(ft) ? ft : Number.POSITIVE_INFINITY, gd: gdt };
      } else {
        if (curvature(gdt)) return done(tj, ft, terms);
        if (gdt * (hi.t - lo.t) >= 0) hi = lo;
        lo = { t: tj, f: ft, gd: gdt };
      }
    }
    return fallback();
  }
}

/**
 * The minimiser of the quadratic whose derivative interpolates φ' at t1 and t2 (the secant step),
 * clamped to [lower, upper]; without positive curvature that quadratic falls without bound the way
 * φ'(t2) points, so the bound on that side.
 *
 * Why the derivatives alone (N&W eq. 3.59 fits a cubic through φ and φ' at both points): the values
 * add to the derivatives only their departure from the trapezoid rule, (f2 − f1) − ½(g1 + g2)(t2 − t1),
 * and for this project's losses that departure is a difference of values summed in float32 (a loss
 * of 1e8 is rounded to 8), while φ' = gᵀd is a float64 dot product of per-pixel gradients. Two exact
 * evaluations of the same loss (the whole image and tiles, issue 17) gave values ~1e-7 apart and
 * derivatives ~1e-8 apart: the cubic turned the values' difference into first trial steps 3x and
 * 5.5x apart after a tiny first step, and 2e-4 apart later, and the runs' losses went 21 % apart in
 * one iteration. The secant step has none of that, and the search's safeguards (the extrapolation's
 * bounds, the zoom's middle 80 %) keep it convergent.
 */
function secantStep(t1: number, g1: number, t2: number, g2: number, lower: number, upper: number): number {
  const curvature = (g2 - g1) / (t2 - t1);
  if (curvature > 0 && Number.isFinite(curvature)) {
    const t = t2 - g2 / curvature;
    if (Number.isFinite(t)) return Math.min(Math.max(t, lower), upper);
  }
  return g2 < 0 ? upper : lower;
}

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

function dot64(a: Float32Array, b: Float32Array | Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i]);
    if (v > m) m = v;
  }
  return m;
}
