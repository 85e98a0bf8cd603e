/**
 * The hand-written protobuf encoder: ONNX Runtime loads what it writes and computes the right
 * values, and the bytes are exactly those of the earlier encoder (which concatenated every nested
 * message) for the same model.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as ort from 'onnxruntime-node';
import { DataType, encodeModel, floatTensor, int64Tensor, type ModelDef } from '../../src/engine/onnx-proto.js';

/** y = Σ over the last axis of (x · w) · 2.5, with attributes of several kinds and a symbolic dimension. */
function model(): ModelDef {
  return {
    graphName: 'test',
    producer: 'style-transfer-test',
    opset: 17,
    nodes: [
      { op: 'Mul', name: 'mul', inputs: ['x', 'w'], outputs: ['xw'], attributes: {} },
      { op: 'ReduceSum', name: 'sum', inputs: ['xw', 'axes'], outputs: ['s'], attributes: { keepdims: 0 } },
      { op: 'Constant', name: 'k', inputs: [], outputs: ['k'], attributes: { value: floatTensor('k_value', [], [2.5]) } },
      { op: 'Mul', name: 'scale', inputs: ['s', 'k'], outputs: ['y'], attributes: {} },
      { op: 'LeakyRelu', name: 'unused', inputs: ['y'], outputs: ['z'], attributes: { alpha: { floats: [0.25] } } },
    ],
    initializers: [floatTensor('w', [3], Float32Array.from([1, -2, 0.5])), int64Tensor('axes', [1], [-1])],
    inputs: [{ name: 'x', dataType: DataType.FLOAT, dims: ['N', 3] }],
    outputs: [
      { name: 'y', dataType: DataType.FLOAT, dims: ['N'] },
      { name: 'z', dataType: DataType.FLOAT, dims: ['N'] },
    ],
  };
}

describe('encodeModel', () => {
  it('writes a model ONNX Runtime runs correctly', async () => {
    const session = await ort.InferenceSession.create(encodeModel(model()), { logSeverityLevel: 4 });
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from([1, 1, 1, 2, 0, -4]), [2, 3]) });
    assert.deepEqual(Array.from(out.y.data as Float32Array), [(1 - 2 + 0.5) * 2.5, (2 - 2) * 2.5]);
    assert.deepEqual(Array.from(out.z.data as Float32Array), [-1.25 * 0.25, 0]);
    await session.release();
  });

  it('writes the same bytes as the earlier, concatenating encoder', () => {
    // SHA-256 of this model as encoded by onnx-proto.ts up to commit db414cf (before nested chunks were adopted).
    const bytes = encodeModel(model());
    assert.equal(createHash('sha256').update(bytes).digest('hex'), '8f1600d9ea8c0c469aba9e8943bdd7f3c8a8ca2a95f31baffe109de4fda37c5f');
  });
});
