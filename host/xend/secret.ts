// The relocation secret: what every incoming migration must prove it knows (HMAC-SHA256 of the
// receiver's challenge), and the key of the MAC that xend puts on the save files it writes. From
// XEND_RELOCATION_SECRET, or the file XEND_RELOCATION_SECRET_FILE, or else a random one that xend
// keeps in `relocation.secret` (mode 0600) in the per-user directory $TMPDIR/xenwasm-UID (mode 0700,
// owned by the user): so two xends of one user on one machine share it, and nobody else can read it.
import {
  openSync, fstatSync, writeSync, closeSync, readFileSync, lstatSync, mkdirSync, linkSync, unlinkSync, constants
} from "node:fs";
import { randomBytes, createHmac } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";

const uid = () => (typeof process.getuid === "function" ? process.getuid() : 0);

export function defaultSecretFile(): string { return join(tmpdir(), `xenwasm-${uid()}`, "relocation.secret"); }

/** A directory of ours: created 0700 if missing; refused if it is a symlink, someone else's, or open to others. */
export function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new Error(`${dir} is not a directory`);
  if (st.uid !== uid()) throw new Error(`${dir} belongs to uid ${st.uid}, not to us (uid ${uid()})`);
  if (st.mode & 0o077)
    throw new Error(`${dir} is open to other users (mode ${(st.mode & 0o777).toString(8)}; it must be 0700)`);
}

function readSecretFile(path: string, mustBeOurs: boolean): string {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`${path} is not a regular file`);
    if (mustBeOurs && (st.uid !== uid() || (st.mode & 0o077))) throw new Error(`${path} must be ours and mode 0600`);
    if (st.size > 4096) throw new Error(`${path} is too large for a secret`);
    const s = readFileSync(fd, "utf8").trim();
    if (s.length < 16) throw new Error(`the secret in ${path} is too short (at least 16 characters)`);
    return s;
  } finally { closeSync(fd); }
}

/** The secret this xend (or xm, for a sender) uses; `create`: make the default one if there is none. */
export function relocationSecret(env: NodeJS.ProcessEnv = process.env, create = true): string | undefined {
  if (env.XEND_RELOCATION_SECRET) return env.XEND_RELOCATION_SECRET;
  if (env.XEND_RELOCATION_SECRET_FILE) return readSecretFile(env.XEND_RELOCATION_SECRET_FILE, false);
  const file = defaultSecretFile();
  const dir = join(file, "..");
  privateDir(dir);
  try { return readSecretFile(file, true); } catch (e) { if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e; }
  if (!create) return undefined;
  // Written whole under a temporary name, then linked into place: a racing xend reads either no
  // file or the complete one, and the first link wins.
  const tmp = join(dir, `relocation.secret.${process.pid}.${randomBytes(4).toString("hex")}`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try { writeSync(fd, randomBytes(32).toString("hex") + "\n"); } finally { closeSync(fd); }
  try {
    linkSync(tmp, file);
  } catch (e) { if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e; } finally { unlinkSync(tmp); }
  return readSecretFile(file, true);
}

/** The MAC of a save file's bytes (xend's own files carry it; see daemon.ts). */
export function saveMac(secret: string, bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac("sha256", secret).update("xenwasm save file\0").update(bytes).digest());
}

/** The uid of the process listening on loopback TCP `port` (Linux: /proc/net/tcp{,6}), if any. */
export function loopbackListenerUid(port: number): number | undefined {
  for (const f of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try { text = readFileSync(f, "utf8"); } catch { continue; }
    for (const line of text.split("\n").slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c.length < 8 || c[3] !== "0A") continue; // LISTEN
      const [, p] = c[1].split(":");
      if (parseInt(p, 16) === port) return Number(c[7]);
    }
  }
  return undefined;
}

/**
 * The secret to answer a loopback receiver's challenge with. With no XEND_RELOCATION_SECRET[_FILE], a
 * receiver of another user has its own secret file: we read it if we can (root can; anyone else
 * cannot, and is refused by the receiver). Otherwise our own secret.
 */
export function secretForLoopback(
  port: number, own: string | undefined, env: NodeJS.ProcessEnv = process.env
): string | undefined {
  if (env.XEND_RELOCATION_SECRET || env.XEND_RELOCATION_SECRET_FILE) return own;
  const other = loopbackListenerUid(port);
  if (other === undefined || other === uid()) return own;
  const file = join(tmpdir(), `xenwasm-${other}`, "relocation.secret");
  try {
    const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const st = fstatSync(fd);
      if (!st.isFile() || st.uid !== other || (st.mode & 0o077) || st.size > 4096) return own;
    } finally { closeSync(fd); }
    return readSecretFile(file, false);
  } catch { return own; }
}
