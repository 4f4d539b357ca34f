// The Debian system guest driven from the host (issue 14), shared by tests/debian-system.test.ts and
// bench/apps.ts so the benchmark measures what the test checks, the same way: xend processes of their
// own (sockets, relocation listeners), the domain's console through `xm console`, PostgreSQL clients
// and HTTP GETs through the vif's port forwards, and the load kept up while the guest is saved,
// restored and migrated: a stream of INSERTs each counted once its COMMIT returned, a stream of GETs,
// and the committed rows checked afterwards.
import { spawn, ChildProcess } from "node:child_process";
import { mkdirSync, existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { createServer, AddressInfo } from "node:net";
import { request } from "node:http";
import { join } from "node:path";
import { Xend } from "./xmcli";
import { repoRoot } from "./repo";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const freePort = () => new Promise<number>(
  (res) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => { const p = (s.address() as AddressInfo).port; s.close(() => res(p)); });
  }
);

/**
 * A xend of its own for the Debian system (socket under `dir`/`name`/run, a relocation listener on a free
 * port), for a 512 MiB domain. `nodeOptions`: options for Node before bin/xend.js (bench/apps gives those
 * of its #! line).
 */
export async function debXend(dir: string, name: string, nodeOptions: string[] = []): Promise<Xend> {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  return Xend.start({
    socket: join(d, "run", "xend.sock"), memoryMiB: 640, relocation: await freePort(),
    env: { XEND_SUSPEND_TIMEOUT_MS: "120000" }, nodeOptions, xmTimeoutMs: 600000, polls: 400,
  });
}

/** A domain's console through `xm console`: everything it printed, across re-attaches, is in `out`. */
export class DomConsole {
  out = "";
  con!: ChildProcess;
  exited!: Promise<number | null>;
  constructor(readonly name: string) {}
  /** `xm console NAME` on the xend the domain is on; the previous attachment is left as it is (it ends with the domain
   *  there). */
  attach(x: Xend): void {
    const c = spawn(
      process.execPath, [join(repoRoot(), "bin", "xm.js"), "console", this.name],
      { env: x.env, stdio: ["pipe", "pipe", "pipe"] }
    );
    c.stdout!.on("data", (b) => { this.out += b; });
    c.stderr!.on("data", (b) => { this.out += b; });
    c.stdin!.on("error", () => {});
    this.con = c;
    this.exited = new Promise((r) => c.on("exit", (code) => r(code)));
  }
  /** Waits until the output (from `from` on) matches `re`; gives the match. Throws after `ms` or once the console
   *  ended. */
  async waitFor(re: RegExp, ms: number, from = 0): Promise<RegExpExecArray> {
    const t0 = Date.now();
    for (;;) {
      const m = re.exec(this.out.slice(from));
      if (m) return m;
      if (Date.now() - t0 > ms || this.con.exitCode !== null)
        throw new Error(`no ${re} on the console in ${ms / 1000} s; it ends with:\n${this.out.slice(-2500)}`);
      await sleep(200);
    }
  }
  /** Types a line and waits for `re` in what follows it. */
  run(line: string, re: RegExp, ms = 120000): Promise<RegExpExecArray> {
    const from = this.out.length;
    this.con.stdin!.write(line + "\n");
    return this.waitFor(re, ms, from);
  }
  write(s: string): void { this.con.stdin!.write(s); }
}

export function httpGet(port: number, path: string, timeout = 120000): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const r = request({ host: "127.0.0.1", port, path, timeout }, (s) => {
      let body = "";
      s.on("data", (b) => { body += b; });
      s.on("end", () => res({ status: s.statusCode ?? 0, body }));
      s.on("error", rej);
    });
    r.on("timeout", () => r.destroy(new Error("timeout")));
    r.on("error", rej);
    r.end();
  });
}

/** A PostgreSQL client program of the host (psql, pgbench) by its versioned path; undefined when absent. */
export function pgTool(name: string): string | undefined {
  const base = "/usr/lib/postgresql";
  if (!existsSync(base)) return undefined;
  for (const v of readdirSync(base).sort().reverse())
    if (existsSync(join(base, v, "bin", name))) return join(base, v, "bin", name);
  return undefined;
}
/** The guest's role `xenwasm` (scripts/debian-system.sh). */
export const pgEnv = { ...process.env, PGPASSWORD: "xenwasm", PGCONNECT_TIMEOUT: "120" };
/** A PostgreSQL client run from the host against the guest's forwarded port (async: the guest runs in another process).
 *  */
export function pg(
  tool: string, port: number, args: string[], ms = 300000
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const c = spawn(
      tool, ["-h", "127.0.0.1", "-p", String(port), "-U", "xenwasm", ...args],
      { env: pgEnv, stdio: ["ignore", "pipe", "pipe"] }
    );
    let stdout = "", stderr = "";
    c.stdout.on("data", (b) => { stdout += b; }); c.stderr.on("data", (b) => { stderr += b; });
    const t = setTimeout(() => c.kill("SIGKILL"), ms);
    c.on("close", (status) => { clearTimeout(t); res({ status, stdout, stderr }); });
  });
}

/**
 * INSERTs one at a time through one psql session (autocommit): a row counts as committed when psql
 * has printed the \echo that follows its INSERT, i.e. after the server answered the COMMIT. A lost
 * session (the guest stopped, the forward gone) ends psql; the row then in flight is "in doubt" (it may
 * or may not have committed) and a new session takes the next id.
 */
export class InsertStream {
  readonly acked: number[] = [];
  readonly inDoubt: number[] = [];
  sessions = 0;
  lastError = "";
  private next = 1;
  private stopped = false;
  private proc?: ChildProcess;
  private done?: Promise<void>;
  constructor(private readonly psql: string, private readonly port: number, readonly table: string) {}
  start(): void { this.done = this.loop(); }
  private async loop(): Promise<void> {
    while (!this.stopped) { await this.session(); if (!this.stopped) await sleep(250); }
  }
  private session(): Promise<void> {
    this.sessions++;
    return new Promise((res) => {
      const c = spawn(this.psql, [
          "-h", "127.0.0.1", "-p", String(this.port), "-U", "xenwasm", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
          "xenwasm"
        ],
        { env: { ...pgEnv, PGCONNECT_TIMEOUT: "10" }, stdio: ["pipe", "pipe", "pipe"] });
      this.proc = c;
      let buf = "", pending = 0, watchdog: ReturnType<typeof setTimeout> | undefined;
      const send = () => {
        if (this.stopped) { c.stdin!.end(); return; }
        pending = this.next++;
        c.stdin!.write(`INSERT INTO ${this.table}(id) VALUES (${pending});\n\\echo ACK ${pending}\n`);
        clearTimeout(watchdog);
        // A session that hangs (a connection the NAT will never answer) is ended; its row is in doubt.
        watchdog = setTimeout(() => c.kill("SIGKILL"), 90000);
      };
      c.stdout!.on("data", (b) => {
        buf += b;
        for (let i; (i = buf.indexOf("\n")) >= 0;) {
          const m = /^ACK (\d+)$/.exec(buf.slice(0, i).trim());
          buf = buf.slice(i + 1);
          if (m && Number(m[1]) === pending) { this.acked.push(pending); pending = 0; send(); }
        }
      });
      c.stderr!.on("data", (b) => { this.lastError = String(b).trim(); });
      c.stdin!.on("error", () => {});
      c.on("close", () => { clearTimeout(watchdog); if (pending) this.inDoubt.push(pending); res(); });
      send();
    });
  }
  async stop(): Promise<void> { this.stopped = true; this.proc?.stdin?.end(); await this.done; }
}

/** GETs of the static and the PHP page in turn; a failed GET is retried (counted) until it is answered. */
export class GetStream {
  ok = 0;
  failedAttempts = 0;
  maxRetries = 0;
  okTimes: number[] = [];
  private stopped = false;
  private done?: Promise<void>;
  constructor(private readonly port: number) {}
  start(): void { this.done = this.loop(); }
  private async loop(): Promise<void> {
    for (let n = 0; !this.stopped; n++) {
      const [path, re] = n % 2 ? ["/hello.php", /^PHP .* sum=5050$/m] : ["/hello.html", /hello from Apache/];
      for (let retries = 0; ; retries++) {
        const r = await httpGet(this.port, path, 30000).catch(() => undefined);
        if (r && r.status === 200 && re.test(r.body)) {
          this.ok++; this.okTimes.push(Date.now()); this.maxRetries = Math.max(this.maxRetries, retries); break;
        }
        this.failedAttempts++;
        if (this.stopped) return;
        await sleep(500);
      }
      await sleep(200);
    }
  }
  async stop(): Promise<void> { this.stopped = true; await this.done; }
  /** The longest time between two answered GETs, of those answered from `from` (ms since the epoch) on. */
  longestGap(from: number): number {
    const t = this.okTimes, i = t.findIndex((x) => x >= from);
    let gap = 0;
    for (let k = Math.max(1, i); i >= 0 && k < t.length; k++) gap = Math.max(gap, t[k] - t[k - 1]);
    return gap;
  }
}

/** Both streams on one guest. */
export class Load {
  readonly inserts: InsertStream;
  readonly gets: GetStream;
  constructor(readonly psql: string, readonly pgPort: number, httpPort: number, table = "load") {
    this.inserts = new InsertStream(psql, pgPort, table);
    this.gets = new GetStream(httpPort);
  }
  /** Creates the table and starts both streams. */
  async start(): Promise<void> {
    const mk = await pg(
      this.psql, this.pgPort, [
        "-X", "-q", "-v", "ON_ERROR_STOP=1", "xenwasm", "-c",
        `CREATE TABLE ${this.inserts.table}(id int PRIMARY KEY, at timestamptz DEFAULT now())`
      ]
    );
    if (mk.status !== 0) throw new Error(`CREATE TABLE ${this.inserts.table}: ${mk.stderr}`);
    this.inserts.start(); this.gets.start();
  }
  async stop(): Promise<void> { await this.inserts.stop(); await this.gets.stop(); }
  /** Waits until the streams have made `n` more commits and 2 more answered GETs than now; throws after `ms`. */
  async progress(n: number, ms: number, what: string, tail = () => ""): Promise<void> {
    const a0 = this.inserts.acked.length, g0 = this.gets.ok, t0 = Date.now();
    while (this.inserts.acked.length < a0 + n || this.gets.ok < g0 + 2) {
      if (Date.now() - t0 > ms) throw new Error(
        `${what}: ${this.inserts.acked.length - a0} commits and `
          + `${this.gets.ok - g0} GETs in ${ms / 1000} s (psql: ` + `${this.inserts.lastError})${tail()}`
      );
      await sleep(200);
    }
  }
  /**
   * The table read back against what the host saw: `lost` the rows whose COMMIT returned but are not
   * there, `neverSent` rows there that were neither acknowledged nor in doubt; `rows` how many there are.
   */
  async rows(): Promise<{ rows: number; lost: number[]; neverSent: number[] }> {
    const acked = [...this.inserts.acked];
    const r = await pg(
      this.psql, this.pgPort, ["-X", "-A", "-t", "xenwasm", "-c", `SELECT id FROM ${this.inserts.table} ORDER BY id`]
    );
    if (r.status !== 0) throw new Error(`SELECT from ${this.inserts.table}: ${r.stderr}`);
    const have = new Set(r.stdout.trim().split("\n").filter(Boolean).map(Number));
    const doubt = new Set(this.inserts.inDoubt), ack = new Set(this.inserts.acked);
    return {
      rows: have.size, lost: acked.filter((i) => !have.has(i)),
      neverSent: [...have].filter((i) => !ack.has(i) && !doubt.has(i))
    };
  }
}

export interface SaveRestore { save_s: number; restore_s: number; bytes: number; gap_ms: number; commitsBefore: number }
/**
 * Mid-load (3 commits and 2 GETs first), `xm save NAME FILE` then `xm restore FILE` on `x`; the console
 * is attached again and the load must go on (3 more commits, 2 GETs). The file is removed. Save and
 * restore times are of the xm commands; gap_ms is the longest time between answered GETs since the save began.
 */
export async function saveRestore(x: Xend, dc: DomConsole, load: Load, file: string): Promise<SaveRestore> {
  const tail = () => `; console:\n${dc.out.slice(-1500)}`;
  await load.progress(3, 300000, "before the save", tail);
  const commitsBefore = load.inserts.acked.length;
  const t0 = Date.now();
  const sv = await x.xmAsync("save", dc.name, file);
  const tSaved = Date.now();
  if (sv.status !== 0) throw new Error(`xm save: ${sv.stderr}${x.xm("dmesg").stdout.slice(-2000)}`);
  await dc.exited; // the console ends with the domain
  if (new RegExp(`^${dc.name}\\s`, "m").test(x.xm("list").stdout))
    throw new Error(`${dc.name} still listed after xm save`);
  const rs = x.xm("restore", file);
  const tRestored = Date.now();
  if (rs.status !== 0) throw new Error(`xm restore: ${rs.stderr}`);
  const bytes = statSync(file).size;
  rmSync(file, { force: true }); // ~512 MiB
  dc.attach(x);
  await load.progress(3, 300000, "after the restore", tail);
  return {
    save_s: (tSaved - t0) / 1000, restore_s: (tRestored - tSaved) / 1000, bytes, gap_ms: load.gets.longestGap(t0),
    commitsBefore
  };
}

export interface LiveMigration {
  total_s: number; gap_ms: number;
  /** `xm migrate --json`'s summary: downtimeMs, rounds, pagesSent, memPages, live... */
  summary: { downtimeMs: number; rounds: number; pagesSent: number; memPages: number; live: boolean };
  getsDuring: number; failedGets: number; maxRetries: number; maxRetriesBefore: number; commits: number;
  inDoubt: number;
}
/**
 * Mid-load (2 commits and 2 GETs first), `xm migrate --live --json NAME 127.0.0.1:PORT` from `from` to
 * `to`; the domain must be gone from `from`; the console is attached on `to` and the load must go on
 * (3 more commits, 2 GETs). total_s is the xm command's time.
 */
export async function migrateLive(from: Xend, to: Xend, dc: DomConsole, load: Load): Promise<LiveMigration> {
  const tail = () => `; console:\n${dc.out.slice(-1500)}`;
  const { gets, inserts } = load;
  await load.progress(2, 300000, "before the migration", tail);
  const f0 = gets.failedAttempts, r0 = gets.maxRetries, ok0 = gets.ok, a0 = inserts.acked.length,
    d0 = inserts.inDoubt.length;
  gets.maxRetries = 0;
  const t0 = Date.now();
  const mg = await from.xmAsync("migrate", "--live", "--json", dc.name, `127.0.0.1:${to.port}`);
  const tDone = Date.now();
  if (mg.status !== 0) throw new Error(`xm migrate: ${mg.stderr}${from.xm("dmesg").stdout.slice(-2000)}`);
  const summary = JSON.parse(mg.stdout.trim().split("\n").pop()!);
  await dc.exited;
  if (new RegExp(`^${dc.name}\\s`, "m").test(from.xm("list").stdout))
    throw new Error(`${dc.name} still listed on the source after xm migrate`);
  const getsDuring = gets.ok - ok0;
  dc.attach(to);
  await load.progress(3, 300000, "after the migration", tail);
  return {
    total_s: (tDone - t0) / 1000, gap_ms: gets.longestGap(t0), summary, getsDuring,
    failedGets: gets.failedAttempts - f0,
    maxRetries: gets.maxRetries, maxRetriesBefore: r0, commits: inserts.acked.length - a0,
    inDoubt: inserts.inDoubt.length - d0,
  };
}
