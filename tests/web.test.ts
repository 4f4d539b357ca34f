// The web page (web/, built into dist/web) in Debian's Chromium (scripts/setup.sh installs `chromium`),
// driven by playwright-core, served by scripts/serve-web.mjs: the bundled guest boots in the page's
// Worker with its console in xterm.js and takes what is typed; Debian's Linux, kernel and initramfs
// chosen as files in the page's form, boots to a busybox shell that runs a typed line.
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
let server: Server, browser: Browser, url = "";
const errors: string[] = [];

async function openPage(): Promise<Page> {
  const page = await browser.newPage();
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("status")?.textContent?.startsWith("ready"));
  return page;
}
const lines = (page: Page) => page.evaluate(() => (globalThis as unknown as { terminalLines(): string[] }).terminalLines());
const statusText = (page: Page) => page.evaluate(() => document.getElementById("status")?.textContent ?? "");
async function until(page: Page, what: string, f: (l: string[], status: string) => boolean, ms: number): Promise<string[]> {
  const t0 = Date.now();
  for (;;) {
    const l = await lines(page), s = await statusText(page);
    if (f(l, s)) return l;
    if (Date.now() - t0 > ms) assert.unreachable(`${what}: not within ${ms / 1000} s; status: ${s}; terminal:\n${l.filter(Boolean).slice(-30).join("\n")}\n${errors.join("\n")}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test.before(async () => {
  assert.ok(existsSync(CHROMIUM), "Debian's chromium (scripts/setup.sh installs it)");
  assert.ok(existsSync(join(ROOT, "dist", "web", "worker.js")) && existsSync(join(ROOT, "dist", "web", "xenwasm.wasm")), "dist/web (npm run hostbuild)");
  server = await serveStatic(join(ROOT, "dist", "web"), 0);
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
});
test.after(async () => { await browser?.close(); server?.closeAllConnections(); server?.close(); });

test("the page boots the bundled guest in a Worker; its console is in xterm.js; typed keys reach its console ring", async () => {
  const page = await openPage();
  await page.click("#bundled");
  await until(page, "the guest's greeting", (l) => l.includes("Hello from a xenwasm PV guest (64-bit)") && l.some((x) => x.startsWith("hello: staying up")), 120_000);
  const all = await lines(page);
  assert.ok(all.some((x) => /^Xen \d+\.\d+, magic xen-3\.0-x86_64, 4096 pages$/.test(x)), all.join("\n"));
  await page.click("#term");
  await page.keyboard.type("typed in xterm");
  await page.keyboard.press("Enter");
  await until(page, "the typed line taken by the guest's console ring", (_, s) => /: 15 typed bytes taken by its console$/.test(s), 30_000);
  assert.equal(errors, []);
  await page.close();
});

test("Debian's Linux (kernel and initramfs chosen as files) boots in the page to a shell that runs a typed line", async () => {
  const initrd = busyboxInitramfs(join(ROOT, "tests", "build", "web-linux"), ["echo xenwasm: a shell on $(tty 2>/dev/null || echo hvc0)", "exec sh"]);
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
  const l = await until(page, "the typed line's output", (x) => x.includes("the answer is 42") && x.includes("Linux"), 120_000);
  assert.ok(l.some((x) => x.includes("echo the answer is $((6*7)); uname -s")), "the shell echoed the typed line");
  assert.equal(errors, []);
  await page.close();
});

test.run();
