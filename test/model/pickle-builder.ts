/** Hand-assembled pickles for tests (what torch.save would write, or something malicious). */
export class PickleBuilder {
  private readonly out: number[] = [];

  private op(code: number, ...payload: number[]): this {
    this.out.push(code, ...payload);
    return this;
  }
  proto(n = 2) {
    return this.op(0x80, n);
  }
  mark() {
    return this.op(0x28);
  }
  tuple() {
    return this.op(0x74);
  }
  emptyTuple() {
    return this.op(0x29);
  }
  emptyDict() {
    return this.op(0x7d);
  }
  setItems() {
    return this.op(0x75);
  }
  none() {
    return this.op(0x4e);
  }
  bool(b: boolean) {
    return this.op(b ? 0x88 : 0x89);
  }
  int(n: number) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, n, true);
    return this.op(0x4a, ...b);
  }
  str(s: string) {
    const b = new TextEncoder().encode(s);
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, b.length, true);
    return this.op(0x58, ...len, ...b);
  }
  /** Protocol 0–3 GLOBAL "module\nname\n". */
  global(module: string, name: string) {
    return this.op(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`));
  }
  /** Protocol 4 STACK_GLOBAL (module and name as strings on the stack). */
  stackGlobal(module: string, name: string) {
    return this.str(module).str(name).op(0x93);
  }
  reduce() {
    return this.op(0x52);
  }
  binPersId() {
    return this.op(0x51);
  }
  stop() {
    return this.op(0x2e);
  }
  ints(values: readonly number[]) {
    this.mark();
    for (const v of values) this.int(v);
    return this.tuple();
  }
  /** `torch._utils._rebuild_tensor_v2(<storage key>, offset, size, stride, False, OrderedDict())` */
  tensor(storageType: string, key: string, numel: number, offset: number, size: readonly number[], stride: readonly number[]) {
    this.global('torch._utils', '_rebuild_tensor_v2').mark();
    this.mark().str('storage').global('torch', storageType).str(key).str('cpu').int(numel).tuple().binPersId();
    this.int(offset).ints(size).ints(stride).bool(false);
    this.global('collections', 'OrderedDict').emptyTuple().reduce();
    return this.tuple().reduce();
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}
