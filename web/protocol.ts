// Messages between the page (main.ts) and its Worker (worker.ts).
export type ToWorker =
  | {
    type: "boot"; bundled: boolean; kernel?: ArrayBuffer; ramdisk?: ArrayBuffer; cmdline: string; memoryMiB: number;
    disk: boolean
  }
  | { type: "input"; data: string }
  | { type: "bench"; names: string[] }
  // The page's disk (xvda, in the origin-private file system): what there is; a new empty one; an image file.
  | { type: "disk"; action: "info" }
  | { type: "disk"; action: "create"; mib: number }
  | { type: "disk"; action: "import"; file: File };
export type FromWorker =
  | { type: "console"; bytes: Uint8Array }
  | { type: "status"; text: string }
  | { type: "bench"; result: { name: string; instructions: number; seconds: number; mips: number }[] }
  // The disk as it is now (`present`: there is one to attach) or what went wrong (`error`).
  | { type: "disk"; present: boolean; text: string; error?: boolean };
