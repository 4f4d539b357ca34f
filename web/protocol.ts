// Messages between the page (main.ts) and its Worker (worker.ts).
export type ToWorker =
  | { type: "boot"; bundled: boolean; kernel?: ArrayBuffer; ramdisk?: ArrayBuffer; cmdline: string; memoryMiB: number }
  | { type: "input"; data: string }
  | { type: "bench"; names: string[] };
export type FromWorker =
  | { type: "console"; bytes: Uint8Array }
  | { type: "status"; text: string }
  | { type: "bench"; result: { name: string; instructions: number; seconds: number; mips: number }[] };
