// The receiving side of migration: xend's relocation listener. Every connection, on every address
// (loopback too: on a multi-user host it is no trust boundary), must prove it knows the shared secret
// (HMAC-SHA256 of our random challenge) before anything else is read; beyond loopback the peer must
// also be on an allow-list. The sender's config is then validated by our own rules (MigrateTarget.admit:
// the config file validator, disk paths against this host's rules), and every record is bounded. Each connection
// builds one domain, paused, page by page (host/save/save.ts Receiver); after END it is restored and we
// answer RESTORED; on COMMIT it is unpaused and we answer DONE. A connection lost or a bad record before
// COMMIT destroys what was built: nothing half-made survives.
import { createServer, Server, Socket, isIP } from "node:net";
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { XenHost, DomainHandle } from "../pv/host";
import { REC, StreamError, Record, MAX_RECORD } from "../save/stream";
import { Receiver, checkFinal } from "../save/save";
import { RecordConn, json } from "./conn";
import { authFor } from "./send";

/** T: the receiver's own form of an admitted toolstack record. */
export interface MigrateTarget<T = unknown> {
  host: XenHost;
  nameInUse(name: string): boolean;
  /** The sender's toolstack record, validated by the receiver's own rules (a config file's validator,
   * its paths against this host's rules); throws a one-line Error to refuse it. */
  admit(toolstack: unknown, info: { name: string; memoryMiB: number; vcpus: number }): { ts: T; notes: string[] };
  /** Devices for the domain from an admitted record. */
  devices(ts: T): { disks?: { path: string; vdev: string; writable: boolean }[]; vifs?: { mac?: string }[] };
  /** Take a restored (paused) domain into the toolstack. */
  adopt(h: DomainHandle, ts: T, notes: string[]): void;
  destroy(id: number): void;
  wake(): void;
  log(s: string): void;
}

export interface RelocationOptions {
  address: string; port: number;
  /** Peer addresses allowed to connect (needed, with a secret, when `address` is not loopback). */
  allow: string[];
  secret?: string;
}

/** The domain's records after the pages (DOMAIN, FRAMES, VCPUs, XENSTORE, TOOLSTACK): 64 MiB at most. */
const MAX_FINAL_BYTES = 64 << 20;
/** Before authentication a peer may send its HELLO and no more: 1 MiB. */
const PRE_AUTH_RECORD = 1 << 20;
/** Connections at once (each holds buffers; the handshake has 30 s): more are refused by the kernel's backlog. */
const MAX_CONNECTIONS = 16;

export const isLoopback = (a: string) =>
  a === "127.0.0.1" || a === "::1" || a === "localhost" || a.startsWith("127.") || a === "::ffff:127.0.0.1";

/** Check the options: every listener needs a secret; one beyond loopback also an allow-list. */
export function checkRelocation(o: RelocationOptions): string | undefined {
  if (!isLoopback(o.address) && o.allow.length === 0)
    return `relocation on ${o.address} needs an allow-list (XEND_RELOCATION_HOSTS_ALLOW)`;
  if (!o.secret)
    return `relocation on ${o.address} needs a shared secret (XEND_RELOCATION_SECRET, or xend's own secret file)`;
  if (!(Number.isInteger(o.port) && o.port > 0 && o.port < 65536)) return `bad relocation port ${o.port}`;
  if (o.address !== "localhost" && isIP(o.address) === 0) return `bad relocation address ${o.address}`;
  return undefined;
}

function peerAllowed(o: RelocationOptions, peer: string): boolean {
  if (isLoopback(peer) && isLoopback(o.address)) return true;
  const p = peer.replace(/^::ffff:/, "");
  return o.allow.some((a) => a === p || a === peer);
}

export function startRelocation<T>(t: MigrateTarget<T>, o: RelocationOptions): Promise<Server> {
  const bad = checkRelocation(o);
  if (bad) return Promise.reject(new Error(bad));
  const server = createServer((sock) => {
    const peer = sock.remoteAddress ?? "";
    if (!peerAllowed(o, peer)) {
      t.log(`relocation: refused a connection from ${peer} (not allowed)`); sock.destroy(); return;
    }
    serve(t, o, sock, peer).catch(() => { /* reported inside */ });
  });
  server.maxConnections = MAX_CONNECTIONS;
  return new Promise((res, rej) => {
    server.once("error", rej);
    server.listen(o.port, o.address, () => { server.off("error", rej); res(server); });
  });
}

async function serve<T>(t: MigrateTarget<T>, o: RelocationOptions, sock: Socket, peer: string): Promise<void> {
  const conn = new RecordConn(sock);
  conn.reader.maxRecord = PRE_AUTH_RECORD; // until the peer has proved it knows the secret
  let rx: Receiver | undefined;
  let adopted: number | undefined;
  let committed = false;
  try {
    const nonce = randomBytes(32);
    await conn.send(REC.CHALLENGE, nonce);
    const hello = json<{
      name: string; width: number; vcpus: number; pages: number; maxPages: number; toolstack: unknown; auth?: string
    }>(await conn.expect(REC.HELLO, 30000));
    const refuse = async (why: string) => { await conn.send(REC.REFUSE, new TextEncoder().encode(why)); conn.close(); };
    if (typeof hello !== "object" || hello === null) return refuse("bad HELLO");
    // No secret, no service (checkRelocation sees to it; this is the last line of defence).
    const want = Buffer.from(authFor(o.secret ?? randomBytes(32).toString("hex"), nonce));
    const got = Buffer.from(typeof hello.auth === "string" ? hello.auth : "");
    if (!o.secret || got.length !== want.length || !timingSafeEqual(got, want)) {
      t.log(`relocation: refused a connection from ${peer}: authentication failed`);
      return refuse(
        "authentication failed (the shared secrets differ: XEND_RELOCATION_SECRET, or the receiving xend's secret file)"
      );
    }
    conn.reader.maxRecord = MAX_RECORD;
    if (typeof hello.name !== "string" || (hello.width !== 32 && hello.width !== 64)
        || !(Number.isInteger(hello.vcpus) && hello.vcpus >= 1 && hello.vcpus <= 32)
      || !(Number.isInteger(hello.pages) && hello.pages > 0)
        || !(Number.isInteger(hello.maxPages) && hello.maxPages >= 0)
    ) return refuse("bad HELLO");
    let admitted: { ts: T; notes: string[] };
    try {
      admitted =
        t.admit(hello.toolstack, { name: hello.name, memoryMiB: Math.ceil(hello.pages / 256), vcpus: hello.vcpus });
    } catch (e) { return refuse((e as Error).message); }
    if (t.nameInUse(hello.name)) return refuse(`a domain named ${hello.name} already exists on the receiving host`);
    if (t.host.core.x.hv_frames_free() < hello.pages + 64)
      return refuse(`not enough free memory on the receiving host (${hello.pages >> 8} MiB needed)`);
    // The sender asks for its pages and some room (+1024: what our sender adds); no more.
    rx = new Receiver(
      t.host, hello.width, hello.vcpus, Math.min(Math.max(hello.maxPages, hello.pages + 64), hello.pages + 1088)
    );
    await conn.send(REC.ACCEPT);
    t.log(`relocation: receiving ${hello.name} from ${peer} as domain ${rx.domid}`);
    const finals: Record[] = [];
    let finalBytes = 0;
    for (;;) {
      const r = await conn.next(120000);
      if (r.type === REC.PAGES) { rx.pages(r.body); continue; }
      if (r.type === REC.SYNC) { await conn.send(REC.SYNCED); continue; } // caught up with a round
      if (r.type === REC.END) break;
      finals.push(r);
      finalBytes += r.body.length;
      if (finals.length > 16 + 2 * hello.vcpus || finalBytes > MAX_FINAL_BYTES)
        throw new StreamError("too many records before END");
    }
    const tEnd = performance.now();
    const f = checkFinal(finals);
    if (f.info.name !== hello.name || f.info.vcpus !== hello.vcpus)
      throw new StreamError("the domain's records do not match its HELLO");
    if (f.toolstack !== undefined) admitted = t.admit(f.toolstack, f.info);
    const h = rx.finish(f, t.devices(admitted.ts), false);
    adopted = h.domid;
    t.adopt(h, admitted.ts, admitted.notes);
    await conn.sendJson(REC.RESTORED, { restoreMs: performance.now() - tEnd });
    await conn.expect(REC.COMMIT, 60000);
    const tCommit = performance.timeOrigin + performance.now();
    committed = true;
    t.host.core.x.hv_domain_pause(h.domid, 0);
    t.wake();
    await conn.sendJson(
      REC.DONE, { ok: true, domid: h.domid, tCommit, tDone: performance.timeOrigin + performance.now() }
    );
    t.log(`relocation: ${hello.name} (domain ${h.domid}) runs here now`);
    conn.close();
  } catch (e) {
    // StreamError and the config validator's Error are refusals; anything else (a TypeError, a wasm
    // trap) is a bug of ours, said as such.
    const internal = !(e instanceof StreamError) && !(e instanceof Error && e.constructor === Error);
    const msg = internal ? `internal error (${(e as Error)?.name}): ${(e as Error)?.message}` : (e as Error).message;
    if (!committed) {
      if (adopted !== undefined) t.destroy(adopted); else rx?.abort();
      try {
        await conn.send(REC.ERROR, new TextEncoder().encode(e instanceof StreamError ? msg : `receiver: ${msg}`));
      } catch { /* gone */ }
      t.log(`relocation: an incoming migration from ${peer} failed: ${msg}`);
    }
    conn.destroy();
  }
}
