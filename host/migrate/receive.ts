// The receiving side of migration: xend's relocation listener. Loopback only unless configured with
// an allow-list of peer addresses and a shared secret (HMAC-SHA256 of our challenge). Each connection
// builds one domain, paused, page by page (host/save/save.ts Receiver); after END it is restored and we
// answer RESTORED; on COMMIT it is unpaused and we answer DONE. A connection lost or a bad record before
// COMMIT destroys what was built: nothing half-made survives.
import { createServer, Server, Socket, isIP } from "node:net";
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { XenHost, DomainHandle } from "../pv/host";
import { REC, StreamError, Record } from "../save/stream";
import { Receiver, checkFinal } from "../save/save";
import { RecordConn, json } from "./conn";
import { authFor } from "./send";

export interface MigrateTarget {
  host: XenHost;
  nameInUse(name: string): boolean;
  /** Devices for the domain from the sender's toolstack record. */
  devices(toolstack: unknown): { disks?: { path: string; vdev: string; writable: boolean }[]; vifs?: { mac?: string }[] };
  /** Take a restored (paused) domain into the toolstack. */
  adopt(h: DomainHandle, toolstack: unknown): void;
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

const isLoopback = (a: string) => a === "127.0.0.1" || a === "::1" || a === "localhost" || a.startsWith("127.") || a === "::ffff:127.0.0.1";

/** Check the options: a listener beyond loopback needs an allow-list and a secret. */
export function checkRelocation(o: RelocationOptions): string | undefined {
  if (!isLoopback(o.address)) {
    if (o.allow.length === 0) return `relocation on ${o.address} needs an allow-list (XEND_RELOCATION_HOSTS_ALLOW)`;
    if (!o.secret) return `relocation on ${o.address} needs a shared secret (XEND_RELOCATION_SECRET)`;
  }
  if (!(Number.isInteger(o.port) && o.port > 0 && o.port < 65536)) return `bad relocation port ${o.port}`;
  if (o.address !== "localhost" && isIP(o.address) === 0) return `bad relocation address ${o.address}`;
  return undefined;
}

function peerAllowed(o: RelocationOptions, peer: string): boolean {
  if (isLoopback(peer) && isLoopback(o.address)) return true;
  const p = peer.replace(/^::ffff:/, "");
  return o.allow.some((a) => a === p || a === peer);
}

export function startRelocation(t: MigrateTarget, o: RelocationOptions): Promise<Server> {
  const bad = checkRelocation(o);
  if (bad) return Promise.reject(new Error(bad));
  const server = createServer((sock) => {
    const peer = sock.remoteAddress ?? "";
    if (!peerAllowed(o, peer)) { t.log(`relocation: refused a connection from ${peer} (not allowed)`); sock.destroy(); return; }
    serve(t, o, sock, peer).catch(() => { /* reported inside */ });
  });
  return new Promise((res, rej) => {
    server.once("error", rej);
    server.listen(o.port, o.address, () => { server.off("error", rej); res(server); });
  });
}

async function serve(t: MigrateTarget, o: RelocationOptions, sock: Socket, peer: string): Promise<void> {
  const conn = new RecordConn(sock);
  let rx: Receiver | undefined;
  let adopted: number | undefined;
  let committed = false;
  try {
    const nonce = randomBytes(32);
    await conn.send(REC.CHALLENGE, nonce);
    const hello = json<{ name: string; width: number; vcpus: number; pages: number; maxPages: number; toolstack: unknown; auth?: string }>(await conn.expect(REC.HELLO, 30000));
    if (o.secret) {
      const want = Buffer.from(authFor(o.secret, nonce));
      const got = Buffer.from(String(hello.auth ?? ""));
      if (got.length !== want.length || !timingSafeEqual(got, want)) { await conn.send(REC.REFUSE, new TextEncoder().encode("authentication failed (the shared secrets differ)")); conn.close(); return; }
    }
    const refuse = async (why: string) => { await conn.send(REC.REFUSE, new TextEncoder().encode(why)); conn.close(); };
    if (typeof hello.name !== "string" || (hello.width !== 32 && hello.width !== 64) || !(hello.vcpus >= 1 && hello.vcpus <= 32) || !(hello.pages > 0)) return refuse("bad HELLO");
    if (t.nameInUse(hello.name)) return refuse(`a domain named ${hello.name} already exists on the receiving host`);
    if (t.host.core.x.hv_frames_free() < hello.pages + 64) return refuse(`not enough free memory on the receiving host (${hello.pages >> 8} MiB needed)`);
    rx = new Receiver(t.host, hello.width, hello.vcpus, Math.max(hello.maxPages, hello.pages + 64));
    await conn.send(REC.ACCEPT);
    t.log(`relocation: receiving ${hello.name} from ${peer} as domain ${rx.domid}`);
    const finals: Record[] = [];
    for (;;) {
      const r = await conn.next(120000);
      if (r.type === REC.PAGES) { rx.pages(r.body); continue; }
      if (r.type === REC.SYNC) { await conn.send(REC.SYNCED); continue; } // caught up with a round
      if (r.type === REC.END) break;
      finals.push(r);
    }
    const tEnd = performance.now();
    const f = checkFinal(finals);
    const h = rx.finish(f, t.devices(f.toolstack ?? hello.toolstack), false);
    adopted = h.domid;
    t.adopt(h, f.toolstack ?? hello.toolstack);
    await conn.sendJson(REC.RESTORED, { restoreMs: performance.now() - tEnd });
    await conn.expect(REC.COMMIT, 60000);
    const tCommit = performance.timeOrigin + performance.now();
    committed = true;
    t.host.core.x.hv_domain_pause(h.domid, 0);
    t.wake();
    await conn.sendJson(REC.DONE, { ok: true, domid: h.domid, tCommit, tDone: performance.timeOrigin + performance.now() });
    t.log(`relocation: ${hello.name} (domain ${h.domid}) runs here now`);
    conn.close();
  } catch (e) {
    const msg = (e as Error).message;
    if (!committed) {
      if (adopted !== undefined) t.destroy(adopted); else rx?.abort();
      try { await conn.send(REC.ERROR, new TextEncoder().encode(e instanceof StreamError ? msg : `receiver: ${msg}`)); } catch { /* gone */ }
      t.log(`relocation: an incoming migration from ${peer} failed: ${msg}`);
    }
    conn.destroy();
  }
}
