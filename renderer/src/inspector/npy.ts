/**
 * `.npy` (NumPy format 1.0/2.0/3.0) reading and writing for the inspector. Pure: no DOM, no three.js.
 *
 * The perception server writes C-order, little-endian arrays with `numpy.save` (docs/perception-api.md):
 * `float32` point maps/depth/confidence, `float64` intrinsics/extrinsics, `int64` frame indices, `uint8`
 * colours, `bool` masks/valid. Anything else fails with an error that names the problem.
 */

/** Typed array kinds an array can be read into. */
export type NpyData = Float32Array | Float64Array | Uint8Array | Int8Array | Int16Array | Uint16Array | Int32Array | Uint32Array;

/** A parsed array: `data` is a view on the file bytes when aligned (zero copy), otherwise a copy. */
export interface NpyArray<T extends NpyData = NpyData> {
  /** The dtype descriptor as written in the header, e.g. `<f4`, `|b1`. */
  descr: string;
  /** Normalised dtype name: float16 (read as float32), float32, float64, uint8, bool, int8, int16, uint16, int32, uint32, int64/uint64 (read as float64). */
  dtype: string;
  shape: number[];
  /** Elements, C order. `bool` is a Uint8Array of 0/1; `float16` is widened to Float32Array; `int64`/`uint64` to Float64Array. */
  data: T;
}

/** A malformed or unsupported `.npy`: `message` says what was wrong and how to fix it. */
export class NpyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NpyError';
  }
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

interface DtypeInfo {
  name: string;
  size: number;
  make: (buf: ArrayBuffer, off: number, n: number) => NpyData;
}

const DTYPES: Record<string, DtypeInfo> = {
  f4: { name: 'float32', size: 4, make: (b, o, n) => new Float32Array(b, o, n) },
  f8: { name: 'float64', size: 8, make: (b, o, n) => new Float64Array(b, o, n) },
  u1: { name: 'uint8', size: 1, make: (b, o, n) => new Uint8Array(b, o, n) },
  b1: { name: 'bool', size: 1, make: (b, o, n) => new Uint8Array(b, o, n) },
  i1: { name: 'int8', size: 1, make: (b, o, n) => new Int8Array(b, o, n) },
  i2: { name: 'int16', size: 2, make: (b, o, n) => new Int16Array(b, o, n) },
  u2: { name: 'uint16', size: 2, make: (b, o, n) => new Uint16Array(b, o, n) },
  i4: { name: 'int32', size: 4, make: (b, o, n) => new Int32Array(b, o, n) },
  u4: { name: 'uint32', size: 4, make: (b, o, n) => new Uint32Array(b, o, n) },
};
const WIDENED = new Set(['f2', 'i8', 'u8']);

/** Parse the header's Python dict literal (`{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`). */
function parseHeader(text: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descr?.[1] || !fortran?.[1] || shape?.[1] === undefined) {
    throw new NpyError(`the .npy header is not a NumPy header dict (got ${JSON.stringify(text.slice(0, 120))}); write the array with numpy.save`);
  }
  const dims = shape[1]
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const v = Number(s.replace(/L$/, ''));
      if (!Number.isInteger(v) || v < 0) throw new NpyError(`the .npy header has a bad shape entry ${JSON.stringify(s)}`);
      return v;
    });
  return { descr: descr[1], fortran: fortran[1] === 'True', shape: dims };
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/**
 * Parse `.npy` bytes into a typed array.
 *
 * @param bytes the whole file (e.g. the result of `api.call('artifactArray', …)`).
 * @param what a name for error messages (e.g. `points.npy`).
 * @throws NpyError on a bad magic string or header, an unsupported version, a Fortran-order array, a
 *   big-endian or unsupported dtype (object, strings, complex, structured), an int64 value beyond 2^53,
 *   or data shorter than the header's shape says.
 */
export function parseNpy(bytes: Uint8Array, what = 'array'): NpyArray {
  if (bytes.length < 10 || MAGIC.some((m, i) => bytes[i] !== m)) {
    throw new NpyError(`${what} is not a .npy file (missing the \\x93NUMPY magic string); the artifact store writes arrays with numpy.save`);
  }
  const major = bytes[6]!;
  let headerLen: number;
  let headerStart: number;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (major === 1) {
    headerLen = dv.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new NpyError(`${what} is truncated inside its header`);
    headerLen = dv.getUint32(8, true);
    headerStart = 12;
  } else {
    throw new NpyError(`${what} has .npy format version ${major}.${bytes[7]}; only versions 1, 2 and 3 are supported`);
  }
  const dataStart = headerStart + headerLen;
  if (bytes.length < dataStart) throw new NpyError(`${what} is truncated inside its header (${bytes.length} bytes, header ends at ${dataStart})`);
  const header = parseHeader(new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, dataStart)));
  if (header.fortran) {
    throw new NpyError(`${what} is stored in Fortran order; save it in C order (numpy.save(f, np.ascontiguousarray(a)))`);
  }
  const d = header.descr;
  const order = d[0];
  const code = d.slice(1);
  const info = DTYPES[code];
  const count = header.shape.reduce((a, b) => a * b, 1);
  if (!info && !WIDENED.has(code)) {
    throw new NpyError(`${what} has dtype ${JSON.stringify(d)}, which the inspector cannot read; use float32/float64/float16, uint8/bool, int8-int64 or uint16/uint32/uint64`);
  }
  const size = info?.size ?? (code === 'f2' ? 2 : 8);
  if (size > 1 && order === '>') {
    throw new NpyError(`${what} is big-endian (${d}); save it little-endian (a.astype(a.dtype.newbyteorder('<')))`);
  }
  if (size > 1 && order !== '<' && order !== '=') {
    throw new NpyError(`${what} has an unrecognised byte order in dtype ${JSON.stringify(d)}`);
  }
  const need = count * size;
  const have = bytes.length - dataStart;
  if (have < need) {
    throw new NpyError(`${what} is truncated: shape (${header.shape.join(', ')}) ${d} needs ${need} data bytes, the file has ${have}; download or copy it again`);
  }
  const off = bytes.byteOffset + dataStart;
  if (info) {
    let data: NpyData;
    if (off % info.size === 0) data = info.make(bytes.buffer as ArrayBuffer, off, count);
    else {
      const copy = new ArrayBuffer(need);
      new Uint8Array(copy).set(bytes.subarray(dataStart, dataStart + need));
      data = info.make(copy, 0, count);
    }
    return { descr: d, dtype: info.name, shape: header.shape, data };
  }
  const src = new DataView(bytes.buffer, off, need);
  if (code === 'f2') {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = halfToFloat(src.getUint16(i * 2, true));
    return { descr: d, dtype: 'float16', shape: header.shape, data: out };
  }
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const v = code === 'i8' ? src.getBigInt64(i * 8, true) : src.getBigUint64(i * 8, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new NpyError(`${what} element ${i} (${v}) is beyond 2^53 and cannot be read exactly as a JavaScript number`);
    }
    out[i] = Number(v);
  }
  return { descr: d, dtype: code === 'i8' ? 'int64' : 'uint64', shape: header.shape, data: out };
}

/** Check an array's shape against a pattern; `-1` matches any length. */
export function expectShape(a: NpyArray, pattern: number[], what: string): void {
  const ok = a.shape.length === pattern.length && pattern.every((p, i) => p === -1 || p === a.shape[i]);
  if (!ok) {
    const want = pattern.map((p) => (p === -1 ? '*' : String(p))).join(', ');
    throw new NpyError(`${what} has shape (${a.shape.join(', ')}), expected (${want})`);
  }
}

const DESCR_OF: Record<string, string> = {
  Float32Array: '<f4',
  Float64Array: '<f8',
  Uint8Array: '|u1',
  Int8Array: '|i1',
  Int16Array: '<i2',
  Uint16Array: '<u2',
  Int32Array: '<i4',
  Uint32Array: '<u4',
};

/**
 * Write a C-order little-endian `.npy` (version 1.0, header padded to 64 bytes as numpy does).
 * Used by the benchmark to write synthetic artifacts. `bool: true` writes a Uint8Array as `|b1`.
 */
export function writeNpy(data: NpyData, shape: number[], options: { bool?: boolean } = {}): Uint8Array {
  const descr = options.bool ? '|b1' : DESCR_OF[data.constructor.name];
  if (!descr) throw new NpyError(`cannot write a ${data.constructor.name} as .npy`);
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new NpyError(`shape (${shape.join(', ')}) holds ${count} elements, the data has ${data.length}`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}
