/**
 * VGG's forward pass and its hand-written backward pass (∂/∂image) as ONNX nodes.
 *
 * ONNX Runtime has no autograd, so the backward pass is spelled out layer by layer:
 * - conv 3x3/1/1:  ∂x = Conv(∂y, W̃) where W̃[i][o] = flip(W[o][i]) (kernel transposed in↔out and
 *   rotated 180°), same pads. Pre-flipped here at build time; measured faster than ConvTranspose.
 * - ReLU:          ∂y = ∂a ⊙ [a > 0], the mask as Cast(Greater(a, 0)) to float. Exact, as Sign(a)
 *                  (a ≥ 0) was, but cheaper: in ORT's per-node profile at 512² (`npm run
 *                  bench:profile`) the 13 Sign nodes took 6.4 % of the time, Greater + Cast 3.6 %;
 *                  Where(a > 0, ∂a, 0) took 7.2 %.
 * - max pool 2x2:  MaxUnpool(∂p, indices of the forward MaxPool, shape of the pool's input): routes
 *   each gradient to the arg-max; odd sizes work because the output shape is given explicitly.
 *   Or (`maxPoolGradient: 'select'`, for runtimes without MaxUnpool or MaxPool's indices output, such
 *   as onnxruntime-web's WebGPU EP): the same routing from the four strided views of each window,
 *   see selectMaxGradient.
 * - avg pool 2x2:  each input of a window gets ¼ of its gradient: nearest 2x upsampling of ∂p/4, then
 *   zero padding of the row/column a floor-mode pool drops on odd sizes.
 * Bias gradients are never needed: the network is frozen.
 *
 * Either pass's 3x3 convolutions are ORT's Conv, or (`convolution: 'winograd'`, onnxruntime-node)
 * Winograd's F(4×4, 3×3) where it pays (winograd.ts): the same convolution with 4x fewer
 * multiplications, its kernels transformed by ORT when it creates the session.
 */
import type { NetworkWeights } from '../model/conv-weights.js';
import type { Layer, Pooling } from '../model/vgg19.js';
import type { GraphBuilder } from './graph-builder.js';
import { DataType } from './onnx-proto.js';
import { winogradConv, winogradKernels, winogradPays } from './winograd.js';

export interface ForwardPass {
  /** Post-ReLU activation of each conv layer, by name. */
  readonly features: ReadonlyMap<string, string>;
  /** What the backward pass needs, in forward order. */
  readonly tape: readonly TapeEntry[];
}

type TapeEntry =
  | { kind: 'conv'; name: string; input: string; output: string; flipped: string; winograd: boolean; inChannels: number }
  | { kind: 'pool'; pooling: Pooling; input: string; output: string; indices?: string };

/** Kernel for the input gradient: W̃[i][o][kh][kw] = W[o][i][2−kh][2−kw]. */
export function flipTransposeKernel(weight: Float32Array, outChannels: number, inChannels: number): Float32Array {
  const out = new Float32Array(weight.length);
  for (let o = 0; o < outChannels; o++) {
    for (let i = 0; i < inChannels; i++) {
      const src = (o * inChannels + i) * 9;
      const dst = (i * outChannels + o) * 9;
      for (let k = 0; k < 9; k++) out[dst + k] = weight[src + 8 - k];
    }
  }
  return out;
}

/** How the max-pool gradient is routed: MaxPool's indices + MaxUnpool, or selection from the window views. */
export type MaxPoolGradient = 'indices' | 'select';

/** How 3x3 convolutions are computed: ORT's Conv everywhere, or Winograd where it pays (winograd.ts). */
export type ConvolutionAlgorithm = 'direct' | 'winograd';

/** Choices in how the network is written (the same values, up to rounding) for a runtime. */
export interface NetworkGraphOptions {
  /** 'select' for onnxruntime-web's WebGPU EP, which has neither MaxUnpool nor MaxPool's indices output. Default 'indices'. */
  readonly maxPoolGradient?: MaxPoolGradient;
  /** Default 'direct'. */
  readonly convolution?: ConvolutionAlgorithm;
}

const CONV_ATTRS = { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] };
const POOL_ATTRS = { kernel_shape: [2, 2], strides: [2, 2] };

/**
 * Emit the forward pass through `layers`. With `withBackward`, also store the flipped kernels and
 * max-pool indices the backward pass needs.
 */
export function forwardGraph(
  g: GraphBuilder,
  image: string,
  layers: readonly Layer[],
  weights: NetworkWeights,
  pooling: Pooling,
  withBackward: boolean,
  options: NetworkGraphOptions = {},
): ForwardPass {
  const maxPoolGradient = options.maxPoolGradient ?? 'indices';
  const features = new Map<string, string>();
  const tape: TapeEntry[] = [];
  let x = image;
  for (const layer of layers) {
    if (layer.kind === 'conv') {
      const w = weights.get(layer.name);
      if (!w) throw new Error(`no weights for ${layer.name}`);
      const { inChannels, outChannels } = layer;
      const winograd = options.convolution === 'winograd' && winogradPays(inChannels, outChannels);
      const U = winograd ? winogradKernels(g, `${layer.name}.weight_taps`, w.weight, outChannels, inChannels) : undefined;
      let y: string;
      if (U) {
        y = g.add(winogradConv(g, x, U, outChannels, 'forward'), g.weight(`${layer.name}.bias`, [outChannels, 1, 1], w.bias));
      } else {
        const W = g.weight(`${layer.name}.weight`, [outChannels, inChannels, 3, 3], w.weight);
        y = g.op('Conv', [x, W, g.weight(`${layer.name}.bias`, [outChannels], w.bias)], CONV_ATTRS);
      }
      const a = g.op('Relu', [y], {}, `feat.${layer.name}`);
      features.set(layer.name, a);
      if (withBackward) {
        // Winograd's gradient convolution uses the forward kernels as they are (winograd.ts).
        const flipped = U ?? g.weight(`${layer.name}.weight_flipped_t`, [inChannels, outChannels, 3, 3], flipTransposeKernel(w.weight, outChannels, inChannels));
        tape.push({ kind: 'conv', name: layer.name, input: x, output: a, flipped, winograd, inChannels });
      }
      x = a;
    } else if (pooling === 'max') {
      if (withBackward && maxPoolGradient === 'indices') {
        const [p, indices] = g.opN('MaxPool', [x], [g.fresh('maxpool'), g.fresh('argmax')], POOL_ATTRS);
        tape.push({ kind: 'pool', pooling, input: x, output: p, indices });
        x = p;
      } else {
        const p = g.op('MaxPool', [x], POOL_ATTRS);
        if (withBackward) tape.push({ kind: 'pool', pooling, input: x, output: p });
        x = p;
      }
    } else {
      const p = g.op('AveragePool', [x], POOL_ATTRS);
      if (withBackward) tape.push({ kind: 'pool', pooling, input: x, output: p });
      x = p;
    }
  }
  return { features, tape };
}

/** [a > 0] as a float tensor of 0s and 1s: the ReLU's derivative, from its output a. */
function reluMask(g: GraphBuilder, activation: string): string {
  return g.op('Cast', [g.op('Greater', [activation, g.scalar(0)])], { to: DataType.FLOAT });
}

/** Past any image side: a Slice end that means "to the end". */
const TO_END = 2 ** 31 - 1;

/**
 * MaxUnpool's routing without indices: each window's gradient goes to its first maximum in scan
 * order ((0,0), (0,1), (1,0), (1,1)), which is the arg-max ONNX Runtime's MaxPool records on ties.
 * The four views x[:, :, a::2, b::2] hold each window's elements (floor mode: end −1 for offset 0
 * and "to the end" for offset 1 both drop a trailing odd row/column); view k takes what is left of
 * the gradient where it equals the pool's output, and the last view the rest (x − x·1 = 0 and
 * x − x·0 = x exactly, so no value changes). DepthToSpace (DCR) interleaves the four parts back to
 * 2h×2w, and a zero row/column restores an odd input size, as MaxUnpool's output shape does.
 */
function selectMaxGradient(g: GraphBuilder, input: string, pooled: string, grad: string, inputShape: string): string {
  const parts: string[] = [];
  let rest = grad;
  for (const [a, b] of [
    [0, 0],
    [0, 1],
    [1, 0],
  ]) {
    const view = g.op('Slice', [input, g.ints([a, b]), g.ints([a === 0 ? -1 : TO_END, b === 0 ? -1 : TO_END]), g.ints([2, 3]), g.ints([2, 2])]);
    const hit = g.op('Cast', [g.op('Equal', [view, pooled])], { to: DataType.FLOAT });
    const part = g.mul(rest, hit);
    parts.push(part);
    rest = g.sub(rest, part);
  }
  parts.push(rest);
  const up = g.op('DepthToSpace', [g.op('Concat', parts, { axis: 1 })], { blocksize: 2, mode: 'DCR' });
  const missing = g.sub(inputShape, g.op('Shape', [up])); // [0, 0, H mod 2, W mod 2]
  return g.op('Pad', [up, g.op('Concat', [g.ints([0, 0, 0, 0]), missing], { axis: 0 })]);
}

/**
 * Emit ∂loss/∂image given ∂loss/∂(activation) contributions at some conv layers (already weighted).
 * Walks the tape backwards, summing each layer's own contribution into the gradient flowing down.
 */
export function backwardGraph(g: GraphBuilder, forward: ForwardPass, contributions: ReadonlyMap<string, readonly string[]>): string {
  let grad: string | undefined;
  // True when `grad` already carries the ReLU mask of the conv below it (see the max-pool case).
  let masked = false;
  for (let k = forward.tape.length - 1; k >= 0; k--) {
    const entry = forward.tape[k];
    if (entry.kind === 'conv') {
      const own = contributions.get(entry.name) ?? [];
      const mask = () => reluMask(g, entry.output);
      for (const c of own) {
        const term = masked ? g.mul(c, mask()) : c;
        grad = grad ? g.add(grad, term) : term;
      }
      if (!grad) continue; // nothing above this layer contributes yet
      const dy = masked ? grad : g.mul(grad, mask());
      grad = entry.winograd ? winogradConv(g, dy, entry.flipped, entry.inChannels, 'backward') : g.op('Conv', [dy, entry.flipped], CONV_ATTRS);
      masked = false;
    } else if (grad) {
      const inputShape = g.op('Shape', [entry.input]);
      if (entry.pooling === 'max') {
        // The ReLU mask of the conv feeding this pool, applied at the pooled resolution: the
        // gradient only reaches each window's arg-max a, and [a > 0] = [max > 0]. Exact, and it
        // saves a full-resolution mask and product (the largest tensors of the backward pass).
        const below = forward.tape[k - 1];
        const applyMask = below?.kind === 'conv' && below.output === entry.input;
        const routed = applyMask ? g.mul(grad, reluMask(g, entry.output)) : grad;
        grad = entry.indices ? g.op('MaxUnpool', [routed, entry.indices, inputShape], POOL_ATTRS) : selectMaxGradient(g, entry.input, entry.output, routed, inputShape);
        masked = applyMask;
      } else {
        const quarter = g.mul(grad, g.scalar(0.25));
        const up = g.op('Resize', [quarter, '', g.floats([1, 1, 2, 2])], {
          mode: 'nearest',
          coordinate_transformation_mode: 'asymmetric',
          nearest_mode: 'floor',
        });
        const missing = g.sub(inputShape, g.op('Shape', [up])); // [0, 0, H mod 2, W mod 2]
        const pads = g.op('Concat', [g.ints([0, 0, 0, 0]), missing], { axis: 0 });
        grad = g.op('Pad', [up, pads]);
      }
    }
  }
  if (!grad) throw new Error('no loss reaches the image');
  return grad;
}
