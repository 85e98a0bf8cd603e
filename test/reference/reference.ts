/**
 * A plain-TypeScript float64 reference of everything the engine's graph computes: the network's
 * forward pass, the loss terms and ∂loss/∂image, written as direct loops with no ONNX involved.
 * Used only by tests, as the independent implementation the graph is checked against (and itself
 * checked against finite differences).
 */
import type { ConvLayer, Layer, Pooling } from '../../src/model/vgg19.js';
import type { NetworkWeights } from '../../src/model/conv-weights.js';
import type { StyleNormalisation } from '../../src/losses/style.js';

/** A [C, H, W] float64 tensor. */
export interface Volume {
  readonly data: Float64Array;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

export function volume(channels: number, height: number, width: number, data: Float64Array = new Float64Array(channels * height * width)): Volume {
  return { data, channels, height, width };
}

/** 3x3 convolution (cross-correlation), stride 1, zero padding 1. weight is OIHW. */
export function conv3x3(x: Volume, weight: ArrayLike<number>, bias: ArrayLike<number> | undefined, outChannels: number): Volume {
  const { channels: C, height: H, width: W } = x;
  const y = volume(outChannels, H, W);
  for (let o = 0; o < outChannels; o++) {
    const out = y.data.subarray(o * H * W, (o + 1) * H * W);
    if (bias) out.fill(bias[o]);
    for (let i = 0; i < C; i++) {
      const plane = x.data.subarray(i * H * W, (i + 1) * H * W);
      for (let kh = 0; kh < 3; kh++) {
        for (let kw = 0; kw < 3; kw++) {
          const w = weight[((o * C + i) * 3 + kh) * 3 + kw];
          const dy = kh - 1;
          const dx = kw - 1;
          for (let r = Math.max(0, -dy); r < Math.min(H, H - dy); r++) {
            const rowOut = r * W;
            const rowIn = (r + dy) * W + dx;
            for (let c = Math.max(0, -dx); c < Math.min(W, W - dx); c++) out[rowOut + c] += w * plane[rowIn + c];
          }
        }
      }
    }
  }
  return y;
}

/** Input gradient of conv3x3: ∂x[i] = Σ_o corr(∂y[o], flip(W[o][i])), written as the adjoint of the loop above. */
export function conv3x3Backward(dy: Volume, weight: ArrayLike<number>, inChannels: number): Volume {
  const { channels: O, height: H, width: W } = dy;
  const dx = volume(inChannels, H, W);
  for (let o = 0; o < O; o++) {
    const g = dy.data.subarray(o * H * W, (o + 1) * H * W);
    for (let i = 0; i < inChannels; i++) {
      const plane = dx.data.subarray(i * H * W, (i + 1) * H * W);
      for (let kh = 0; kh < 3; kh++) {
        for (let kw = 0; kw < 3; kw++) {
          const w = weight[((o * inChannels + i) * 3 + kh) * 3 + kw];
          const sy = kh - 1;
          const sx = kw - 1;
          for (let r = Math.max(0, -sy); r < Math.min(H, H - sy); r++) {
            const rowOut = r * W;
            const rowIn = (r + sy) * W + sx;
            for (let c = Math.max(0, -sx); c < Math.min(W, W - sx); c++) plane[rowIn + c] += w * g[rowOut + c];
          }
        }
      }
    }
  }
  return dx;
}

export function relu(x: Volume): Volume {
  return volume(
    x.channels,
    x.height,
    x.width,
    x.data.map((v) => (v > 0 ? v : 0)),
  );
}

/** 2x2/2 pooling, floor mode (the trailing row/column of an odd size is dropped, as in PyTorch and ONNX). */
export function pool2x2(x: Volume, pooling: Pooling): Volume {
  const H = Math.floor(x.height / 2);
  const W = Math.floor(x.width / 2);
  const y = volume(x.channels, H, W);
  for (let c = 0; c < x.channels; c++) {
    for (let r = 0; r < H; r++) {
      for (let q = 0; q < W; q++) {
        const at = (dr: number, dq: number) => x.data[(c * x.height + 2 * r + dr) * x.width + 2 * q + dq];
        const vals = [at(0, 0), at(0, 1), at(1, 0), at(1, 1)];
        y.data[(c * H + r) * W + q] = pooling === 'max' ? Math.max(...vals) : (vals[0] + vals[1] + vals[2] + vals[3]) / 4;
      }
    }
  }
  return y;
}

/** Pool backward: max routes to the first arg-max of each window (as ONNX MaxPool's indices do), avg spreads ¼. */
export function pool2x2Backward(x: Volume, dy: Volume, pooling: Pooling): Volume {
  const dx = volume(x.channels, x.height, x.width);
  for (let c = 0; c < x.channels; c++) {
    for (let r = 0; r < dy.height; r++) {
      for (let q = 0; q < dy.width; q++) {
        const g = dy.data[(c * dy.height + r) * dy.width + q];
        const idx = (dr: number, dq: number) => (c * x.height + 2 * r + dr) * x.width + 2 * q + dq;
        const cells = [idx(0, 0), idx(0, 1), idx(1, 0), idx(1, 1)];
        if (pooling === 'avg') {
          for (const k of cells) dx.data[k] += g / 4;
        } else {
          let best = cells[0];
          for (const k of cells) if (x.data[k] > x.data[best]) best = k;
          dx.data[best] += g;
        }
      }
    }
  }
  return dx;
}

/** Gram matrix [C×C] of a volume with the given normalisation (see losses/style.ts). */
export function gram(f: Volume, norm: StyleNormalisation): Float64Array {
  const C = f.channels;
  const N = f.height * f.width;
  const scale = norm === 'recipe' ? 1 : 1 / (C * N);
  const G = new Float64Array(C * C);
  for (let a = 0; a < C; a++) {
    for (let b = a; b < C; b++) {
      let s = 0;
      for (let k = 0; k < N; k++) s += f.data[a * N + k] * f.data[b * N + k];
      G[a * C + b] = G[b * C + a] = s * scale;
    }
  }
  return G;
}

export interface ReferenceLayout {
  readonly layers: readonly Layer[];
  readonly contentLayers: readonly string[];
  readonly styleLayers: readonly string[];
  readonly styleNormalisation: StyleNormalisation;
  readonly pooling: Pooling;
}

export interface ReferenceTargets {
  readonly content: ReadonlyMap<string, ArrayLike<number>>;
  readonly gram: ReadonlyMap<string, ArrayLike<number>>;
}

export interface ReferenceWeights {
  readonly content: ReadonlyMap<string, number>;
  readonly style: ReadonlyMap<string, number>;
  readonly tv: number;
}

export interface ReferenceResult {
  readonly total: number;
  readonly content: Map<string, number>;
  readonly style: Map<string, number>;
  readonly tv: number;
  /** ∂total/∂image, [3,H,W]. */
  readonly grad: Float64Array;
}

/** Run the network, recording each conv's post-ReLU activation. */
export function referenceFeatures(image: Volume, layers: readonly Layer[], weights: NetworkWeights, pooling: Pooling): { features: Map<string, Volume>; inputs: Volume[] } {
  const features = new Map<string, Volume>();
  const inputs: Volume[] = [];
  let x = image;
  for (const layer of layers) {
    inputs.push(x);
    if (layer.kind === 'conv') {
      const w = weights.get(layer.name)!;
      x = relu(conv3x3(x, w.weight, w.bias, layer.outChannels));
      features.set(layer.name, x);
    } else {
      x = pool2x2(x, pooling);
    }
  }
  return { features, inputs };
}

/** Targets computed by the reference: content features and Gram matrices. */
export function referenceTargets(image: Volume, layout: ReferenceLayout, weights: NetworkWeights): ReferenceTargets {
  const { features } = referenceFeatures(image, layout.layers, weights, layout.pooling);
  return {
    content: new Map(layout.contentLayers.map((l) => [l, features.get(l)!.data])),
    gram: new Map(layout.styleLayers.map((l) => [l, gram(features.get(l)!, layout.styleNormalisation)])),
  };
}

/** Loss terms and ∂total/∂image of an image ([3,H,W] in the network's input space). */
export function referenceLoss(image: Volume, layout: ReferenceLayout, weights: NetworkWeights, targets: ReferenceTargets, termWeights: ReferenceWeights): ReferenceResult {
  const { features, inputs } = referenceFeatures(image, layout.layers, weights, layout.pooling);
  const dFeatures = new Map<string, Float64Array>();
  const addGrad = (layer: string, g: Float64Array) => {
    const known = dFeatures.get(layer);
    if (known) for (let i = 0; i < g.length; i++) known[i] += g[i];
    else dFeatures.set(layer, g);
  };

  const content = new Map<string, number>();
  for (const l of layout.contentLayers) {
    const f = features.get(l)!.data;
    const t = targets.content.get(l)!;
    let s = 0;
    const g = new Float64Array(f.length);
    const w = termWeights.content.get(l) ?? 0;
    for (let i = 0; i < f.length; i++) {
      const d = f[i] - t[i];
      s += d * d;
      g[i] = (w * 2 * d) / f.length;
    }
    content.set(l, s / f.length);
    addGrad(l, g);
  }

  const style = new Map<string, number>();
  for (const l of layout.styleLayers) {
    const f = features.get(l)!;
    const C = f.channels;
    const N = f.height * f.width;
    const M = C * N;
    const G = gram(f, layout.styleNormalisation);
    const A = targets.gram.get(l)!;
    const D = G.map((v, i) => v - A[i]);
    const meanSq = D.reduce((s, d) => s + d * d, 0) / (C * C);
    style.set(l, layout.styleNormalisation === 'recipe' ? meanSq / M : meanSq);
    // ∂/∂F[a][k] = Σ_b (∂G[a][b] + ∂G[b][a]) F[b][k] · gramScale, with ∂G = 2D/(C²)·k
    const w = termWeights.style.get(l) ?? 0;
    const dG = D.map((d) => (w * 2 * d) / (C * C * M)); // k·gramScale = 1/M for both normalisations
    const g = new Float64Array(M);
    for (let a = 0; a < C; a++) {
      for (let b = 0; b < C; b++) {
        const s = dG[a * C + b] + dG[b * C + a];
        if (s === 0) continue;
        for (let k = 0; k < N; k++) g[a * N + k] += s * f.data[b * N + k];
      }
    }
    addGrad(l, g);
  }

  // Backward through the network.
  let grad: Volume | undefined;
  for (let k = layout.layers.length - 1; k >= 0; k--) {
    const layer = layout.layers[k];
    if (layer.kind === 'conv') {
      const own = dFeatures.get(layer.name);
      const out = features.get(layer.name)!;
      if (own) {
        if (!grad) grad = volume(out.channels, out.height, out.width);
        for (let i = 0; i < own.length; i++) grad.data[i] += own[i];
      }
      if (!grad) continue;
      for (let i = 0; i < grad.data.length; i++) if (!(out.data[i] > 0)) grad.data[i] = 0;
      grad = conv3x3Backward(grad, weights.get(layer.name)!.weight, (layer as ConvLayer).inChannels);
    } else if (grad) {
      grad = pool2x2Backward(inputs[k], grad, layout.pooling);
    }
  }
  const imageGrad = grad ? grad.data : new Float64Array(image.data.length);

  // Total variation on the image.
  const { height: H, width: W } = image;
  const x = image.data;
  let tvSum = 0;
  const tvW = termWeights.tv;
  const n = x.length;
  for (let c = 0; c < 3; c++) {
    for (let r = 0; r < H; r++) {
      for (let q = 0; q < W; q++) {
        const i = (c * H + r) * W + q;
        if (q + 1 < W) {
          const d = x[i + 1] - x[i];
          tvSum += d * d;
          imageGrad[i + 1] += (tvW * 2 * d) / n;
          imageGrad[i] -= (tvW * 2 * d) / n;
        }
        if (r + 1 < H) {
          const d = x[i + W] - x[i];
          tvSum += d * d;
          imageGrad[i + W] += (tvW * 2 * d) / n;
          imageGrad[i] -= (tvW * 2 * d) / n;
        }
      }
    }
  }
  const tv = tvSum / n;

  let total = tvW * tv;
  for (const [l, v] of content) total += (termWeights.content.get(l) ?? 0) * v;
  for (const [l, v] of style) total += (termWeights.style.get(l) ?? 0) * v;
  return { total, content, style, tv, grad: imageGrad };
}
