/**
 * A restricted Python unpickler (protocols 0–5, the opcodes PyTorch checkpoints use). It never runs
 * anything: every GLOBAL goes through `findGlobal`, which returns a JS stand-in for an allowed name
 * or throws, and REDUCE/NEWOBJ can only call what `findGlobal` returned as a `PyCallable`.
 *
 * Python values map to: None → null, bool → boolean, int → number (bigint beyond 2^53), float →
 * number, str → string, bytes → Uint8Array, list/tuple → array, dict → Map, set → Set.
 *
 * The pickle is untrusted, so its cost is bounded by its size: integers are at most 64 bytes (their
 * decoding is quadratic), dict keys and set elements are str or int only (a tuple key could be a DAG
 * of shared sub-tuples whose size is exponential in its bytes), at most MAX_OPCODES opcodes run, and
 * calls (REDUCE and friends, which iterate their arguments) are charged against a work budget
 * proportional to the pickle's length (re-calling one memoised long list is quadratic otherwise).
 */

/** LONG1/LONG4 payloads: the legacy magic number is 10 bytes; 64 is plenty for any real int. */
const MAX_INT_BYTES = 64;
/** The same bound for text integers (64 bytes is about 155 decimal digits). */
const MAX_INT_DIGITS = 160;
/** A state dict's pickle has tens of opcodes per tensor; each opcode can create an object. */
const MAX_OPCODES = 4_000_000;
/** Work units (argument items iterated by calls) allowed per byte of pickle, plus a fixed allowance. */
const WORK_PER_BYTE = 16;
const WORK_ALLOWANCE = 1_000_000;

/** A callable a `findGlobal` hook allows (a class or function from an allow-list). */
export class PyCallable {
  constructor(
    readonly qualifiedName: string,
    readonly call: (args: unknown[]) => unknown,
  ) {}
}

export interface UnpickleHooks {
  /** Resolve `module.name`; throw to refuse it. */
  findGlobal(module: string, name: string): unknown;
  /** Resolve a persistent id (PyTorch uses them for storages); throw to refuse it. */
  persistentLoad?(pid: unknown): unknown;
}

/** Thrown for malformed or truncated pickles (callers wrap it into a WeightsError with the file's path). */
export class PickleError extends Error {}

export interface UnpickleResult {
  readonly value: unknown;
  /** Offset just past the STOP opcode (legacy .pth files hold several pickles back to back). */
  readonly end: number;
}

/** Unpickle one pickle starting at `start`. */
export function unpickle(bytes: Uint8Array, hooks: UnpickleHooks, start = 0): UnpickleResult {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: false });
  const latin1 = new TextDecoder('latin1');
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let pos = start;
  let opcodes = 0;
  let work = WORK_ALLOWANCE + WORK_PER_BYTE * (bytes.byteLength - start);
  /** Charge a call for the items of the arguments it may iterate (one level deep). */
  const charge = (args: unknown) => {
    let cost = 1;
    if (Array.isArray(args)) for (const a of args) cost += Array.isArray(a) ? 1 + a.length : 1;
    work -= cost;
    if (work < 0) throw new PickleError('the pickle asks for more work than its size allows (a pickle built to be slow?)');
  };

  const need = (n: number) => {
    if (n < 0 || pos + n > bytes.byteLength) throw new PickleError('the pickle is truncated');
  };
  const u8 = () => {
    need(1);
    return bytes[pos++];
  };
  const u16 = () => {
    need(2);
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = () => {
    need(4);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new PickleError('a length in the pickle is too large');
    return Number(v);
  };
  const take = (n: number) => {
    need(n);
    const out = bytes.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) throw new PickleError('the pickle is truncated');
    const text = latin1.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return text;
  };
  const pop = () => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1])) throw new PickleError('stack underflow');
    return stack.pop();
  };
  const top = () => {
    if (stack.length === 0) throw new PickleError('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = () => {
    const at = marks.pop();
    if (at === undefined) throw new PickleError('no MARK on the stack');
    return stack.splice(at);
  };
  const call = (callable: unknown, args: unknown[]) => {
    if (!(callable instanceof PyCallable)) throw new PickleError('REDUCE on something that is not an allowed callable');
    charge(args);
    return callable.call(args);
  };
  const setItems = (target: unknown, items: unknown[]) => {
    if (!(target instanceof Map)) throw new PickleError('SETITEM on something that is not a dict');
    for (let i = 0; i + 1 < items.length; i += 2) target.set(dictKey(items[i]), items[i + 1]);
  };
  const appendItems = (target: unknown, items: unknown[]) => {
    if (Array.isArray(target))
      for (const x of items) target.push(x); // no spread: items can exceed the argument limit
    else if (target instanceof Set) for (const x of items) target.add(setElement(x));
    else throw new PickleError('APPEND on something that is not a list');
  };
  const global = (module: string, name: string) => hooks.findGlobal(module, name);
  const persistent = (pid: unknown) => {
    if (!hooks.persistentLoad) throw new PickleError('the pickle uses persistent ids, which this file type does not allow');
    charge(pid);
    return hooks.persistentLoad(pid);
  };

  for (;;) {
    if (++opcodes > MAX_OPCODES) throw new PickleError(`the pickle has more than ${MAX_OPCODES} opcodes`);
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) throw new PickleError('unsupported pickle protocol');
        break;
      case 0x95: // FRAME: only a hint for buffering
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) throw new PickleError('malformed pickle (stack not empty at STOP)');
        return { value: stack[0], end: pos };
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x4a: {
        // BININT (signed)
        need(4);
        stack.push(view.getInt32(pos, true));
        pos += 4;
        break;
      }
      case 0x8a: // LONG1
        stack.push(decodeLong(take(intLength(u8()))));
        break;
      case 0x8b: {
        // LONG4
        need(4);
        const n = view.getInt32(pos, true);
        pos += 4;
        stack.push(decodeLong(take(intLength(n))));
        break;
      }
      case 0x49: {
        // INT (text); I01/I00 are protocol-0 booleans
        const text = line();
        if (text === '01') stack.push(true);
        else if (text === '00') stack.push(false);
        else stack.push(parseIntText(text));
        break;
      }
      case 0x4c: // LONG (text)
        stack.push(parseIntText(line().replace(/L$/, '')));
        break;
      case 0x46: // FLOAT (text)
        stack.push(Number(line()));
        break;
      case 0x47: {
        // BINFLOAT (big-endian double)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      }
      case 0x58: // BINUNICODE
        stack.push(utf8.decode(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8.decode(take(u8())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8.decode(take(u64())));
        break;
      case 0x56: // UNICODE (raw-unicode-escape text); checkpoints only use it for plain names
        stack.push(line());
        break;
      case 0x53: // STRING (quoted py2 str)
        stack.push(line().replace(/^(['"])(.*)\1$/s, '$2'));
        break;
      case 0x54: {
        // BINSTRING (py2 str, read as latin-1)
        need(4);
        const n = view.getInt32(pos, true);
        pos += 4;
        stack.push(latin1.decode(take(n)));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        stack.push(latin1.decode(take(u8())));
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(take(u64()).slice());
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        stack.push([a, b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push([a, b, c]);
        break;
      }
      case 0x74: // TUPLE
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: {
        // DICT
        const d = new Map();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x91: // FROZENSET
        stack.push(new Set(popMark().map(setElement)));
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x61: {
        // APPEND
        const x = pop();
        appendItems(top(), [x]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x70: // PUT
        memo.set(Number(line()), top());
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x67: // GET
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const key = op === 0x67 ? Number(line()) : op === 0x68 ? u8() : u32();
        if (!memo.has(key)) throw new PickleError(`memo key ${key} is missing`);
        stack.push(memo.get(key));
        break;
      }
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        const name = line();
        stack.push(global(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw new PickleError('STACK_GLOBAL needs two strings');
        stack.push(global(module, name));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const callable = pop();
        if (!Array.isArray(args)) throw new PickleError('REDUCE arguments are not a tuple');
        stack.push(call(callable, args));
        break;
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args); only allowed classes get here
        const args = pop();
        const cls = pop();
        if (!Array.isArray(args)) throw new PickleError('NEWOBJ arguments are not a tuple');
        stack.push(call(cls, args));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!Array.isArray(args) || !(kwargs instanceof Map) || kwargs.size > 0) throw new PickleError('NEWOBJ_EX with keyword arguments is not supported');
        stack.push(call(cls, args));
        break;
      }
      case 0x62: {
        // BUILD: set an object's state. Dicts (OrderedDict._metadata) keep only their items; the
        // attribute state carries nothing tensors need, so it is dropped.
        const state = pop();
        const target = top();
        if (!(target instanceof Map) && !(typeof target === 'object' && target !== null && 'buildState' in target)) {
          throw new PickleError('BUILD on an object that is not a dict or tensor');
        }
        void state;
        break;
      }
      case 0x51: // BINPERSID
        stack.push(persistent(pop()));
        break;
      case 0x50: // PERSID
        stack.push(persistent(line()));
        break;
      case 0x69: // INST
      case 0x6f: // OBJ
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: // EXT4
      case 0x97: // NEXT_BUFFER
      case 0x98: // READONLY_BUFFER
        throw new PickleError(`unsupported pickle opcode 0x${op.toString(16)}`);
      default:
        throw new PickleError(`invalid pickle opcode 0x${op.toString(16)} at byte ${pos - 1}`);
    }
  }
}

function intLength(n: number): number {
  if (n > MAX_INT_BYTES) throw new PickleError(`an integer of ${n} bytes (at most ${MAX_INT_BYTES} are allowed)`);
  return n;
}

/** Little-endian two's-complement integer (LONG1/LONG4), via one hex string (linear, unlike shifting a growing bigint). */
function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let hex = '';
  for (let i = b.length - 1; i >= 0; i--) hex += b[i].toString(16).padStart(2, '0');
  let v = BigInt(`0x${hex}`);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return toNumberIfSafe(v);
}

function parseIntText(text: string): number | bigint {
  const digits = text.trim();
  if (digits.length > MAX_INT_DIGITS) throw new PickleError(`an integer of ${digits.length} digits (at most ${MAX_INT_DIGITS} are allowed)`);
  if (!/^[+-]?\d+$/.test(digits)) throw new PickleError(`bad integer ${JSON.stringify(digits.slice(0, 40))} in the pickle`);
  return toNumberIfSafe(BigInt(digits));
}

function toNumberIfSafe(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** A short name for a Python value's type in messages (never its contents, which may be huge). */
export function describeValue(x: unknown): string {
  if (x === null) return 'None';
  if (Array.isArray(x)) return 'a tuple or list';
  if (x instanceof Map) return 'a dict';
  if (x instanceof Set) return 'a set';
  if (x instanceof Uint8Array) return 'bytes';
  if (x instanceof PyCallable) return x.qualifiedName;
  return typeof x === 'object' ? 'an object' : `a ${typeof x}`;
}

function isStrOrInt(x: unknown): x is string | number | bigint {
  return typeof x === 'string' || typeof x === 'bigint' || (typeof x === 'number' && Number.isInteger(x));
}

/** Dict keys are str or int: Python compares keys by value, which JS Maps only do for these. */
export function dictKey(key: unknown): string | number | bigint {
  if (!isStrOrInt(key)) throw new PickleError(`a dict key that is ${describeValue(key)} (only str and int keys are allowed)`);
  return key;
}

function setElement(x: unknown): string | number | bigint {
  if (!isStrOrInt(x)) throw new PickleError(`a set element that is ${describeValue(x)} (only str and int are allowed)`);
  return x;
}
