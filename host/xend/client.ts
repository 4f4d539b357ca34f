// xm's side of the protocol: one request, one response (or, for `console`, a raw stream).
import { connect, Socket } from "node:net";
import { Request, Response, Progress, LineReader, socketPath } from "./protocol";

export class XendUnavailable extends Error {}

export function request(req: Request, path = socketPath(), onProgress?: (p: Progress["progress"]) => void): Promise<Response> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let done = false;
    const lr = new LineReader((line) => {
      let msg: Response | Progress;
      try { msg = JSON.parse(line); } catch { done = true; reject(new Error("bad response from xend")); sock.end(); return; }
      if ("progress" in msg) { onProgress?.(msg.progress); return; }
      done = true;
      resolve(msg);
      sock.end();
    });
    sock.on("connect", () => sock.write(JSON.stringify(req) + "\n"));
    sock.on("data", (b) => lr.push(b));
    sock.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT" || e.code === "ECONNREFUSED") reject(new XendUnavailable("xend is not running (start it with `xend start`)"));
      else reject(e);
    });
    sock.on("close", () => { if (!done) reject(new Error("xend closed the connection")); });
  });
}

/** Attach to a domain's console: its output to `out`, `input` to it; resolves when detached. */
export function attachConsole(dom: string, input: NodeJS.ReadableStream & { setRawMode?: (b: boolean) => void; isTTY?: boolean }, out: NodeJS.WritableStream, path = socketPath()): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock: Socket = connect(path);
    let attached = false;
    const lr = new LineReader((line) => {
      const r = JSON.parse(line) as Response;
      if (!r.ok) { sock.destroy(); reject(new Error(r.error)); return; }
      attached = true;
      const rest = lr.rest();
      if (rest) out.write(rest);
      if (input.isTTY && input.setRawMode) input.setRawMode(true);
      input.on("data", onInput);
      input.resume();
    });
    const detach = () => {
      input.off("data", onInput);
      if (input.isTTY && input.setRawMode) input.setRawMode(false);
      input.pause();
      // A piped stdin would keep the process alive after we are done with it.
      if (!input.isTTY) (input as unknown as { destroy?: () => void }).destroy?.();
      sock.destroy();
      resolve();
    };
    const onInput = (b: Buffer) => {
      const i = b.indexOf(0x1d); // Ctrl-]
      if (i >= 0) { if (i > 0) sock.write(b.subarray(0, i)); detach(); return; }
      sock.write(b);
    };
    sock.on("connect", () => sock.write(JSON.stringify({ op: "console", dom }) + "\n"));
    sock.on("data", (b) => { if (attached) out.write(b); else lr.push(b); });
    sock.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT" || e.code === "ECONNREFUSED") reject(new XendUnavailable("xend is not running (start it with `xend start`)"));
      else reject(e);
    });
    sock.on("close", () => { if (attached) detach(); });
  });
}
