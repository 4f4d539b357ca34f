// xenwasm as a library, platform-neutral: the same in Node, Bun, Deno, a browser page or a Worker
// (`import { XenHost, BareMachine } from "xenwasm"`; package.json "exports" picks host/node/index.ts under
// Node, Bun and Deno, which adds files). Nothing reachable from here imports a `node:` module
// (tests/embed.test.ts). The core comes from the caller: `setCoreModule(fetch(".../xenwasm.wasm"))`, or
// `{ core }` in XenHost.create / BareMachine.create options.
export {
  Core, MM, CoreAbiError, setCoreModule, compileCore, type CoreSource, type CoreHooks, type CoreOptions,
  type CoreExports
} from "./core";
export {
  BareMachine, runBare, vectorName, PORT_CONSOLE, PORT_EXIT, DEFAULT_RAM, MAX_RAM, type BareOptions, type BareResult,
  type BareReason
} from "./bare";
export { XenHost, SHUTDOWN_NAMES, type DomainHandle, type VifSpec, type AdoptSpec } from "./pv/host";
export type { BuildOptions } from "./pv/builder";
export type { DiskSpec } from "./devices/block/blkback";
export { MemoryBlockDevice } from "./devices/block/memory";
export {
  OpfsBlockDevice, openOpfsDisk, importOpfsDisk, createOpfsDisk, opfsDiskSize, opfsUnavailable, type SyncAccessHandle
} from "./devices/block/opfs";
export { loadKernelImage, loadKernelImageAsync, KERNEL_MAX_BYTES } from "./pv/image";
export { parseElf, type ElfImage } from "./elf";
export { platform, setPlatform, yieldToEventLoop, type Platform, type BlockDevice } from "./platform";
export type { JitMode, JitStats } from "./jit/jit";
export { DS_RUNNING, DS_SHUTDOWN, DS_FREE } from "../assembly/records";
