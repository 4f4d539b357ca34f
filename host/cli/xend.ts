// `xend start|stop|status|run`: the host daemon. `start` runs it in the background (a detached child
// running `xend run`), `run` in the foreground.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { openSync, mkdirSync } from "node:fs";
import { relocationSecret } from "../xend/secret";
import type { RelocationOptions } from "../migrate/receive";
import { DEFAULT_RELOCATION_PORT } from "../migrate/send";
import { dirname, join } from "node:path";
import { Xend } from "../xend/daemon";
import { natOptionsFromEnv } from "../devices/net/nat";
import { request, XendUnavailable } from "../xend/client";
import { socketPath, xenstoreSocketPath } from "../xend/protocol";

async function running(): Promise<number | 0> {
  try {
    const r = await request({ op: "ping" });
    return r.ok ? (r.data as { pid: number }).pid : 0;
  } catch { return 0; }
}

/** The relocation listener's settings (as xend-config.sxp's xend-relocation-*); its secret is xend's. */
function relocationOptions(env: NodeJS.ProcessEnv, secret: string | undefined): RelocationOptions {
  return {
    address: env.XEND_RELOCATION_ADDRESS || "127.0.0.1",
    port: Number(env.XEND_RELOCATION_PORT || DEFAULT_RELOCATION_PORT),
    allow: (env.XEND_RELOCATION_HOSTS_ALLOW ?? "").split(/[\s,]+/).filter(Boolean),
    secret,
  };
}

async function main(argv: string[]): Promise<number> {
  const cmd = argv[0] ?? "help";
  switch (cmd) {
    case "run": {
      if (await running()) { console.error("xend: already running"); return 1; }
      const xend = await Xend.create(Number(process.env.XEND_MEMORY_MIB ?? 2048));
      // The user-mode NAT on xenbr0 (XEND_NAT=no: none; =restrict: the host only). Guests reach the
      // host's loopback at the gateway address, but not the relocation listener.
      const nat = natOptionsFromEnv(process.env);
      if (nat) xend.host.enableNat({ ...nat, denyHostPorts: [Number(process.env.XEND_RELOCATION_PORT || DEFAULT_RELOCATION_PORT)] });
      // The secret that incoming migrations must know and that our save files are MACed with.
      try { xend.secret = relocationSecret(process.env); } catch (e) { console.error(`xend: no relocation secret (incoming migrations refused, save files unsigned): ${(e as Error).message}`); }
      await xend.listen();
      await xend.listenXenstore(xenstoreSocketPath());
      if ((process.env.XEND_RELOCATION_SERVER ?? "yes") !== "no") {
        const o = relocationOptions(process.env, xend.secret);
        // Another xend on this machine may hold the port: this one then only sends.
        await xend.listenRelocation(o).catch((e) => console.error(`xend: no relocation listener: ${(e as Error).message}`));
      }
      const stop = () => xend.stop();
      process.on("SIGTERM", stop);
      process.on("SIGINT", stop);
      await xend.loop();
      return 0;
    }
    case "start": {
      const pid = await running();
      if (pid) { console.log(`xend is already running (pid ${pid})`); return 0; }
      const self = fileURLToPath(import.meta.url);
      const logDir = dirname(socketPath());
      mkdirSync(logDir, { recursive: true, mode: 0o700 });
      const log = openSync(join(logDir, "xend.log"), "a");
      const child = spawn(process.execPath, [self, "run"], { detached: true, stdio: ["ignore", log, log], env: process.env });
      child.unref();
      for (let i = 0; i < 100; i++) {
        await new Promise((r) => setTimeout(r, 50));
        const p = await running();
        if (p) { console.log(`xend started (pid ${p}, socket ${socketPath()})`); return 0; }
      }
      console.error(`xend: did not start (see ${join(logDir, "xend.log")})`);
      return 1;
    }
    case "stop": {
      try { await request({ op: "stop" }); } catch (e) { if (e instanceof XendUnavailable) { console.log("xend is not running"); return 0; } throw e; }
      for (let i = 0; i < 100 && (await running()); i++) await new Promise((r) => setTimeout(r, 50));
      console.log("xend stopped");
      return 0;
    }
    case "status": {
      const pid = await running();
      console.log(pid ? `xend is running (pid ${pid}, socket ${socketPath()})` : "xend is not running");
      return pid ? 0 : 3;
    }
    default:
      console.log("usage: xend start|stop|status|run\n  start   run the host daemon in the background\n  stop    stop it (destroys every domain)\n  status  say whether it runs\n  run     run it in the foreground");
      return cmd === "help" ? 0 : 1;
  }
}

main(process.argv.slice(2)).then((c) => { process.exitCode = c; }, (e) => { console.error(`xend: ${(e as Error).message}`); process.exitCode = 1; });
