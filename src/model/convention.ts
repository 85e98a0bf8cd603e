/**
 * The input convention a set of VGG weights was trained with. The network only gives meaningful
 * features for images prepared the same way, so the convention travels with the weights.
 *
 *   model input[c] = (pixel[order[c]] * scale - mean[c]) / std[c]     (pixel in 0..1, RGB)
 */
export interface InputConvention {
  /** Channel order the network expects. */
  readonly channels: 'RGB' | 'BGR';
  /** Pixels are multiplied by this before the mean is subtracted: 1 (torchvision) or 255 (Caffe). */
  readonly scale: number;
  /** Per-channel mean, in the network's channel order and its scale. */
  readonly mean: readonly [number, number, number];
  /** Per-channel standard deviation, in the network's channel order and its scale. */
  readonly std: readonly [number, number, number];
}

/** torchvision's ImageNet models (the recipe's `vgg19`): RGB in [0,1], ImageNet mean and std. */
export const TORCHVISION_CONVENTION: InputConvention = {
  channels: 'RGB',
  scale: 1,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};

/** The original Caffe VGG-19 (what Gatys et al. used), as neural-style-pt ships it: BGR, 0..255, minus the BGR mean. */
export const CAFFE_BGR_CONVENTION: InputConvention = {
  channels: 'BGR',
  scale: 255,
  mean: [103.939, 116.779, 123.68],
  std: [1, 1, 1],
};

/** The Caffe weights with their first conv's input channels reordered to RGB (../shared/weights/vgg19-caffe-q8.safetensors). */
export const CAFFE_RGB_CONVENTION: InputConvention = {
  channels: 'RGB',
  scale: 255,
  mean: [123.68, 116.779, 103.939],
  std: [1, 1, 1],
};

/** Index into an RGB pixel for the network's channel c. */
export function sourceChannel(convention: InputConvention, c: number): number {
  return convention.channels === 'RGB' ? c : 2 - c;
}

/**
 * Read a convention from safetensors `__metadata__` (keys input_channels, input_scale, mean, std as
 * strings, the format of the shared weights file). Returns undefined when the metadata does not say.
 */
export function conventionFromMetadata(meta: Readonly<Record<string, string>>): InputConvention | undefined {
  const channels = meta.input_channels;
  if (channels !== 'RGB' && channels !== 'BGR') return undefined;
  const scale = Number(meta.input_scale ?? '1');
  const mean = parseTriple(meta.mean ?? '0,0,0');
  const std = parseTriple(meta.std ?? '1,1,1');
  if (!(scale > 0) || !mean || !std || std.some((s) => !(s > 0))) return undefined;
  return { channels, scale, mean, std };
}

function parseTriple(text: string): [number, number, number] | undefined {
  const parts = text.split(',').map((s) => Number(s.trim()));
  if (parts.length !== 3 || parts.some((x) => !Number.isFinite(x))) return undefined;
  return [parts[0], parts[1], parts[2]];
}

/** Map an RGB image in 0..1 (planar, [3][H*W]) into the network's input space, in place into `out`. */
export function preprocess(rgb: Float32Array, pixels: number, convention: InputConvention, out = new Float32Array(3 * pixels)): Float32Array {
  for (let c = 0; c < 3; c++) {
    const src = sourceChannel(convention, c) * pixels;
    const dst = c * pixels;
    const m = convention.mean[c];
    const s = convention.std[c];
    for (let i = 0; i < pixels; i++) out[dst + i] = (rgb[src + i] * convention.scale - m) / s;
  }
  return out;
}

/** Inverse of preprocess: network input space back to planar RGB 0..1 (not clamped). */
export function deprocess(x: Float32Array, pixels: number, convention: InputConvention, out = new Float32Array(3 * pixels)): Float32Array {
  for (let c = 0; c < 3; c++) {
    const src = c * pixels;
    const dst = sourceChannel(convention, c) * pixels;
    const m = convention.mean[c];
    const s = convention.std[c];
    for (let i = 0; i < pixels; i++) out[dst + i] = (x[src + i] * s + m) / convention.scale;
  }
  return out;
}
