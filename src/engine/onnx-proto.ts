/**
 * A minimal protobuf encoder for the parts of onnx.proto the engine emits (ModelProto, GraphProto,
 * NodeProto, AttributeProto, TensorProto, ValueInfoProto). Writing the few wire-format rules by hand
 * keeps the engine free of a protobuf runtime and usable unchanged in the browser.
 * Field numbers follow onnx/onnx.proto (IR version 8).
 */

/** ONNX TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT64: 7 } as const;

/** AttributeProto.AttributeType values used here. */
const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

export type AttributeValue = number | string | readonly number[] | { readonly floats: readonly number[] } | TensorInit;

export interface TensorInit {
  readonly name: string;
  readonly dims: readonly number[];
  readonly dataType: (typeof DataType)[keyof typeof DataType];
  /** Little-endian raw bytes of the elements. */
  readonly raw: Uint8Array;
}

export interface NodeDef {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name: string;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  /** The operator set's domain: absent for ONNX's own, 'com.microsoft' for ONNX Runtime's contrib operators. */
  readonly domain?: string;
}

/** A dimension is a fixed size or a symbolic name (e.g. 'H'). */
export type Dim = number | string;

export interface ValueInfo {
  readonly name: string;
  readonly dataType: number;
  readonly dims: readonly Dim[];
}

export interface ModelDef {
  readonly graphName: string;
  readonly nodes: readonly NodeDef[];
  readonly initializers: readonly TensorInit[];
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  readonly opset: number;
  readonly producer: string;
}

/**
 * Accumulates encoded chunks. A nested message is encoded into its own Writer and its chunks are
 * then adopted by the parent (its length is known by then), so the ~80 MB of weight payloads are
 * copied exactly once, by the final finish(), instead of once per nesting level.
 */
class Writer {
  private readonly chunks: Uint8Array[] = [];
  private scratch: number[] = [];
  /** Bytes in chunks (the scratch bytes not yet included). */
  private chunkBytes = 0;

  private flushScratch(): void {
    if (this.scratch.length) {
      this.chunks.push(Uint8Array.from(this.scratch));
      this.chunkBytes += this.scratch.length;
      this.scratch = [];
    }
  }

  /** Bytes written so far. */
  get length(): number {
    return this.chunkBytes + this.scratch.length;
  }

  varint(value: number | bigint): void {
    // Negative int64 values are encoded as their 64-bit two's complement (10 bytes).
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.scratch.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.scratch.push(Number(v));
  }

  tag(field: number, wireType: 0 | 1 | 2 | 5): void {
    this.varint((field << 3) | wireType);
  }

  bytes(field: number, data: Uint8Array): void {
    this.tag(field, 2);
    this.varint(data.length);
    this.flushScratch();
    this.chunks.push(data);
    this.chunkBytes += data.length;
  }

  string(field: number, text: string): void {
    this.bytes(field, new TextEncoder().encode(text));
  }

  int(field: number, value: number): void {
    this.tag(field, 0);
    this.varint(value);
  }

  float(field: number, value: number): void {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    for (const x of b) this.scratch.push(x);
  }

  message(field: number, build: (w: Writer) => void): void {
    const inner = new Writer();
    build(inner);
    inner.flushScratch();
    this.tag(field, 2);
    this.varint(inner.chunkBytes);
    this.flushScratch();
    for (const chunk of inner.chunks) this.chunks.push(chunk);
    this.chunkBytes += inner.chunkBytes;
  }

  /** The whole encoding in one buffer: the only copy of the payloads. */
  finish(): Uint8Array {
    this.flushScratch();
    const out = new Uint8Array(this.chunkBytes);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

function writeTensor(w: Writer, t: TensorInit): void {
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.dataType);
  w.string(8, t.name);
  w.bytes(9, t.raw);
}

function writeAttribute(w: Writer, name: string, value: AttributeValue): void {
  w.string(1, name);
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`attribute ${name}: use {floats:[…]} or a float attribute helper for non-integers`);
    w.int(3, value);
    w.int(20, AttributeType.INT);
  } else if (typeof value === 'string') {
    w.string(4, value);
    w.int(20, AttributeType.STRING);
  } else if (Array.isArray(value)) {
    for (const v of value as number[]) w.int(8, v);
    w.int(20, AttributeType.INTS);
  } else if ('floats' in value) {
    if (value.floats.length === 1) {
      w.float(2, value.floats[0]);
      w.int(20, AttributeType.FLOAT);
    } else {
      for (const v of value.floats) w.float(7, v);
      w.int(20, AttributeType.FLOATS);
    }
  } else {
    w.message(5, (m) => writeTensor(m, value as TensorInit));
    w.int(20, AttributeType.TENSOR);
  }
}

function writeValueInfo(w: Writer, v: ValueInfo): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, v.dataType);
      tensor.message(2, (shape) => {
        for (const d of v.dims) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
      });
    }),
  );
}

/** Serialise a model as ONNX protobuf bytes, ready for InferenceSession.create. */
export function encodeModel(model: ModelDef): Uint8Array {
  const w = new Writer();
  w.int(1, 8); // ir_version 8 (ONNX 1.10+), enough for opset 17
  w.string(2, model.producer);
  w.message(7, (g) => {
    for (const n of model.nodes) {
      g.message(1, (nw) => {
        for (const i of n.inputs) nw.string(1, i);
        for (const o of n.outputs) nw.string(2, o);
        nw.string(3, n.name);
        nw.string(4, n.op);
        for (const [k, v] of Object.entries(n.attributes)) nw.message(5, (a) => writeAttribute(a, k, v));
        if (n.domain) nw.string(7, n.domain);
      });
    }
    g.string(2, model.graphName);
    for (const t of model.initializers) g.message(5, (tw) => writeTensor(tw, t));
    for (const v of model.inputs) g.message(11, (vw) => writeValueInfo(vw, v));
    for (const v of model.outputs) g.message(12, (vw) => writeValueInfo(vw, v));
  });
  w.message(8, (o) => {
    o.string(1, '');
    o.int(2, model.opset);
  });
  // Every other domain a node uses, at version 1 (the only version of ORT's contrib operators).
  for (const domain of new Set(model.nodes.flatMap((n) => (n.domain ? [n.domain] : [])))) {
    w.message(8, (o) => {
      o.string(1, domain);
      o.int(2, 1);
    });
  }
  return w.finish();
}

export function floatTensor(name: string, dims: readonly number[], data: Float32Array | readonly number[]): TensorInit {
  const values = data instanceof Float32Array ? data : Float32Array.from(data);
  // Float32Array's memory is little-endian on every platform Node and browsers run on. A view, not
  // a copy: the model's bytes are assembled once by encodeModel, and the weights are not changed.
  const raw = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  return { name, dims, dataType: DataType.FLOAT, raw };
}

export function int64Tensor(name: string, dims: readonly number[], data: readonly number[]): TensorInit {
  const values = BigInt64Array.from(data.map((x) => BigInt(x)));
  return { name, dims, dataType: DataType.INT64, raw: new Uint8Array(values.buffer) };
}
