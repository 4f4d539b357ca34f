// A bare machine: one vCPU, flat segments, paging off (long mode with paging off is identity-mapped
// by the core), RAM at guest-physical 0, an ELF32/ELF64 program loaded at its physical addresses.
// Port 0xE9: console output, one byte per write. Port 0xF4: a write ends the run with that status.
import { Core, MM, type CoreSource } from "./core";
import type { JitMode, JitStats } from "./jit/jit";
import { parseElf, type ElfImage } from "./elf";

export const PORT_CONSOLE = 0xe9;
export const PORT_EXIT = 0xf4;
export const DEFAULT_RAM = 64 << 20;
/** The wasm memory is at most 4 GiB and machine memory starts at MACHINE_BASE. */
export const MAX_RAM = 0x1_0000_0000 - MM.MACHINE_BASE;

export type BareReason = "exit" | "halt" | "fault" | "triple-fault" | "limit" | "unexpected";

export interface BareOptions {
  /** RAM in bytes (default 64 MiB, a multiple of 4 KiB). */
  ram?: number;
  /** Called with console bytes as they come (once per run slice, and at the end). */
  onOutput?(bytes: Uint8Array): void;
  /** Stop with reason "limit" after about this many instructions (default: no limit). */
  maxInstructions?: number;
  /** The JIT tier for this machine (default: XENWASM_JIT, else on). */
  jit?: JitMode;
  /** Instructions per core.run() call (default 1 000 000). */
  slice?: number;
  /** The core's code (default: see Core.create). */
  core?: CoreSource | Promise<CoreSource>;
}

export interface BareResult {
  /** The guest's exit status (port 0xF4), 0 for a halted guest, 1 for a fault or an instruction limit. */
  status: number;
  reason: BareReason;
  /** One line explaining a reason other than "exit" (e.g. `guest fault: #UD at rip=0x100004`). */
  message?: string;
  /** Everything the guest wrote to port 0xE9 (UTF-8 decoded). */
  output: string;
  instructions: number;
  seconds: number;
  /** The JIT tier's figures for the run (runBare, when the JIT was on). */
  jit?: JitStats;
}

const VECTORS = [
  "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#CO", "#TS", "#NP", "#SS", "#GP", "#PF",
  "#15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP"];

export function vectorName(v: number): string {
  return v >= 0 && v < VECTORS.length ? VECTORS[v] : `vector ${v}`;
}

const hex = (n: number | bigint) => "0x" + n.toString(16);

export class BareMachine {
  readonly core: Core;
  readonly ram: number;
  image: ElfImage | null = null;
  private out: number[] = [];
  private all: number[] = [];
  private exitStatus: number | null = null;
  private used = false; // an image was loaded into RAM (a fresh core's memory is zero)
  private onOutput?: (bytes: Uint8Array) => void;

  private constructor(core: Core, ram: number) {
    this.core = core;
    this.ram = ram;
  }

  static async create(opts: BareOptions = {}): Promise<BareMachine> {
    const ram = opts.ram ?? DEFAULT_RAM;
    if (!Number.isInteger(ram) || ram <= 0 || ram % MM.PAGE_SIZE !== 0)
      throw new Error(`RAM size ${ram} is not a positive multiple of 4 KiB`);
    if (ram > MAX_RAM)
      throw new Error(`RAM size ${Math.floor(ram / 2 ** 20)} MiB is too large (at most ${MAX_RAM >>> 20} MiB)`);
    const core = await Core.create(
      {}, { ...(opts.jit ? { mode: opts.jit } : {}), ...(opts.core !== undefined ? { core: opts.core } : {}) }
    );
    const m = new BareMachine(core, ram);
    m.onOutput = opts.onOutput;
    core.setHooks({
      ioIn: (_port, size) => (size === 4 ? -1 : (1 << (size * 8)) - 1),
      ioOut: (port, _size, value) => {
        if (port === PORT_CONSOLE) {
          m.out.push(value & 0xff);
          return false;
        }
        if (port === PORT_EXIT) {
          m.exitStatus = value | 0;
          return true;
        }
        return false;
      },
    });
    core.ensureMemory(MM.MACHINE_BASE + ram);
    core.x.set_phys_window(MM.MACHINE_BASE, ram);
    return m;
  }

  /** Loads an ELF executable (bytes or already parsed) and resets the vCPU to its entry point. */
  load(elf: Uint8Array, parsed?: ElfImage): ElfImage {
    const img = parsed ?? parseElf(elf);
    for (const s of img.segments) {
      if (s.paddr + s.memsz > this.ram) {
        throw new Error(
          `ELF segment ${s.index} ` + `(${hex(s.paddr)}-${hex(s.paddr + s.memsz - 1)}) does not `
            + `fit in ${this.ramText()} of RAM`
        );
      }
    }
    if (img.entry >= this.ram) throw new Error(`ELF entry point ${hex(img.entry)} is outside ${this.ramText()} of RAM`);
    const b = this.core.bytes();
    // (RAM of a machine just made is zero already: filling it would cost ~70 ms and all of it resident)
    if (this.used) b.fill(0, MM.MACHINE_BASE, MM.MACHINE_BASE + this.ram);
    this.used = true;
    for (const s of img.segments) {
      const at = MM.MACHINE_BASE + s.paddr;
      b.set(elf.subarray(s.offset, s.offset + s.filesz), at);
      b.fill(0, at + s.filesz, at + s.memsz); // bss
    }
    const x = this.core.x;
    x.cpu_reset_flat(img.bits === 64 ? MM.MODE_LONG64 : MM.MODE_PROT32, 0);
    this.core.rip = BigInt(img.entry);
    this.core.setReg(4, BigInt(this.ram)); // RSP: top of RAM (the runtime sets its own stack anyway)
    x.cpu_state_changed();
    x.tlb_flush();
    x.dcache_flush();
    this.image = img;
    this.exitStatus = null;
    this.out = [];
    this.all = [];
    return img;
  }

  private ramText(): string {
    return this.ram % (1 << 20) === 0 ? `${this.ram / (1 << 20)} MiB` : `${this.ram} bytes`;
  }

  private flush(): void {
    if (this.out.length === 0) return;
    const chunk = Uint8Array.from(this.out);
    for (const c of this.out) this.all.push(c);
    this.out = [];
    this.onOutput?.(chunk);
  }

  /** Runs the loaded program until it exits, halts, faults or reaches the instruction limit. */
  run(opts: Pick<BareOptions, "maxInstructions" | "slice"> = {}): BareResult {
    if (!this.image) throw new Error("no program loaded");
    const core = this.core;
    const slice = opts.slice ?? 1_000_000;
    const limit = opts.maxInstructions ?? Infinity;
    const insns0 = core.u64(MM.CPU_INSNS);
    const t0 = performance.now();
    let reason: BareReason;
    let status = 0;
    let message: string | undefined;
    for (;;) {
      const exit = core.run(slice);
      this.flush();
      if (exit === MM.EXIT_BUDGET) {
        if (Number(core.u64(MM.CPU_INSNS) - insns0) >= limit) {
          reason = "limit"; status = 1;
          message = `instruction limit reached (${limit}) at rip=${hex(core.rip)}`;
          break;
        }
        continue;
      }
      if (exit === MM.EXIT_HOST && this.exitStatus !== null) {
        reason = "exit"; status = this.exitStatus;
      } else if (exit === MM.EXIT_HLT) {
        reason = "halt"; status = 0;
        message = `guest halted at rip=${hex(core.rip)}`;
      } else if (exit === MM.EXIT_UNHANDLED) {
        reason = "fault"; status = 1;
        const err = core.exitError;
        const code = err >= 0 ? ` (error code ${hex(err)})` : "";
        message = `guest fault: ${vectorName(core.exitVector)}${code} at rip=${hex(core.rip)}`;
        if (core.exitVector === 14) message += ` address=${hex(core.u64(MM.CPU_CR2))}`;
      } else if (exit === MM.EXIT_TRIPLE_FAULT) {
        reason = "triple-fault"; status = 1;
        message = `guest triple fault at rip=${hex(core.rip)}`;
      } else {
        reason = "unexpected"; status = 1;
        message = `unexpected exit reason ${exit} (vector ${core.exitVector}) at rip=${hex(core.rip)}`;
      }
      break;
    }
    const seconds = (performance.now() - t0) / 1e3;
    return {
      status, reason, message,
      output: new TextDecoder().decode(Uint8Array.from(this.all)),
      instructions: Number(core.u64(MM.CPU_INSNS) - insns0),
      seconds,
    };
  }
}

/** Creates a bare machine, loads `elf` and runs it. */
export async function runBare(elf: Uint8Array, opts: BareOptions = {}): Promise<BareResult> {
  const img = parseElf(elf); // before the (costlier) machine
  const m = await BareMachine.create(opts);
  m.load(elf, img);
  const r = m.run(opts);
  if (m.core.jit) r.jit = m.core.jit.stats();
  return r;
}
