// `xend start|stop|status|run`: the host daemon. `start` runs it in the background (a detached child
// running `xend run`), `run` in the foreground.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { resolve } from "node:path";
import { openSync, constants } from "node:fs";
import { relocationSecret } from "../xend/secret";
import type { RelocationOptions } from "../migrate/receive";
import { DEFAULT_RELOCATION_PORT } from "../migrate/send";
import { Xend, prepareSocketDir } from "../xend/daemon";
import { natOptionsFromEnv, enableNat } from "../devices/net/nat";
import { checkXendEnv, stopMaxWaitSeconds } from "../xend/env";
import { request, XendUnavailable } from "../xend/client";
import { socketPath, xenstoreSocketPath, xendFiles } from "../xend/protocol";

async function running(): Promise<number | 0> {
  try {
    const r = await request({ op: "ping" });
    return r.ok ? (r.data as { pid: number }).pid : 0;
  } catch { return 0; }
}

function envPort(env: NodeJS.ProcessEnv): number {
  const p = env.XEND_RELOCATION_PORT || String(DEFAULT_RELOCATION_PORT);
  if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535)
    throw new Error(`XEND_RELOCATION_PORT=${p}: a port number, 1 to 65535`);
  return Number(p);
}

/** The relocation listener's settings (as xend-config.sxp's xend-relocation-*); its secret is xend's. */
function relocationOptions(env: NodeJS.ProcessEnv, secret: string | undefined): RelocationOptions {
  return {
    address: env.XEND_RELOCATION_ADDRESS || "127.0.0.1",
    port: envPort(env),
    allow: (env.XEND_RELOCATION_HOSTS_ALLOW ?? "").split(/[\s,]+/).filter(Boolean),
    secret,
  };
}

const USAGE = `usage: xend start|stop|status|run
  start   run the host daemon in the background (its log: beside its socket, xend.log)
  stop [--shutdown | --save DIR | --destroy]
          stop it; with domains running, one of the options says what becomes of them
  status  say whether it runs
  run     run it in the foreground
XEND_SOCKET chooses the socket (default $TMPDIR/xenwasm-UID/xend.sock): one xend per socket.`;

function stopOptions(args: string[]): { mode?: "shutdown" | "save" | "destroy"; dir?: string; maxwait: number } {
  const o: { mode?: "shutdown" | "save" | "destroy"; dir?: string; maxwait: number } =
    { maxwait: stopMaxWaitSeconds() };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const set = (m: "shutdown" | "save" | "destroy") => {
      if (o.mode && o.mode !== m) throw new Error(`stop: --${o.mode} and --${m} together`); o.mode = m;
    };
    if (a === "--shutdown") set("shutdown");
    else if (a === "--destroy") set("destroy");
    else if (a === "--save" || a.startsWith("--save=")) {
      set("save");
      o.dir = a.startsWith("--save=") ? a.slice(7) : args[++i];
      if (!o.dir) throw new Error("stop: --save needs a directory");
    } else throw new Error(`stop: unknown option ${a} (see \`xend help\`)`);
  }
  return o;
}

async function main(argv: string[]): Promise<number> {
  const cmd = argv[0] ?? "help";
  switch (cmd) {
    case "run": {
      {
        const pid = await running();
        if (pid) { console.error(`xend: already running (pid ${pid}, socket ${socketPath()})`); return 1; }
      }
      const mem = process.env.XEND_MEMORY_MIB ?? "2048";
      if (!/^\d{1,7}$/.test(mem) || Number(mem) < 1)
        throw new Error(`XEND_MEMORY_MIB=${mem}: a positive whole number of MiB`);
      envPort(process.env); // (checked before anything is made)
      checkXendEnv();
      const xend = await Xend.create(Number(mem));
      // The user-mode NAT on xenbr0 (XEND_NAT=no: none; =restrict: the host only). Guests reach the
      // host's loopback at the gateway address, but not the relocation listener.
      const nat = natOptionsFromEnv(process.env);
      if (nat) enableNat(xend.host, { ...nat, denyHostPorts: [envPort(process.env)] });
      // The secret that incoming migrations must know and that our save files are MACed with.
      try { xend.secret = relocationSecret(process.env); } catch (e) {
        console.error(
          `xend: no relocation secret (incoming migrations refused, save files unsigned): ${(e as Error).message}`
        );
      }
      await xend.listen();
      await xend.listenXenstore(xenstoreSocketPath());
      if ((process.env.XEND_RELOCATION_SERVER ?? "yes") !== "no") {
        const o = relocationOptions(process.env, xend.secret);
        // Another xend on this machine may hold the port: this one then only sends.
        await xend.listenRelocation(o)
          .catch((e) => console.error(`xend: no relocation listener: ${(e as Error).message}`));
      }
      const stop = () => xend.stop();
      process.on("SIGTERM", stop);
      process.on("SIGINT", stop);
      await xend.loop();
      return 0;
    }
    case "start": {
      if (argv.length > 1) throw new Error(`start: unexpected argument ${argv[1]}`);
      checkXendEnv(); // bad settings said here, not only in the log of a child that did not start
      const pid = await running();
      if (pid) { console.log(`xend is already running (pid ${pid})`); return 0; }
      const self = fileURLToPath(import.meta.url);
      const files = xendFiles();
      prepareSocketDir(files.dir);
      const log =
        openSync(files.log, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
      const child =
        spawn(process.execPath, [self, "run"], { detached: true, stdio: ["ignore", log, log], env: process.env });
      child.unref();
      for (let i = 0; i < 100; i++) {
        await new Promise((r) => setTimeout(r, 50));
        const p = await running();
        if (p) {
          console.log(
            p === child.pid ? `xend started (pid ${p}, socket ${socketPath()})` : `xend is already running (pid ${p})`
          ); return 0;
        }
      }
      console.error(`xend: did not start (see ${files.log})`);
      return 1;
    }
    case "stop": {
      // Domains live in xend's process: stopping it ends them. Nothing goes without the user asking:
      // with domains running, stop says which and wants --shutdown, --save DIR or --destroy (as Xen's
      // xendomains: XENDOMAINS_SAVE, XENDOMAINS_SHUTDOWN, XENDOMAINS_STOP_MAXWAIT).
      const o = stopOptions(argv.slice(1));
      let rows: { name: string; id: number }[];
      try {
        rows =
          ((await request({ op: "list" })) as { data: { name: string; id: number }[] }).data.filter((r) => r.id !== 0);
      }
      catch (e) { if (e instanceof XendUnavailable) { console.log("xend is not running"); return 0; } throw e; }
      if (rows.length) {
        const names = rows.map((r) => `${r.name} (${r.id})`).join(", ");
        if (!o.mode) {
          console.error(`xend: ${rows.length} ` + `domain${rows.length === 1 ? " is" : "s are"} running: `
              + `${names}; stopping xend would end ` + `${rows.length === 1 ? "it" : "them"}.\n` +
            "  xend stop --shutdown     ask each to shut down, wait (XENDOMAINS_STOP_MAXWAIT, 300 s), then stop\n" +
            "  xend stop --save DIR     save each into DIR/NAME.save (xm restore brings it back), then stop\n" +
            "  xend stop --destroy      destroy them and stop");
          return 1;
        }
        if (o.mode === "save") {
          for (const r of rows) {
            const file = resolve(o.dir!, `${r.name}.save`);
            const res = await request({ op: "save", dom: String(r.id), file });
            if (!res.ok) { console.error(`xend: save of ${r.name} failed, xend not stopped: ${res.error}`); return 1; }
            console.log(`Saved ${r.name} to ${file}`);
          }
        } else if (o.mode === "shutdown") {
          for (const r of rows) await request({ op: "shutdown", dom: String(r.id) });
          const t0 = Date.now();
          let left = rows;
          while (left.length && Date.now() - t0 < o.maxwait * 1000) {
            await new Promise((r) => setTimeout(r, 200));
            const now = ((await request({ op: "list" })) as { data: { name: string; id: number }[] }).data;
            left = left.filter((r) => now.some((n) => n.id === r.id));
          }
          if (left.length) {
            console.error(
              `xend: ${left.map((r) => r.name).join(", ")} did not shut `
                + `down within ${o.maxwait} s; xend not stopped (xend stop ` + `--destroy ends them)`
            ); return 1;
          }
          console.log(`Shut down ${rows.map((r) => r.name).join(", ")}`);
        } else console.log(`Destroying ${names}`);
      }
      try {
        await request({ op: "stop" });
      } catch (e) { if (e instanceof XendUnavailable) { console.log("xend is not running"); return 0; } throw e; }
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
      console.log(USAGE);
      return cmd === "help" ? 0 : 1;
  }
}

// A failure after the socket is up must not leave a half-started xend holding it: exit.
main(process.argv.slice(2)).then(
  (c) => { process.exitCode = c; }, (e) => { console.error(`xend: ${(e as Error).message}`); process.exit(1); }
);
