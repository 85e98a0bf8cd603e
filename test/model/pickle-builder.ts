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
    if (n !== (n | 0)) {
      // Beyond int32: LONG1 with 8 little-endian bytes, as pickle writes large ints.
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigInt64(0, BigInt(n), true);
      return this.long(b);
    }
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
  /** LONG1 (n < 256 bytes) or LONG4: a little-endian two's-complement integer of `payload`'s bytes. */
  long(payload: Uint8Array) {
    if (payload.length < 256) return this.op(0x8a, payload.length, ...payload);
    const len = new Uint8Array(4);
    new DataView(len.buffer).setInt32(0, payload.length, true);
    this.out.push(0x8b, ...len);
    for (const b of payload) this.out.push(b); // not spread: payloads can exceed the argument limit
    return this;
  }
  /** BININT1 */
  small(n: number) {
    return this.op(0x4b, n);
  }
  dup() {
    return this.op(0x32);
  }
  pop() {
    return this.op(0x30);
  }
  tuple1() {
    return this.op(0x85);
  }
  tuple2() {
    return this.op(0x86);
  }
  emptyList() {
    return this.op(0x5d);
  }
  appends() {
    return this.op(0x65);
  }
  setItem() {
    return this.op(0x73);
  }
  emptySet() {
    return this.op(0x8f);
  }
  addItems() {
    return this.op(0x90);
  }
  /** LONG_BINPUT: store the top of the stack in the memo. */
  put(slot: number) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, slot, true);
    return this.op(0x72, ...b);
  }
  /** LONG_BINGET: push a memo entry. */
  get(slot: number) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, slot, true);
    return this.op(0x6a, ...b);
  }
  /** Raw opcode bytes (for what the helpers above do not cover). */
  raw(...codes: number[]) {
    for (const c of codes) this.out.push(c);
    return this;
  }
  get length(): number {
    return this.out.length;
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}
