// xm's side of the protocol: one request, one response (or, for `console`, a raw stream).
import { connect, Socket } from "node:net";
import { Request, Response, Progress, LineReader, socketPath } from "./protocol";

export class XendUnavailable extends Error {}

export function request(
  req: Request, path = socketPath(), onProgress?: (p: Progress["progress"]) => void
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let done = false;
    const lr = new LineReader((line) => {
      let msg: Response | Progress;
      try {
        msg = JSON.parse(line);
      } catch { done = true; reject(new Error("bad response from xend")); sock.end(); return; }
      if ("progress" in msg) { onProgress?.(msg.progress); return; }
      done = true;
      resolve(msg);
      sock.end();
    });
    sock.on("connect", () => sock.write(JSON.stringify(req) + "\n"));
    sock.on("data", (b) => lr.push(b));
    sock.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT" || e.code === "ECONNREFUSED")
        reject(new XendUnavailable("xend is not running (start it with `xend start`)"));
      else if (e.code === "EACCES") reject(
        new XendUnavailable(`cannot reach xend's socket ${path}: permission denied (it is another user's xend)`)
      );
      else reject(new Error(`lost the connection to xend (${e.code ?? e.message})`));
    });
    sock.on("close", () => { if (!done) reject(new Error("xend closed the connection")); });
  });
}

/** Attach to a domain's console: its output to `out`, `input` to it; resolves (with the response's data)
 * when detached: by the escape byte (Ctrl-] unless given) or when the domain is gone. `req` is a
 * `console` request, or a `create` one with console set (attached before the new domain runs). */
export function attachConsole(
  dom: string | Request, input: NodeJS.ReadableStream & { setRawMode?: (b: boolean) => void; isTTY?: boolean },
  out: NodeJS.WritableStream, path = socketPath(), escape = 0x1d
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock: Socket = connect(path);
    let attached = false, data: unknown;
    const lr = new LineReader((line) => {
      let r: Response;
      try {
        r = JSON.parse(line) as Response;
      } catch { sock.destroy(); reject(new Error("bad response from xend")); return; }
      if (!r.ok) { sock.destroy(); reject(new Error(r.error)); return; }
      attached = true;
      data = r.data;
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
      resolve(data);
    };
    const onInput = (b: Buffer) => {
      const i = b.indexOf(escape);
      if (i >= 0) { if (i > 0) sock.write(b.subarray(0, i)); detach(); return; }
      sock.write(b);
    };
    const req = typeof dom === "string" ? { op: "console", dom } : dom;
    sock.on("connect", () => sock.write(JSON.stringify(req) + "\n"));
    sock.on("data", (b) => { if (attached) out.write(b); else lr.push(b); });
    sock.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT" || e.code === "ECONNREFUSED")
        reject(new XendUnavailable("xend is not running (start it with `xend start`)"));
      else if (attached) detach();
      else reject(new Error(`lost the connection to xend (${e.code ?? e.message})`));
    });
    sock.on("close", () => { if (attached) detach(); else reject(new Error("xend closed the connection")); });
  });
}
