// The xm CLI run from a test against a given xend (its environment: XEND_SOCKET ...).
import { spawn, spawnSync } from "node:child_process";

export interface XmResult { status: number | null; stdout: string; stderr: string }

/** `xm ARGS...`, waited for (killed after `timeoutMs`). */
export function xmSync(env: NodeJS.ProcessEnv, timeoutMs: number, ...args: string[]): XmResult {
  const r = spawnSync(process.execPath, ["bin/xm.js", ...args], { env, encoding: "utf8", timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** `xm ARGS...` in the background: its status and output once it exits. */
export function xmAsync(env: NodeJS.ProcessEnv, ...args: string[]): Promise<XmResult> {
  return new Promise((res) => {
    const c = spawn(process.execPath, ["bin/xm.js", ...args], { env });
    let stdout = "", stderr = "";
    c.stdout.on("data", (b) => { stdout += b; });
    c.stderr.on("data", (b) => { stderr += b; });
    c.on("exit", (status) => res({ status, stdout, stderr }));
  });
}
