// A migration connection: the save stream's framing (host/save/stream.ts) both ways over a socket.
// Each side starts with the stream header; records are read as they arrive and checked (CRC, size).
import type { Socket } from "node:net";
import { RecordReader, recordParts, streamHeader, StreamError, Record, REC } from "../save/stream";
import { migrateSendTimeoutMs } from "../xend/env";

export class RecordConn {
  private readonly q: Record[] = [];
  private waiter?: { res: (r: Record) => void; rej: (e: Error) => void };
  private failure?: Error;
  readonly reader = new RecordReader();
  bytesSent = 0;
  /** How long a send may wait for the peer to take data (XEND_MIGRATE_SEND_TIMEOUT_MS; 60 s). */
  sendTimeoutMs = migrateSendTimeoutMs();

  constructor(readonly sock: Socket) {
    sock.setNoDelay(true);
    sock.on("data", (b: Buffer) => {
      if (this.failure) return;
      try {
        for (const r of this.reader.push(new Uint8Array(b.buffer, b.byteOffset, b.byteLength))) this.q.push(r);
      } catch (e) { this.fail(e as Error); sock.destroy(); return; }
      this.pump();
    });
    sock.on("error", (e) => this.fail(new StreamError(`connection failed: ${e.message}`)));
    sock.on("close", () => this.fail(new StreamError("the other side closed the connection")));
    this.write(streamHeader());
  }

  private fail(e: Error): void {
    if (!this.failure) this.failure = e;
    this.pump();
  }

  private pump(): void {
    if (!this.waiter) return;
    const w = this.waiter;
    if (this.q.length) { this.waiter = undefined; w.res(this.q.shift()!); }
    else if (this.failure) { this.waiter = undefined; w.rej(this.failure); }
  }

  private write(b: Uint8Array): boolean {
    this.bytesSent += b.length;
    return this.sock.write(b);
  }

  /** Send a record; resolves when the socket can take more (backpressure). A peer that takes nothing
   * for `sendTimeoutMs` (it stopped reading but keeps the connection) fails the connection. */
  async send(type: number, body: Uint8Array = new Uint8Array(0)): Promise<void> {
    if (this.failure) throw this.failure;
    const [h, b, t] = recordParts(type, body);
    this.write(h);
    this.write(b);
    if (!this.write(t)) {
      await new Promise<void>((res, rej) => {
        const done = () => {
          clearTimeout(timer); this.sock.off("drain", done); this.sock.off("close", done);
          this.failure ? rej(this.failure) : res();
        };
        const timer = setTimeout(() => {
          this.fail(new StreamError(`the other side took nothing for ${this.sendTimeoutMs / 1000} s (timed out)`));
          this.sock.destroy();
          done();
        }, this.sendTimeoutMs);
        this.sock.on("drain", done);
        this.sock.on("close", done);
      });
    }
  }

  sendJson(type: number, v: unknown): Promise<void> {
    return this.send(type, new TextEncoder().encode(JSON.stringify(v)));
  }

  /** The next record (within `timeoutMs`). An ERROR or REFUSE record from the other side throws its message. */
  async next(timeoutMs = 60000): Promise<Record> {
    const r = await new Promise<Record>((res, rej) => {
      const t = setTimeout(
        () => { this.waiter = undefined; rej(new StreamError(`no answer within ${timeoutMs / 1000} s`)); }, timeoutMs
      );
      this.waiter = { res: (x) => { clearTimeout(t); res(x); }, rej: (e) => { clearTimeout(t); rej(e); } };
      this.pump();
    });
    if (r.type === REC.ERROR || r.type === REC.REFUSE)
      throw new StreamError(new TextDecoder().decode(r.body) || "the other side failed without saying why");
    return r;
  }

  /** The next record, which must be of `type`. */
  async expect(type: number, timeoutMs?: number): Promise<Record> {
    const r = await this.next(timeoutMs);
    if (r.type !== type) throw new StreamError(`unexpected record ${r.type} (expected ${type})`);
    return r;
  }

  close(): void { this.sock.end(); this.sock.destroySoon?.(); }
  destroy(): void { this.sock.destroy(); }
}

/** A record's JSON body, which must be an object (its fields are the caller's to check). */
export const json = <T>(r: Record): T => {
  let v: unknown;
  try { v = JSON.parse(new TextDecoder().decode(r.body)); } catch { throw new StreamError(`bad record ${r.type}`); }
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new StreamError(`bad record ${r.type}: not a JSON object`);
  return v as T;
};
