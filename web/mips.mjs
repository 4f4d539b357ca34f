// Guest MIPS of the bare CPU benchmarks (crc32, sieve, memcpy, sort; 64-bit, JIT on) in Debian's Chromium,
// in the web page's Worker: each twice, the second (warm) run counted, as examples/embed/mips.mjs does
// under Node, Bun and Deno. Needs `npm run build` (dist/web with guests/build's benchmarks).
//   node web/mips.mjs
import { chromium } from "playwright-core";
import { serveStatic } from "../scripts/lib/static.mjs";

const server = await serveStatic(new URL("../dist/web", import.meta.url).pathname, 0);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
});
try {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page.waitForFunction(() => document.getElementById("status")?.textContent?.startsWith("ready"));
  await page.evaluate(() => globalThis.bench(["crc32", "sieve", "memcpy", "sort"]));
  await page.waitForFunction(() => globalThis.benchResult, null, { timeout: 600_000 });
  const rows = await page.evaluate(() => globalThis.benchResult);
  for (const r of rows) console.log(
    `${r.name.padEnd(7)} ${String(r.instructions).padStart(11)} ` + `insns ${r.seconds.toFixed(3)} s `
      + `${r.mips.toFixed(0).padStart(6)} MIPS`
  );
  const version = browser.version();
  console.log(
    `chromium ${version}: geomean `
      + `${Math.exp(rows.reduce((a, r) => a + Math.log(r.mips), 0) / rows.length).toFixed(0)} ` + `MIPS`
  );
} finally {
  await browser.close();
  server.closeAllConnections();
  server.close();
}
