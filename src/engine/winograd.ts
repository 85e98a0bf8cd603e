/**
 * 3x3 convolutions (stride 1, pad 1) by Winograd's minimal filtering F(4×4, 3×3) (Lavin & Gray,
 * "Fast Algorithms for Convolutional Neural Networks", 2016), written as ONNX nodes.
 *
 * Each 4x4 block of the output is computed from the 6x6 block of the input around it:
 *   Y = Aᵀ [ Σ_c U_c ⊙ (Bᵀ d_c B) ] A,   U_c = G g_c Gᵀ (pre-transformed kernels),
 * so the 36 positions ξ of the transformed tile each become one matrix product over channels,
 * [out, in] × [in, tiles]: 36·(H/4)·(W/4) = 2.25·H·W multiplications per channel pair where the
 * direct convolution does 9·H·W, 4x fewer.
 *
 * Why here: the engine spends most of its time in VGG's 3x3 convolutions, which ORT's blocked
 * direct kernels already run at ~93 % of the FMA peak; only fewer multiplications make them faster.
 * In ORT the batched product runs at ~75–85 % of the peak and the transforms are memory passes, so
 * it pays where channels are many and pixels few (ORT's per-node profile, AMD Zen 5, one layer,
 * direct → Winograd: 512 channels at 64² 44 → 22 ms, at 32² 11.5 → 6.0 ms; 256 channels at 128²
 * 44 → 37 ms), and not at 128 channels (256²: 44 → 54 ms), see `winogradPays`.
 *
 * The graph, for x [1, C, H, W] (H, W symbolic, any size):
 * 1. pad 1 on each side, plus up to 3 rows/columns at the bottom/right so that H, W become
 *    multiples of 4 (the extra outputs are cropped at the end);
 * 2. input transform Bᵀ d B of every 6x6 tile at stride 4, as a Conv with 36 fixed 6x6 filters over
 *    the channels taken as a batch ([C, 1, H+2, W+2] → [C, 36, T, S]); Transpose → [36, C, T·S];
 * 3. MatMul with the kernels U [36, K, C] → [36, K, T·S];
 * 4. output transform Aᵀ m A as one MatMul [16, 36] × [36, K·T·S], whose rows, ordered (r, s) for
 *    output position (4t + r, 4u + s), are the channel blocks DepthToSpace (DCR) interleaves into
 *    [1, K, 4T, 4S]; then the crop to H x W.
 *
 * Exactness: the transforms' coefficients (±1, ±2, 4, 5, 8, 1/4, 1/6, 1/12, 1/24) round
 * differently from the direct sum: against a float64 convolution the outputs are off by ~2e-6
 * (relative L2; the largest error ~7e-6 of the largest value), where ORT's Conv is off by ~2e-7
 * (test/engine/winograd.test.ts). F(2×2, 3×3) would keep ~5e-7 but saves only 2.25x
 * multiplications: at 512 channels and 64² 44 → 33 ms against F(4,3)'s 22, at 256 channels and
 * 128² about the direct convolution's time (43.5 against 45 ms).
 */
import type { GraphBuilder } from './graph-builder.js';

/** Output tile side m and input tile side m + 2. */
const M = 4;
const N = 6;

/**
 * The transforms of one algorithm: Bᵀ (input, 6x6) and Aᵀ (output, 4x6). G (kernel, 6x3) is the
 * forward algorithm's; see `backward` for why the backward one needs none of its own.
 */
interface Transforms {
  readonly BT: readonly (readonly number[])[];
  readonly AT: readonly (readonly number[])[];
}

/** The forward convolution: Lavin & Gray's F(4,3), evaluation points 0, 1, −1, 2, −2, ∞. */
const forward: Transforms = {
  BT: [
    [4, 0, -5, 0, 1, 0],
    [0, -4, -4, 1, 1, 0],
    [0, 4, -4, -1, 1, 0],
    [0, -2, -1, 2, 1, 0],
    [0, 2, -1, -2, 1, 0],
    [0, 4, 0, -5, 0, 1],
  ],
  AT: [
    [1, 1, 1, 1, 1, 0],
    [0, 1, -1, 2, -2, 0],
    [0, 1, 1, 4, 4, 0],
    [0, 1, -1, 8, -8, 1],
  ],
};
const G = [
  [1 / 4, 0, 0],
  [-1 / 6, -1 / 6, -1 / 6],
  [-1 / 6, 1 / 6, -1 / 6],
  [1 / 24, 1 / 12, 1 / 6],
  [1 / 24, -1 / 12, 1 / 6],
  [0, 0, 1],
];

/**
 * The gradient's convolution runs the kernel flipped, w̃ = J w J (J reverses the 3 taps), with in
 * and out swapped. Its algorithm is chosen so that its kernel transform is the forward one's,
 * G̃ = G J: then G̃ w̃ G̃ᵀ = G w Gᵀ = U, and the gradient's products are Uᵀ·V (FusedMatMul with
 * transA), so one copy of U serves both passes (the kernels of conv3_2 … conv5_1 take 198 MB in
 * this form). G J's rows are G's points' reciprocals (∞, 1, −1, ½, −½, 0) up to a factor each, so
 * this is F(4,3) at those points: Aᵀ's columns are their powers, and Bᵀ was solved from
 * Aᵀ [(G̃ g) ⊙ (Bᵀ d)] = correlation of d by g (exact, checked in test/engine/winograd.test.ts).
 */
const backward: Transforms = {
  BT: [
    [0, 1, 0, -5, 0, 4],
    [0, 1, 1, -4, -4, 0],
    [0, -1, 1, 4, -4, 0],
    [0, 8, 16, -8, -16, 0],
    [0, -8, 16, 8, -16, 0],
    [1, 0, -5, 0, 4, 0],
  ],
  AT: [
    [0, 1, 1, 1, 1, 1],
    [0, 1, -1, 1 / 2, -1 / 2, 0],
    [0, 1, 1, 1 / 4, 1 / 4, 0],
    [1, 1, -1, 1 / 8, -1 / 8, 0],
  ],
};

/** Both algorithms' transforms, for the tests. */
export const winogradTransforms = { forward, backward, G } as const;

/**
 * Whether a convolution with these channel counts is faster by Winograd in ORT on the CPU: both
 * sides ≥ 256 channels (VGG-19's conv3_2 … conv5_1 and their gradients). At 128 channels the
 * transforms' memory passes cost more than the multiplications saved.
 */
export function winogradPays(inChannels: number, outChannels: number): boolean {
  return inChannels >= 256 && outChannels >= 256;
}

/**
 * The kernels in the transformed domain, U[ξ][o][i] = (G w[o][i] Gᵀ)[ξ] for ξ = 6a + b, as
 * [36, out, in] (each ξ's matrix is one operand of step 3), from a layer's weights w [out, in, 3, 3]:
 * U = (G ⊗ G) · T with T = the weights tap by tap, [9, out·in] (an initializer named `name`). Every
 * input is an initializer, so ORT computes U once, when it creates the session (constant folding),
 * and keeps U instead of T. The model carries only the plain weights (54 MB against 203 MB with U
 * in it) and the build costs nothing in JavaScript but T's transposition: the transform itself in
 * TypeScript took 0.35–1 s per session; ORT folds this product in ~0.2 s (with Gemm's transB on
 * the untransposed weights, ~1 s).
 */
export function winogradKernels(g: GraphBuilder, name: string, weight: Float32Array, outChannels: number, inChannels: number): string {
  const kernels = outChannels * inChannels;
  const taps = new Float32Array(9 * kernels);
  for (let k = 0; k < kernels; k++) for (let t = 0; t < 9; t++) taps[t * kernels + k] = weight[k * 9 + t];
  const gg = g.shared('winograd.kernel_transform', [N * N, 9], () => {
    const m = new Float32Array(N * N * 9);
    for (let a = 0; a < N; a++) for (let b = 0; b < N; b++) for (let p = 0; p < 3; p++) for (let q = 0; q < 3; q++) m[(a * N + b) * 9 + p * 3 + q] = G[a][p] * G[b][q];
    return m;
  });
  const product = g.op('MatMul', [gg, g.weight(name, [9, kernels], taps)]);
  return g.op('Reshape', [product, g.ints([N * N, outChannels, inChannels])]);
}

/** The input transform as 36 Conv filters [36, 1, 6, 6]: filter 6a + b is Bᵀ[a] ⊗ Bᵀ[b]. */
function inputTransformFilters({ BT }: Transforms): Float32Array {
  const f = new Float32Array(N * N * N * N);
  for (let a = 0; a < N; a++) for (let b = 0; b < N; b++) for (let p = 0; p < N; p++) for (let q = 0; q < N; q++) f[((a * N + b) * N + p) * N + q] = BT[a][p] * BT[b][q];
  return f;
}

/** The output transform as a [16, 36] matrix: row 4r + s, column 6a + b is Aᵀ[r][a]·Aᵀ[s][b]. */
function outputTransformMatrix({ AT }: Transforms): Float32Array {
  const m = new Float32Array(M * M * N * N);
  for (let r = 0; r < M; r++) for (let s = 0; s < M; s++) for (let a = 0; a < N; a++) for (let b = 0; b < N; b++) m[(r * M + s) * N * N + a * N + b] = AT[r][a] * AT[s][b];
  return m;
}

/**
 * A 3x3 convolution (stride 1, zero padding 1, no bias) of x [1, C, H, W] by kernels from
 * winogradKernels(g, name, w, K, C) ([36, K, C]), as the forward pass runs it: the result is
 * [1, K, H, W]. With `direction: 'backward'` it is the convolution by the same layer's flipped and
 * transposed kernel, the gradient's (x is then [1, K, H, W] and the result [1, C, H, W]), from the
 * same initializer. See the module comment for the steps.
 */
export function winogradConv(g: GraphBuilder, x: string, kernels: string, outChannels: number, direction: 'forward' | 'backward'): string {
  const transforms = direction === 'forward' ? forward : backward;
  const hw = g.op('Slice', [g.op('Shape', [x]), g.ints([2]), g.ints([4])]);
  // Rows/columns to add so that H and W become multiples of 4: (4 − H mod 4) mod 4.
  const extra = g.op('Mod', [g.sub(g.ints([M]), g.op('Mod', [hw, g.ints([M])])), g.ints([M])]);
  const pads = g.op('Concat', [g.ints([0, 0, 1, 1, 0, 0]), g.add(extra, g.ints([1]))], { axis: 0 });
  const padded = g.op('Pad', [x, pads]);
  // [1, C, H', W'] → [C, 1, H', W']: Reshape's 0 keeps a dimension, −1 infers C.
  const perChannel = g.op('Reshape', [padded, g.ints([-1, 1, 0, 0])]);
  const filters = g.shared(`winograd.${direction}.input_transform`, [N * N, 1, N, N], () => inputTransformFilters(transforms));
  const tiles = g.op('Conv', [perChannel, filters], { kernel_shape: [N, N], strides: [M, M] }); // [C, 36, T, S]
  const byPosition = g.op('Transpose', [tiles], { perm: [1, 0, 2, 3] }); // [36, C, T, S]
  const columns = g.op('Reshape', [byPosition, g.ints([0, 0, -1])]); // [36, C, T·S]
  const products = direction === 'forward' ? g.op('MatMul', [kernels, columns]) : g.contribOp('FusedMatMul', [kernels, columns], { transA: 1 }); // [36, K, T·S]
  const outputTransform = g.shared(`winograd.${direction}.output_transform`, [M * M, N * N], () => outputTransformMatrix(transforms));
  const outputs = g.op('MatMul', [outputTransform, g.op('Reshape', [products, g.ints([N * N, -1])])]); // [16, K·T·S]
  const ts = g.op('Slice', [g.op('Shape', [byPosition]), g.ints([2]), g.ints([4])]);
  const blocks = g.op('Reshape', [outputs, g.op('Concat', [g.ints([1, M * M * outChannels]), ts], { axis: 0 })]);
  const y = g.op('DepthToSpace', [blocks], { blocksize: M, mode: 'DCR' }); // [1, K, 4T, 4S]
  return g.op('Slice', [y, g.ints([0, 0]), hw, g.ints([2, 3])]);
}
