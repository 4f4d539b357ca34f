// The web page (web/, built into dist/web) in Debian's Chromium (scripts/setup.sh installs `chromium`),
// driven by playwright-core, served by scripts/serve-web.mjs: the bundled guest boots in the page's
// Worker with its console in xterm.js and takes what is typed; Debian's Linux, kernel and initramfs
// chosen as files in the page's form, boots to a busybox shell that runs a typed line. The page's disk
// (xvda in the origin-private file system): our blkfront (guests/pv/blk.c, count=1) counts its boots
// on it across page reloads, from an empty disk and from an image chosen in the page; bad images and a
// page without an origin-private file system get a message.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { chromium, type Browser, type Page } from "playwright-core";
import { serveStatic } from "../scripts/lib/static.mjs";
import { repoRoot } from "./lib/repo";
import { linuxKernel, busyboxInitramfs } from "./lib/linux";

const ROOT = repoRoot();
const CHROMIUM = "/usr/bin/chromium";
let server: Server, browser: Browser, url = "", insecureUrl = "";
const errors: string[] = [];

async function openPage(at = url): Promise<Page> {
  const page = await browser.newPage();
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(at);
  await page.waitForFunction(() => document.getElementById("status")?.textContent?.startsWith("ready"));
  return page;
}
const lines = (page: Page) =>
  page.evaluate(() => (globalThis as unknown as { terminalLines(): string[] }).terminalLines());
const statusText = (page: Page) => page.evaluate(() => document.getElementById("status")?.textContent ?? "");
async function until(
  page: Page, what: string, f: (l: string[], status: string) => boolean, ms: number
): Promise<string[]> {
  const t0 = Date.now();
  for (;;) {
    const l = await lines(page), s = await statusText(page);
    if (f(l, s)) return l;
    if (Date.now() - t0 > ms) assert.unreachable(
      `${what}: not within ${ms / 1000} s; status: ${s}; `
        + `terminal:\n${l.filter(Boolean).slice(-30).join("\n")}\n${errors.join("\n")}`
    );
    await new Promise((r) => setTimeout(r, 250));
  }
}

test.before(async () => {
  assert.ok(existsSync(CHROMIUM), "Debian's chromium (scripts/setup.sh installs it)");
  assert.ok(
    existsSync(join(ROOT, "dist", "web", "worker.js")) && existsSync(join(ROOT, "dist", "web", "xenwasm.wasm")),
    "dist/web (npm run hostbuild)"
  );
  server = await serveStatic(join(ROOT, "dist", "web"), 0);
  const port = (server.address() as AddressInfo).port;
  url = `http://127.0.0.1:${port}/`;
  insecureUrl = `http://insecure.test:${port}/`; // the same server under a name that is not a secure context
  browser = await chromium.launch({
    executablePath: CHROMIUM, args: [
      "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--host-resolver-rules=MAP insecure.test 127.0.0.1"
    ],
  });
});
test.after(async () => { await browser?.close(); server?.closeAllConnections(); server?.close(); });

test("the page boots the bundled guest in a Worker; its console is in xterm.js; typed keys reach its console ring",
  async () => {
  const page = await openPage();
  await page.click("#bundled");
  await until(
    page, "the guest's greeting", (l) =>
      l.includes("Hello from a xenwasm PV guest (64-bit)") && l.some((x) => x.startsWith("hello: staying up")), 120_000
  );
  const all = await lines(page);
  assert.ok(all.some((x) => /^Xen \d+\.\d+, magic xen-3\.0-x86_64, 4096 pages$/.test(x)), all.join("\n"));
  await page.click("#term");
  await page.keyboard.type("typed in xterm");
  await page.keyboard.press("Enter");
  await until(
    page, "the typed line taken by the guest's console ring",
    (_, s) => /: 15 typed bytes taken by its console$/.test(s), 30_000
  );
  assert.equal(errors, []);
  await page.close();
});

test("Debian's Linux (kernel and initramfs chosen as files) boots in the page to a shell that runs a typed line",
  async () => {
  const initrd = busyboxInitramfs(
    join(ROOT, "tests", "build", "web-linux"), ["echo xenwasm: a shell on $(tty 2>/dev/null || echo hvc0)", "exec sh"]
  );
  const page = await openPage();
  await page.setInputFiles("#kernel", linuxKernel());
  await page.setInputFiles("#initrd", initrd);
  await page.fill("#cmdline", "console=hvc0 quiet");
  await page.fill("#memory", "256");
  await page.click("#boot");
  await until(page, "Linux's shell", (l) => l.some((x) => x.startsWith("xenwasm: a shell on")), 600_000);
  await page.click("#term");
  await page.keyboard.type("echo the answer is $((6*7)); uname -s");
  await page.keyboard.press("Enter");
  const l =
    await until(page, "the typed line's output", (x) => x.includes("the answer is 42") && x.includes("Linux"), 120_000);
  assert.ok(l.some((x) => x.includes("echo the answer is $((6*7)); uname -s")), "the shell echoed the typed line");
  assert.equal(errors, []);
  await page.close();
});

const diskText = (page: Page) => page.evaluate(() => document.getElementById("disk-status")?.textContent ?? "");
async function untilDisk(page: Page, re: RegExp): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    const t = await diskText(page);
    if (re.test(t)) return t;
    if (Date.now() - t0 > 30_000)
      assert.unreachable(`the disk's line: ${re} not within 30 s; it says: ${t}\n${errors.join("\n")}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
/** Boot our blkfront counting its boots on the page's disk (xvda); its console lines. */
async function bootCounter(page: Page): Promise<string[]> {
  assert.ok(await page.isChecked("#attach"), "the disk is offered to the guest");
  await page.setInputFiles("#kernel", join(ROOT, "guests", "build", "pv-blk-64.elf"));
  await page.fill("#cmdline", "count=1");
  await page.fill("#memory", "16");
  await page.click("#boot");
  // (xterm.js parses what it is given in a later frame: the status can be ahead of the terminal)
  const l = await until(
    page, "the counter's last line and poweroff", (x, s) =>
      (/ shut down \(/.test(s) && x.some((y) => y.startsWith("blk: the disk's count is now") || y.startsWith("FAIL")))
      || s.startsWith("error"), 120_000
  );
  assert.match(await statusText(page), /shut down \(poweroff\)$/, l.join("\n"));
  assert.equal(l.filter((x) => x.startsWith("FAIL")), [], l.join("\n"));
  return l;
}
const countLines = (l: string[]) => l.filter((x) => x.startsWith("blk: the disk's count"));

test(
  "the page's disk lives in the origin-private file system: a " + "guest's writes survive page reloads; a chosen image "
    + "replaces it; bad images are refused", async () => {
  const page = await openPage();
  await untilDisk(page, /^no disk yet/);
  assert.not.ok(await page.isEnabled("#attach"), "nothing to attach yet");
  // An image that is not whole sectors: refused with a message, nothing made.
  await page.setInputFiles(
    "#disk-image", { name: "odd.img", mimeType: "application/octet-stream", buffer: Buffer.alloc(1000) }
  );
  await untilDisk(page, /^disk: the disk image "odd\.img" is 1000 bytes, not a multiple of 512/);
  assert.not.ok(await page.isEnabled("#attach"));
  await page.fill("#disk-mib", "1");
  await page.click("#disk-create");
  await untilDisk(page, /^xvda: xvda\.img, 1 MiB \(2048 sectors\)/);
  assert.equal(countLines(await bootCounter(page)), ["blk: the disk's count was 0", "blk: the disk's count is now 1"]);
  // Reloaded: a new Worker, a new core; the disk is what the guest left.
  await page.reload();
  await page.waitForFunction(() => document.getElementById("status")?.textContent?.startsWith("ready"));
  await untilDisk(page, /^xvda: xvda\.img, 1 MiB/);
  assert.equal(countLines(await bootCounter(page)), ["blk: the disk's count was 1", "blk: the disk's count is now 2"]);
  // An image chosen in the page becomes the disk (its sector 0 says 41), and persists in turn.
  await page.reload();
  await page.waitForFunction(() => document.getElementById("status")?.textContent?.startsWith("ready"));
  const img = Buffer.alloc(4096);
  img.write("xenwasm-count\n");
  img.writeUInt32LE(41, 16);
  await page.setInputFiles("#disk-image", { name: "counted.img", mimeType: "application/octet-stream", buffer: img });
  await untilDisk(page, /^xvda: xvda\.img, 4 KiB \(8 sectors\)/);
  assert.equal(
    countLines(await bootCounter(page)), ["blk: the disk's count was 41", "blk: the disk's count is now 42"]
  );
  await page.reload();
  await page.waitForFunction(() => document.getElementById("status")?.textContent?.startsWith("ready"));
  // An empty file is refused too, and the disk stays as it was.
  await untilDisk(page, /^xvda: xvda\.img, 4 KiB/);
  await page.setInputFiles(
    "#disk-image", { name: "empty.img", mimeType: "application/octet-stream", buffer: Buffer.alloc(0) }
  );
  await untilDisk(page, /^disk: the disk image "empty\.img" is empty/);
  assert.equal(
    countLines(await bootCounter(page)), ["blk: the disk's count was 42", "blk: the disk's count is now 43"]
  );
  assert.equal(errors, []);
  await page.close();
});

test("a page without an origin-private file system (plain HTTP "
    + "from another host than localhost) says so and boots without " + "a disk", async () => {
  const page = await openPage(insecureUrl);
  await untilDisk(page, /^no disk: this browser offers no origin-private file system here/);
  assert.not.ok(await page.isEnabled("#attach"));
  await page.click("#disk-create");
  await untilDisk(page, /^disk: this browser offers no origin-private file system here/);
  await page.setInputFiles(
    "#disk-image", { name: "a.img", mimeType: "application/octet-stream", buffer: Buffer.alloc(512) }
  );
  await untilDisk(page, /^disk: this browser offers no origin-private file system here/);
  await page.click("#bundled");
  await until(page, "the guest's greeting", (l) => l.includes("Hello from a xenwasm PV guest (64-bit)"), 120_000);
  assert.equal(errors, []);
  await page.close();
});

test.run();
