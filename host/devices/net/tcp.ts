// The NAT's guest-side TCP endpoint: one per connection, spliced to a Node net.Socket on the host.
//
// Guest-initiated (passive here): the guest's SYN makes the NAT connect a socket to the real
// destination; only when that connect succeeds does the guest get its SYN-ACK (a refused or timed-out
// connect gets an RST), so the guest sees the host's answer, as with slirp. Host-initiated (active, for
// port forwards): a socket accepted on the host sends a SYN to the guest.
//
// Sequence numbers, the guest's window (no window scaling or SACK is offered, so windows are plain 16
// bits), MSS from the guest's SYN; data from the host is kept from the first unacknowledged byte on and
// retransmitted go-back-N on timeout (RTO doubling from `rtoMs`, given up after `maxRetries`); a zero
// window is probed. Guest data is taken in order only (out-of-order segments are dropped and answered
// with a duplicate ACK) and written to the socket; the window we advertise is what the socket's write
// buffer has room for, so neither direction buffers more than its bound. FIN both ways (half-close:
// sockets are allowHalfOpen), RST both ways, timeouts for connects, idle and closing connections.
import type { Socket } from "node:net";
import { randomInt } from "node:crypto";
import { Ipv4, IPPROTO_TCP, get16, get32, put16, put32, l4Valid, setL4Checksum, seqLt, seqLe, seqDiff } from "./ip";

export const FIN = 1, SYN = 2, RST = 4, PSH = 8, ACK = 16;

export interface TcpSeg {
  sport: number; dport: number; seq: number; ack: number; flags: number; wnd: number;
  /** The MSS option of a SYN. */
  mss?: number;
  data: Uint8Array;
}

/** The TCP segment of a packet, or undefined if it is short, its data offset is wrong or its checksum bad. */
export function parseTcp(p: Ipv4): TcpSeg | undefined {
  const s = p.payload;
  if (s.length < 20) return undefined;
  const hl = (s[12] >> 4) * 4;
  if (hl < 20 || hl > s.length) return undefined;
  if (!l4Valid(p.src, p.dst, IPPROTO_TCP, s)) return undefined;
  const seg: TcpSeg = {
    sport: get16(s, 0), dport: get16(s, 2), seq: get32(s, 4), ack: get32(s, 8), flags: s[13] & 0x3f, wnd: get16(s, 14),
    data: s.subarray(hl),
  };
  if (seg.flags & SYN) {
    for (let i = 20; i < hl;) {
      const k = s[i];
      if (k === 0) break;
      if (k === 1) { i++; continue; }
      if (i + 1 >= hl || s[i + 1] < 2 || i + s[i + 1] > hl) break;
      if (k === 2 && s[i + 1] === 4) seg.mss = get16(s, i + 2);
      i += s[i + 1];
    }
  }
  return seg;
}

/** A TCP segment src→dst with its checksum (an MSS option if `mss` is given). */
export function tcpSegment(src: number, dst: number, sport: number, dport: number, seq: number, ack: number,
  flags: number, wnd: number, data: Uint8Array = new Uint8Array(0), mss?: number): Uint8Array {
  const hl = mss !== undefined ? 24 : 20;
  const s = new Uint8Array(hl + data.length);
  put16(s, 0, sport); put16(s, 2, dport); put32(s, 4, seq >>> 0); put32(s, 8, flags & ACK ? ack >>> 0 : 0);
  s[12] = (hl / 4) << 4; s[13] = flags; put16(s, 14, wnd);
  if (mss !== undefined) { s[20] = 2; s[21] = 4; put16(s, 22, mss); }
  s.set(data, hl);
  setL4Checksum(src, dst, IPPROTO_TCP, s);
  return s;
}

export interface TcpLimits {
  /** Host→guest bytes kept (unacknowledged + unsent) before the socket is paused. */
  sendBuf: number;
  /** Guest→host bytes the socket may have queued; the advertised window shrinks towards it. */
  rcvBuf: number;
  /** A connect to the real destination (or a guest's answer to our SYN) may take this long. */
  connectMs: number;
  /** A connection with no segment from the guest and no host data for this long is reset. */
  idleMs: number;
  /** Once either side has closed, the rest may take this long. */
  closingMs: number;
  /** A closed connection lingers this long to re-acknowledge retransmitted FINs. */
  lingerMs: number;
  rtoMs: number;
  maxRtoMs: number;
  maxRetries: number;
  /** Our MSS (MTU 1500 - 40). */
  mss: number;
  /** In-order guest data is acknowledged after this long unless a segment to the guest carries the ACK
   *  first (host data, a FIN, a window update) or a second full-sized segment arrives; 0 (the default): at
   *  once. (5 ms helped a busybox guest's echo and GETs but not the Debian system's: docs/NET.md.) */
  delAckMs: number;
}

export const DEFAULT_TCP_LIMITS: TcpLimits = {
  sendBuf: 256 * 1024, rcvBuf: 256 * 1024, connectMs: 20_000, idleMs: 30 * 60_000, closingMs: 60_000, lingerMs: 2000,
  rtoMs: 200, maxRtoMs: 10_000, maxRetries: 12, mss: 1460, delAckMs: 0,
};

/** What a connection needs from the NAT. */
export interface TcpHost {
  /** Send a TCP segment (from `c.remoteIp` to `c.guestIp`) to the guest. */
  emit(c: TcpConn, seg: Uint8Array): void;
  /** The connection is over: forget it. */
  closed(c: TcpConn): void;
  now(): number;
}

export type TcpState = "connecting" | "syn-rcvd" | "syn-sent" | "established" | "lingering" | "dead";

/** Host→guest bytes from sequence number `seq` on (a queue of chunks). */
class SendBuffer {
  private chunks: Uint8Array[] = [];
  private head = 0;
  length = 0;
  push(b: Uint8Array): void { if (b.length) { this.chunks.push(b); this.length += b.length; } }
  /** Bytes [off, off+n) (a copy). */
  peek(off: number, n: number): Uint8Array {
    const out = new Uint8Array(n);
    let skip = off + this.head, at = 0;
    for (const c of this.chunks) {
      if (skip >= c.length) { skip -= c.length; continue; }
      const take = Math.min(c.length - skip, n - at);
      out.set(c.subarray(skip, skip + take), at);
      at += take; skip = 0;
      if (at === n) break;
    }
    return out;
  }
  consume(n: number): void {
    this.length -= n;
    n += this.head;
    while (this.chunks.length && n >= this.chunks[0].length) n -= this.chunks.shift()!.length;
    this.head = n;
  }
}

export class TcpConn {
  state: TcpState;
  readonly key: string;
  /** Our initial sequence number; the guest's (irs) once known. */
  private readonly iss = randomInt(0, 2 ** 32 - 1);
  private irs = 0;
  private sndUna: number;
  private sndNxt: number;
  private sndMax: number;
  private sndWnd = 0;
  private sndMss = 536;
  /** Sequence number of the first byte of `buf`. */
  private bufSeq: number;
  private readonly buf = new SendBuffer();
  private paused = false;
  private hostEof = false;
  private finSeq = -1;
  private finSent = false;
  private finAcked = false;
  private rcvNxt = 0;
  private rcvEdge = 0;
  private guestFin = false;
  private rto: number;
  private rtoAt = 0;
  private retries = 0;
  private lastActivity: number;
  private readonly created: number;
  private lingerUntil = 0;
  private lastWnd = 0;
  /** Sequence space from the guest (data, its SYN or FIN) taken but not acknowledged yet (delayed ACK),
   *  and the timer that will acknowledge it. */
  private ackOwed = 0;
  private ackTimer?: ReturnType<typeof setTimeout>;
  readonly stats = { toGuest: 0, fromGuest: 0, retransmits: 0 };

  /**
   * `guestIp:guestPort` ↔ `remoteIp:remotePort` (the address the guest sees). Passive: `syn` is the
   * guest's SYN and `socket` is connecting. Active: `socket` is an accepted host connection and we send
   * the SYN.
   */
  constructor(
    private readonly host: TcpHost, readonly guestMac: Uint8Array, readonly guestIp: number, readonly guestPort: number,
    readonly remoteIp: number, readonly remotePort: number, readonly socket: Socket, syn: TcpSeg | undefined,
    readonly limits: TcpLimits = DEFAULT_TCP_LIMITS) {
    this.key = connKey(guestIp, guestPort, remoteIp, remotePort);
    this.created = this.lastActivity = host.now();
    this.rto = limits.rtoMs;
    this.sndUna = this.sndNxt = this.sndMax = this.iss;
    this.bufSeq = (this.iss + 1) >>> 0;
    socket.setNoDelay(true);
    socket.on("data", (b: Buffer) => this.onData(b));
    socket.on("end", () => { this.hostEof = true; this.touch(); this.output(false); });
    socket.on("error", () => this.abort());
    socket.on("close", () => { if (this.state === "connecting" || this.state === "syn-sent") this.abort(); });
    socket.on(
      "drain", () => {
        if (this.state === "established" && this.lastWnd < this.limits.mss && this.window() >= this.limits.mss)
          this.sendAck();
      }
    );
    if (syn) {
      this.state = "connecting";
      this.irs = syn.seq;
      this.rcvNxt = this.rcvEdge = (syn.seq + 1) >>> 0;
      this.sndWnd = syn.wnd;
      this.sndMss = Math.min(limits.mss, Math.max(64, syn.mss ?? 536));
      socket.once("connect", () => {
        if (this.state !== "connecting") return;
        this.state = "syn-rcvd";
        this.sendSyn();
      });
    } else {
      this.state = "syn-sent";
      socket.pause();
      this.paused = true;
      this.sendSyn();
    }
  }

  private touch(): void { this.lastActivity = this.host.now(); }

  /** The window we advertise: room in the socket's write buffer, never moving the right edge back. */
  private window(): number {
    const room = Math.max(0, Math.min(65535, this.limits.rcvBuf - (this.socket.writableLength ?? 0)));
    const edge = seqDiff(this.rcvEdge, this.rcvNxt);
    return Math.min(65535, Math.max(room, edge, 0));
  }

  private emit(seq: number, flags: number, data?: Uint8Array, mss?: number): void {
    const wnd = this.window();
    this.lastWnd = wnd;
    if (flags & ACK) { this.rcvEdge = (this.rcvNxt + wnd) >>> 0; this.ackOwed = 0; this.cancelDelayedAck(); }
    this.host.emit(
      this,
      tcpSegment(this.remoteIp, this.guestIp, this.remotePort, this.guestPort, seq, this.rcvNxt, flags, wnd, data, mss)
    );
  }

  private sendAck(): void { this.emit(this.sndNxt, ACK); }

  private cancelDelayedAck(): void {
    if (this.ackTimer !== undefined) { clearTimeout(this.ackTimer); this.ackTimer = undefined; }
  }

  /** `n` more of the guest's sequence space was taken in order: true when it must be acknowledged at once
   *  (a second full-sized segment's worth is owed), else it is soon, if nothing to the guest carries the ACK
   *  first. (Each segment the guest gets costs it an interrupt and a pass through its network stack: a
   *  request the host answers within the delay gets one segment, the answer carrying the ACK, not two.) */
  private ackLater(n: number): boolean {
    this.ackOwed += n;
    // (Nothing more can carry it once the host has closed too.)
    if (this.limits.delAckMs <= 0 || this.ackOwed >= 2 * this.sndMss || (this.guestFin && this.hostEof)) return true;
    if (this.ackTimer === undefined) {
      this.ackTimer = setTimeout(() => {
        this.ackTimer = undefined;
        if (this.ackOwed > 0 && (this.state === "established" || this.state === "lingering")) this.sendAck();
      }, this.limits.delAckMs);
    }
    return false;
  }

  private sendSyn(): void {
    this.emit(this.iss, this.state === "syn-rcvd" ? SYN | ACK : SYN, undefined, this.limits.mss);
    this.sndNxt = (this.iss + 1) >>> 0;
    if (seqLt(this.sndMax, this.sndNxt)) this.sndMax = this.sndNxt;
    this.rtoAt = this.host.now() + this.rto;
  }

  private onData(b: Buffer): void {
    if (this.state === "dead" || this.state === "lingering") return;
    this.touch();
    this.buf.push(new Uint8Array(b.buffer, b.byteOffset, b.length));
    if (this.buf.length >= this.limits.sendBuf && !this.paused) { this.socket.pause(); this.paused = true; }
    this.output(false);
  }

  /** A segment from the guest for this connection. */
  input(s: TcpSeg): void {
    if (this.state === "dead") return;
    const now = this.host.now();
    this.lastActivity = now;
    if (this.state === "lingering") {
      if (s.flags & FIN && !(s.flags & RST)) this.sendAck(); // our ACK of its FIN was lost
      return;
    }
    if (s.flags & RST) {
      if (this.state === "syn-sent") { if (s.flags & ACK && s.ack === ((this.iss + 1) >>> 0)) this.drop(); return; }
      if (this.state === "connecting") { this.drop(); return; }
      // Acceptable if it is in the window we offered (RFC 5961 would ask for an exact match).
      const off = seqDiff(s.seq, this.rcvNxt);
      if (off >= 0 && off <= Math.max(1, this.lastWnd)) this.drop();
      return;
    }
    if (this.state === "connecting") return; // a retransmitted SYN while the host connects
    if (this.state === "syn-sent") {
      if ((s.flags & (SYN | ACK)) === (SYN | ACK) && s.ack === ((this.iss + 1) >>> 0)) {
        this.irs = s.seq;
        this.rcvNxt = this.rcvEdge = (s.seq + 1) >>> 0;
        this.sndUna = s.ack;
        this.sndWnd = s.wnd;
        this.sndMss = Math.min(this.limits.mss, Math.max(64, s.mss ?? 536));
        this.state = "established";
        this.rtoAt = 0; this.retries = 0; this.rto = this.limits.rtoMs;
        // The handshake's ACK: usually carried by the host's first data (a client that connected to a
        // forward has mostly written its request already), else sent after the delayed-ACK time.
        if (this.ackLater(1)) this.sendAck();
        this.paused = false;
        this.socket.resume();
      } else if (s.flags & ACK) {
        this.host.emit(
          this, tcpSegment(this.remoteIp, this.guestIp, this.remotePort, this.guestPort, s.ack, 0, RST, 0)
        );
      }
      return;
    }
    if (s.flags & SYN) {
      if (this.state === "syn-rcvd" && s.seq === this.irs) this.sendSyn(); // our SYN-ACK was lost
      else this.sendAck(); // a SYN in a synchronized state: tell it where we are
      return;
    }
    if (!(s.flags & ACK)) return;
    if (seqLt(this.sndMax, s.ack)) { this.sendAck(); return; } // acknowledges what we never sent
    if (this.state === "syn-rcvd") {
      if (s.ack !== ((this.iss + 1) >>> 0)) {
        this.host.emit(
          this, tcpSegment(this.remoteIp, this.guestIp, this.remotePort, this.guestPort, s.ack, 0, RST, 0)
        );
        return;
      }
      this.state = "established";
      this.sndUna = s.ack;
      this.rtoAt = 0; this.retries = 0; this.rto = this.limits.rtoMs;
    }
    if (seqLt(this.sndUna, s.ack)) this.acked(s.ack, now);
    if (seqLe(this.sndUna, s.ack)) this.sndWnd = s.wnd;
    let needAck = false;
    let data = s.data;
    let seq = s.seq;
    let fin = (s.flags & FIN) !== 0;
    if (data.length || fin) {
      // Acknowledged at once unless it is new in-order data (and FIN) taken whole (below): duplicates and
      // segments out of order or beyond the window get their ACK now.
      needAck = true;
      const before = seqDiff(this.rcvNxt, seq);
      if (before > 0) {
        // Bytes we have already: skip them (all of them for a plain duplicate).
        if (before >= data.length + (fin ? 1 : 0)) { data = data.subarray(0, 0); fin = false; seq = this.rcvNxt; }
        else { data = data.subarray(Math.min(before, data.length)); seq = this.rcvNxt; }
      }
      if (seq === this.rcvNxt && !this.guestFin) {
        const room = Math.max(0, seqDiff(this.rcvEdge, this.rcvNxt));
        const n = Math.min(data.length, room);
        if (n > 0) {
          this.socket.write(data.slice(0, n));
          this.rcvNxt = (this.rcvNxt + n) >>> 0;
          this.stats.fromGuest += n;
        }
        if (fin && n === data.length) {
          this.guestFin = true;
          this.rcvNxt = (this.rcvNxt + 1) >>> 0;
          this.socket.end();
        }
        if (before <= 0 && n === data.length) needAck = this.ackLater(n + (fin ? 1 : 0));
      }
    }
    this.output(needAck);
    this.checkDone(now);
  }

  /** The guest acknowledged everything before `ack`. */
  private acked(ack: number, now: number): void {
    const dataAcked = Math.min(Math.max(0, seqDiff(ack, this.bufSeq)), this.buf.length);
    if (dataAcked > 0) {
      this.buf.consume(dataAcked);
      this.bufSeq = (this.bufSeq + dataAcked) >>> 0;
    }
    if (this.finSeq >= 0 && ack === ((this.finSeq + 1) >>> 0)) { this.finAcked = true; this.finSent = true; }
    this.sndUna = ack;
    if (seqLt(this.sndNxt, ack)) this.sndNxt = ack;
    this.retries = 0;
    this.rto = this.limits.rtoMs;
    this.rtoAt = this.sndUna !== this.sndNxt ? now + this.rto : 0;
    if (this.paused && this.state === "established" && this.buf.length < this.limits.sendBuf / 2) {
      this.paused = false; this.socket.resume();
    }
  }

  /** Send what the guest's window allows, a FIN once the host has closed and all is sent; else an ACK if asked. */
  private output(needAck: boolean): void {
    if (this.state !== "established") { if (needAck && this.state !== "dead") this.sendAck(); return; }
    let sent = false;
    for (;;) {
      const off = seqDiff(this.sndNxt, this.bufSeq);
      const avail = this.buf.length - off;
      const wndLeft = seqDiff((this.sndUna + this.sndWnd) >>> 0, this.sndNxt);
      const n = Math.min(avail, wndLeft, this.sndMss);
      if (off < 0 || n <= 0) break;
      const last = n === avail;
      if (seqLt(this.sndNxt, this.sndMax)) this.stats.retransmits++;
      else this.stats.toGuest += n;
      this.emit(this.sndNxt, ACK | (last ? PSH : 0), this.buf.peek(off, n));
      this.sndNxt = (this.sndNxt + n) >>> 0;
      if (seqLt(this.sndMax, this.sndNxt)) this.sndMax = this.sndNxt;
      sent = true;
    }
    if (this.hostEof && !this.finSent && this.sndNxt === ((this.bufSeq + this.buf.length) >>> 0)) {
      this.finSeq = this.sndNxt;
      this.emit(this.sndNxt, FIN | ACK);
      this.sndNxt = (this.sndNxt + 1) >>> 0;
      if (seqLt(this.sndMax, this.sndNxt)) this.sndMax = this.sndNxt;
      this.finSent = true;
      sent = true;
    }
    if (!sent && needAck) this.sendAck();
    const now = this.host.now();
    if (this.sndUna !== this.sndNxt) { if (!this.rtoAt) this.rtoAt = now + this.rto; }
    // persist: probe the window
    else if (this.buf.length > 0 && this.sndWnd === 0) { if (!this.rtoAt) this.rtoAt = now + this.rto; }
    else this.rtoAt = 0;
    this.checkDone(now);
  }

  private checkDone(now: number): void {
    if (this.state === "established" && this.guestFin && this.finAcked) {
      this.state = "lingering";
      this.lingerUntil = now + this.limits.lingerMs;
      this.rtoAt = 0;
    }
  }

  /** Timers: retransmission, window probes, connect/idle/closing timeouts, the end of lingering. */
  tick(now: number): void {
    const L = this.limits;
    switch (this.state) {
      case "dead": return;
      case "lingering": if (now >= this.lingerUntil) this.finish(); return;
      case "connecting": if (now - this.created > L.connectMs) this.abort(); return;
      default: break;
    }
    const closing = this.guestFin || this.hostEof;
    if (now - this.lastActivity > (closing ? L.closingMs : L.idleMs)) { this.abort(); return; }
    if (!this.rtoAt || now < this.rtoAt) return;
    if (this.state === "syn-rcvd" || this.state === "syn-sent") {
      if (++this.retries > L.maxRetries || now - this.created > L.connectMs) { this.abort(); return; }
      this.rto = Math.min(L.maxRtoMs, this.rto * 2);
      this.stats.retransmits++;
      this.sendSyn();
      return;
    }
    this.rto = Math.min(L.maxRtoMs, this.rto * 2);
    if (this.sndUna === this.sndNxt && this.sndWnd === 0 && this.buf.length > 0) {
      // Zero-window probe: an old sequence number makes the guest answer with its current window.
      this.emit((this.sndUna - 1) >>> 0, ACK);
      this.rtoAt = now + this.rto;
      return;
    }
    if (++this.retries > L.maxRetries) { this.abort(); return; }
    // Go back to the first unacknowledged byte (and the FIN, if it was not acknowledged).
    this.sndNxt = this.sndUna;
    if (this.finSeq >= 0 && !this.finAcked) this.finSent = false;
    this.rtoAt = 0;
    this.output(false);
    if (!this.rtoAt && this.sndUna !== this.sndNxt) this.rtoAt = now + this.rto;
  }

  /** Reset both sides: an RST to the guest, the socket destroyed. */
  abort(): void {
    if (this.state === "dead") return;
    if (this.state === "connecting") {
      this.host.emit(
        this, tcpSegment(this.remoteIp, this.guestIp, this.remotePort, this.guestPort, 0, this.rcvNxt, RST | ACK, 0)
      );
    } else if (this.state !== "lingering") {
      this.host.emit(
        this,
        tcpSegment(this.remoteIp, this.guestIp, this.remotePort, this.guestPort, this.sndNxt, this.rcvNxt, RST | ACK, 0)
      );
    }
    this.drop();
  }

  /** The guest reset it (or it is dropped silently): destroy the socket (with an RST where Node can). */
  drop(): void {
    if (this.state === "dead") return;
    const s = this.socket as Socket & { resetAndDestroy?: () => void };
    try {
      if (s.resetAndDestroy && !s.destroyed && !s.connecting) s.resetAndDestroy(); else s.destroy();
    } catch { s.destroy(); }
    this.finish();
  }

  private finish(): void {
    if (this.state === "dead") return;
    this.state = "dead";
    this.cancelDelayedAck();
    if (!this.socket.destroyed) this.socket.destroy();
    this.host.closed(this);
  }

  info(): { state: TcpState; guest: string; remote: string; buffered: number } {
    return {
      state: this.state, guest: `${this.guestIp}:${this.guestPort}`, remote: `${this.remoteIp}:${this.remotePort}`,
      buffered: this.buf.length
    };
  }
}

export function connKey(gip: number, gport: number, rip: number, rport: number): string {
  return `${gip}:${gport}>${rip}:${rport}`;
}
