// Builds the TypeScript host, tools, benchmarks and tests into dist/ with esbuild. Entry points are
// found by pattern, so adding a file needs no change here: host/cli/*.ts, bench/*.ts, tests/**/*.ts
// (files named *.test.ts and tests/*.ts tools), each bundled on its own (npm packages stay external).
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { readdirSync, statSync, existsSync, mkdirSync, copyFileSync } from "node:fs";
import { join } from "node:path";

function walk(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) { if (name !== "build" && name !== "fixtures") walk(p, out); }
    else if (p.endsWith(".ts") && !p.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

const entries = [
  ...walk("host/cli"),
  ...walk("bench").filter((p) => !p.includes("/lib/")),
  ...walk("tests").filter((p) => !p.includes("/lib/")),
];

await build({
  entryPoints: entries,
  outdir: "dist",
  outbase: ".",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  sourcemap: "linked",
  logLevel: "warning",
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  // Every Node bundle gets the Node platform (host/node/platform.ts: the core read from
  // build/xenwasm.wasm, disks from files); the platform-neutral library (host/index.ts) has none.
  inject: ["host/node/platform.ts"],
});

// The library (package.json "exports"): host/index.ts, platform-neutral (browsers, Workers, and any
// runtime given the core), and host/node/index.ts for Node, Bun and Deno (the core and disks from files,
// the NAT). npm packages stay external (a page's bundler resolves them). Their types: tsc into dist/types.
await build({
  entryPoints: { index: "host/index.ts" }, outdir: "dist/lib", bundle: true, platform: "neutral", format: "esm",
  target: "es2022", packages: "external", sourcemap: "linked", logLevel: "warning",
});
// The JIT's translator thread (host/node/translator.ts starts it from dist/lib/jit-worker.js).
await build({
  entryPoints: { "jit-worker": "host/node/jit-worker.ts" }, outdir: "dist/lib", bundle: true, platform: "node",
  format: "esm",
  target: "node20", packages: "external", sourcemap: "linked", logLevel: "warning",
});
await build({
  entryPoints: { node: "host/node/index.ts" }, outdir: "dist/lib", bundle: true, platform: "node", format: "esm",
  target: "node20", packages: "external", sourcemap: "linked", logLevel: "warning",
});
const tsc =
  spawnSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.lib.json"], { stdio: "inherit" });
if (tsc.status !== 0) {
  console.error("build-host: the library's type declarations (tsc -p tsconfig.lib.json) failed"); process.exit(1);
}

// The web page (web/): main.js (the page: xterm.js), worker.js (the library in a Worker), their HTML and
// CSS, the core, and the bundled guest (guests/build's if built, else guests/prebuilt's); the bare CPU
// benchmarks too when they are built (web/mips.mjs measures them in Chromium).
await build({
  entryPoints: { main: "web/main.ts", worker: "web/worker.ts" }, outdir: "dist/web", bundle: true, platform: "browser",
  format: "esm", target: "es2022", sourcemap: "linked", logLevel: "warning",
});
mkdirSync("dist/web/bench", { recursive: true });
copyFileSync("web/index.html", "dist/web/index.html");
copyFileSync("node_modules/@xterm/xterm/css/xterm.css", "dist/web/xterm.css");
if (existsSync("build/xenwasm.wasm")) copyFileSync("build/xenwasm.wasm", "dist/web/xenwasm.wasm");
copyFileSync(
  existsSync("guests/build/pv-hello-64.elf") ? "guests/build/pv-hello-64.elf" : "guests/prebuilt/pv-hello-64.elf",
  "dist/web/pv-hello-64.elf"
);
for (const n of ["crc32", "sieve", "memcpy", "sort"])
  if (existsSync(`guests/build/${n}-64.elf`)) copyFileSync(`guests/build/${n}-64.elf`, `dist/web/bench/${n}-64.elf`);
