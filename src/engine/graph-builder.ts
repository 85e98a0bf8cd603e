/**
 * A small helper for writing ONNX graphs in TypeScript: each call adds a node and returns the names
 * of its outputs, so graph code reads like the maths it computes.
 */
import { DataType, encodeModel, floatTensor, int64Tensor, type AttributeValue, type Dim, type NodeDef, type TensorInit, type ValueInfo } from './onnx-proto.js';

export const OPSET = 17;

export class GraphBuilder {
  private readonly nodes: NodeDef[] = [];
  private readonly initializers: TensorInit[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly constants = new Map<string, string>();
  private counter = 0;

  constructor(private readonly name: string) {}

  /** A fresh value name with a readable prefix. */
  fresh(prefix: string): string {
    return `${prefix}__${this.counter++}`;
  }

  /** Add a node with one output; returns that output's name. */
  op(op: string, inputs: readonly string[], attributes: Record<string, AttributeValue> = {}, outputName?: string): string {
    return this.opN(op, inputs, [outputName ?? this.fresh(op.toLowerCase())], attributes)[0];
  }

  /**
   * Add a node of ONNX Runtime's own operator set (com.microsoft), e.g. FusedMatMul; returns its
   * output. Only for graphs that run on onnxruntime-node or -web, never for other runtimes.
   */
  contribOp(op: string, inputs: readonly string[], attributes: Record<string, AttributeValue> = {}): string {
    return this.opN(op, inputs, [this.fresh(op.toLowerCase())], attributes, 'com.microsoft')[0];
  }

  /** Add a node with several outputs (`domain`: an operator set other than ONNX's own). */
  opN(op: string, inputs: readonly string[], outputs: readonly string[], attributes: Record<string, AttributeValue> = {}, domain?: string): readonly string[] {
    this.nodes.push({ op, inputs, outputs, name: `${op}_${this.nodes.length}`, attributes, ...(domain ? { domain } : {}) });
    return outputs;
  }

  input(name: string, dims: readonly Dim[], dataType: number = DataType.FLOAT): string {
    this.inputs.push({ name, dims, dataType });
    return name;
  }

  /** Mark a value as a graph output, renaming it through Identity when needed. */
  output(value: string, name: string, dims: readonly Dim[], dataType: number = DataType.FLOAT): string {
    if (value !== name) this.op('Identity', [value], {}, name);
    this.outputs.push({ name, dims, dataType });
    return name;
  }

  weight(name: string, dims: readonly number[], data: Float32Array): string {
    this.initializers.push(floatTensor(name, dims, data));
    return name;
  }

  /** A float constant, shared between uses. */
  scalar(value: number): string {
    return this.constant(`f32:${value}`, () => floatTensor(this.fresh('const'), [], [value]));
  }

  /** A float 1-D constant. */
  floats(values: readonly number[]): string {
    return this.constant(`f32v:${values.join(',')}`, () => floatTensor(this.fresh('floats'), [values.length], values));
  }

  /** An int64 1-D constant (shapes, axes, pads). */
  ints(values: readonly number[]): string {
    return this.constant(`i64:${values.join(',')}`, () => int64Tensor(this.fresh('ints'), [values.length], values));
  }

  /** A fixed float tensor (e.g. a transform matrix) stored once under `key`, however often it is used. */
  shared(key: string, dims: readonly number[], make: () => Float32Array): string {
    return this.constant(`shared:${key}`, () => floatTensor(this.fresh(key), dims, make()));
  }

  private constant(key: string, make: () => TensorInit): string {
    const known = this.constants.get(key);
    if (known) return known;
    const t = make();
    this.initializers.push(t);
    this.constants.set(key, t.name);
    return t.name;
  }

  // Arithmetic shorthands.
  add(a: string, b: string): string {
    return this.op('Add', [a, b]);
  }
  sub(a: string, b: string): string {
    return this.op('Sub', [a, b]);
  }
  mul(a: string, b: string): string {
    return this.op('Mul', [a, b]);
  }
  div(a: string, b: string): string {
    return this.op('Div', [a, b]);
  }
  /** Number of elements of a tensor, as a float scalar (works with symbolic shapes). */
  sizeOf(x: string): string {
    return this.op('Cast', [this.op('Size', [x])], { to: DataType.FLOAT });
  }
  /**
   * Σ over all elements of a rank-`rank` tensor, as a scalar: one axis at a time, the last first.
   * One flat ReduceSum accumulates every element in float32 in the runtime's own order: over a
   * 512×512 Gram difference onnxruntime-web's wasm sum was 1.8e-4 off a float64 reference (and
   * onnxruntime-node's 1.4e-5), which broke the browser/Node parity of the loss. Summing rows first
   * keeps each float32 run short (≤ one axis), and both runtimes land within ~3e-7.
   */
  sumAll(x: string, rank: number): string {
    let sum = x;
    for (let axis = 0; axis < rank; axis++) sum = this.op('ReduceSum', [sum, this.ints([-1])], { keepdims: 0 });
    return sum;
  }

  encode(): Uint8Array {
    return encodeModel({
      graphName: this.name,
      nodes: this.nodes,
      initializers: this.initializers,
      inputs: this.inputs,
      outputs: this.outputs,
      opset: OPSET,
      producer: 'style-transfer',
    });
  }
}
