// One xend per socket: a lock file beside the socket (protocol.ts xendFiles), created exclusively
// (O_EXCL) and holding xend's pid. A lock whose process is gone (or is no xend: its pid was reused) is
// stale and is broken, under a second exclusive file so that two xends breaking it at once cannot both
// win. The socket and xenstored's socket are only ever removed by the xend that holds the lock.
import { openSync, writeSync, closeSync, readFileSync, unlinkSync, statSync, constants } from "node:fs";

function readPid(path: string): number | undefined {
  try {
    const s = readFileSync(path, "utf8").trim();
    return /^\d+$/.test(s) ? Number(s) : undefined;
  } catch { return undefined; }
}

/** Whether `pid` is a live xend (a live process we cannot inspect counts as one). */
function liveXend(pid: number): boolean {
  try { process.kill(pid, 0); } catch (e) { if ((e as NodeJS.ErrnoException).code !== "EPERM") return false; }
  try { return /xend/.test(readFileSync(`/proc/${pid}/cmdline`, "latin1")); } catch { return true; }
}

export class LockHeld extends Error {
  constructor(readonly pid: number, path: string) { super(`another xend (pid ${pid}) holds ${path}`); }
}

/** Take the lock at `path` (throws LockHeld if a live xend has it); returns its release. */
export function takeLock(path: string): () => void {
  for (let tries = 0; tries < 50; tries++) {
    try {
      const fd =
        openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => { if (readPid(path) === process.pid) { try { unlinkSync(path); } catch { /* gone */ } } };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST")
        throw new Error(`cannot make the lock ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const pid = readPid(path);
    if (pid !== undefined && pid !== process.pid && liveXend(pid)) throw new LockHeld(pid, path);
    if (pid === undefined) {
      // Being written this very moment (or garbage): garbage older than a second is stale.
      let age = 0;
      try { age = Date.now() - statSync(path).mtimeMs; } catch { continue; }
      if (age < 1000) { sleepSync(20); continue; }
    }
    // Stale: break it, one breaker at a time, and only if it is still the stale one.
    const brk = `${path}.break`;
    let fd: number;
    try {
      fd = openSync(brk, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    } catch {
      try { if (Date.now() - statSync(brk).mtimeMs > 10000) unlinkSync(brk); } catch { /* gone */ }
      sleepSync(20);
      continue;
    }
    closeSync(fd);
    try {
      if (readPid(path) === pid) unlinkSync(path);
    } catch { /* gone */ } finally { try { unlinkSync(brk); } catch { /* gone */ } }
  }
  throw new Error(`cannot take the lock ${path}`);
}

function sleepSync(ms: number): void { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); }
