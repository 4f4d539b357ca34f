// The xz decoder with its inner loops in WebAssembly: xzwasm/xz.ts (AssemblyScript: LZMA chunks, the
// x86 BCJ filter, CRC32), compiled by `npm run asbuild` to build/xz.wasm, whose bytes are embedded in the
// bundle (build/xzwasm.ts, base64), so it runs wherever the host runs (Node, Bun, Deno, browsers). The
// container, LZMA2's chunk headers, CRC64 and every error message are ./xz.ts's (WasmXzDecoder is its
// XzDecoder with the output in the module's memory), so both decoders give the same output or the same
// error for any input. Each decode has an instance of its own: its memory (64 KiB of the module's,
// 64 KiB of probabilities and CRC tables, the input, the output: the output is its own dictionary) is
// grown to the output's size (the size hint, doubling past it, never past the limit) and dropped with
// the output. Where WebAssembly is missing, or the module cannot be compiled, instantiated or grown
// (a browser's main thread refusing a synchronous compile, no memory for it), xz.ts's decoder runs.
import { XzDecoder, XzLimit, bad, crc64 } from "./xz";
import { XZ_WASM_BASE64 } from "../../build/xzwasm";

interface XzWasmExports {
  memory: WebAssembly.Memory;
  inBase(): number;
  outPos(): number;
  inPos(): number;
  init(): void;
  resetState(): void;
  lzmaChunk(
    op: number, outEnd: number, ip: number, inEnd: number, dictStart: number, lc: number, lp: number, pb: number
  ): number;
  crc32(from: number, to: number): number;
  bcjX86(from: number, to: number, startOffset: number): void;
}

// lzmaChunk's error codes (xzwasm/xz.ts) as xz.ts words them.
const ERRORS = ["", "truncated LZMA data", "LZMA distance beyond the data", "LZMA repeat with no data",
  "LZMA end marker inside LZMA2",
  "LZMA match past its chunk", "LZMA chunk does not end cleanly", "bad range coder start"];

const PAGE = 65536;
/** Bytes past the output's end the match copy may write (8 at a time). */
const SLACK = 16;

let module: WebAssembly.Module | null | undefined; // (null: compiling failed once; not tried again)
let compiling: Promise<WebAssembly.Module | null> | undefined;

function bytes(): Uint8Array<ArrayBuffer> {
  const s = atob(XZ_WASM_BASE64), b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

/** The compiled module (synchronously), or null without WebAssembly. */
export function xzWasmModule(): WebAssembly.Module | null {
  if (module === undefined) {
    try { module = new WebAssembly.Module(bytes()); } catch { module = null; }
  }
  return module;
}

/** The compiled module, compiled asynchronously (a browser's main thread allows that for any size). */
export function xzWasmModuleAsync(): Promise<WebAssembly.Module | null> {
  if (module !== undefined) return Promise.resolve(module);
  compiling ??= (async () => {
    try { module = await WebAssembly.compile(bytes()); } catch { module = null; }
    return module;
  })();
  return compiling;
}

/** Thrown for what is no fault of the data (no memory for the instance): xzDecode falls back to xz.ts. */
class WasmUnavailable extends Error {}

/** XzDecoder with the output, LZMA, BCJ and CRC32 in a fresh instance of the module. */
export class WasmXzDecoder extends XzDecoder {
  private x!: XzWasmExports;
  private outBase = 0;
  private cap = 0; // the output's room (the memory holds outBase + cap + SLACK)

  constructor(private readonly mod: WebAssembly.Module, input: Uint8Array, limit: number, sizeHint?: number) {
    super(input, limit, sizeHint);
  }

  protected override begin(): void {
    try {
      this.x = new WebAssembly.Instance(this.mod, {}).exports as unknown as XzWasmExports;
    } catch (e) { throw new WasmUnavailable(`xz: no WebAssembly instance: ${(e as Error).message}`); }
    const x = this.x, inBase = x.inBase();
    this.outBase = (inBase + this.inp.length + 15) & ~15;
    this.grow(this.initialSize());
    new Uint8Array(x.memory.buffer).set(this.inp, inBase);
    x.init();
  }

  /** The instance's memory in bytes (0 before run() starts): at most the limit + the input + 192 KiB. */
  get memoryBytes(): number { return this.x ? this.x.memory.buffer.byteLength : 0; }

  /** Room for `cap` bytes of output (the memory grows; its contents stay). */
  private grow(cap: number): void {
    const m = this.x.memory, need = Math.ceil((this.outBase + cap + SLACK) / PAGE) - m.buffer.byteLength / PAGE;
    if (need > 0) {
      try {
        m.grow(need);
      } catch (e) { throw new WasmUnavailable(`xz: no memory for ${cap} bytes of output: ${(e as Error).message}`); }
    }
    this.cap = cap;
  }

  protected override room(n: number): void {
    const need = this.pos + n;
    if (need > this.limit) throw new XzLimit();
    if (need > this.cap) this.grow(Math.min(this.limit, Math.max(need, this.cap * 2)));
  }

  protected override copyIn(n: number): void {
    new Uint8Array(this.x.memory.buffer).set(this.inp.subarray(this.ip, this.ip + n), this.outBase + this.pos);
  }

  protected override resetState(): void { this.x.resetState(); }

  protected override lzmaChunk(outEnd: number, inEnd: number): void {
    const x = this.x, inBase = x.inBase(), ob = this.outBase;
    const r = x.lzmaChunk(
      ob + this.pos, ob + outEnd, inBase + this.ip, inBase + inEnd, ob + this.dictStart, this.lc, this.lp, this.pb
    );
    if (r !== 0) throw bad(ERRORS[r] ?? `LZMA error ${r}`);
    this.pos = (x.outPos() >>> 0) - ob;
    this.ip = (x.inPos() >>> 0) - inBase;
  }

  protected override bcj(from: number, to: number, startOffset: number): void {
    this.x.bcjX86(this.outBase + from, this.outBase + to, startOffset);
  }

  protected override crc32Out(from: number, to: number): number {
    return this.x.crc32(this.outBase + from, this.outBase + to) >>> 0;
  }

  protected override crc64Out(from: number, to: number): [number, number] {
    return crc64(new Uint8Array(this.x.memory.buffer), this.outBase + from, this.outBase + to);
  }

  /** The output: a view of the instance's memory (no copy; the memory goes when the output goes). */
  protected override result(): Uint8Array {
    return new Uint8Array(this.x.memory.buffer, this.outBase, this.pos);
  }
}

/** Which decoder xzDecode uses: "wasm" (the default where WebAssembly runs) or "js" (xz.ts's). */
export type XzImpl = "wasm" | "js";

/** Decode one xz stream (as XzDecoder's run(): yields between LZMA2 chunks) with the WebAssembly
 * decoder, or xz.ts's where that cannot run (`mod` null, or given "js"). */
export function* xzDecode(
  input: Uint8Array, limit: number, sizeHint?: number, mod: WebAssembly.Module | null | "js" = xzWasmModule()
): Generator<void, Uint8Array> {
  if (mod !== null && mod !== "js") {
    try { return yield* new WasmXzDecoder(mod, input, limit, sizeHint).run(); } catch (e) {
      if (!(e instanceof WasmUnavailable)) throw e; // (XzError, XzLimit: the data's fault)
    }
  }
  return yield* new XzDecoder(input, limit, sizeHint).run();
}
