/** A named float32 tensor, as read from a weights file (safetensors or a PyTorch checkpoint). */
export interface NamedTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** Tensors by their key in the file, e.g. `features.0.weight`. */
export type TensorMap = Map<string, NamedTensor>;

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
