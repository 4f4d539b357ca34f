// xm's help pages are kept in one place, its command table (host/cli/xm.ts + xmcmds.ts): `xm help` lists
// it, `xm help CMD` shows each page, completion/xm.bash reads both, and man/xm.1 is made from it
// (`npm run man`): this checks the committed man page is what the table gives today.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./lib/repo";
import { skip } from "./lib/skip";

const ROOT = repoRoot();
const xm = (...args: string[]) =>
  spawnSync(process.execPath, [join(ROOT, "bin", "xm.js"), ...args], { encoding: "utf8", timeout: 30000 });
// Each `xm help CMD` runs once: the second test reads the usage lines the first one checked.
const pages = new Map<string, ReturnType<typeof xm>>();
const helpPage = (c: string) => { let r = pages.get(c); if (!r) pages.set(c, r = xm("help", c)); return r; };
const commands = xm("help").stdout.split("\n").filter((l) => /^  [a-z]/.test(l)).map((l) => l.trim().split(/\s+/)[0]);

test("every command in `xm help` has its page in `xm help CMD` and in `CMD --help`", () => {
  assert.ok(commands.length >= 30, `commands listed: ${commands.join(" ")}`);
  for (const c of commands) {
    const r = helpPage(c);
    assert.is(r.status, 0, c);
    assert.match(r.stdout, new RegExp(`^usage: xm ${c}\\b.*\\n\\n\\S`), c);
    assert.is(xm(c, "--help").stdout, r.stdout, `${c} --help`);
  }
  assert.match(xm("help", "nosuch").stderr, /^xm: help: unknown command nosuch/);
});

test("man/xm.1 is up to date with the command table (npm run man rewrites it)", () => {
  const page = xm("help", "--man").stdout;
  const file = readFileSync(join(ROOT, "man", "xm.1"), "utf8");
  assert.ok(file === page, "man/xm.1 differs from `xm help --man`: run `npm run man` and commit man/xm.1");
  const sections = [...page.matchAll(/^\.SS (.*)$/gm)].map((m) => m[1].replace(/\\-/g, "-"));
  assert.equal(sections, commands, "one section per command, in xm help's order");
  for (const c of commands) {
    const usage = helpPage(c).stdout.split("\n")[0];
    assert.ok(page.includes(usage.replace(/\\/g, "\\e").replace(/-/g, "\\-")), `${c}'s usage line is in the page`);
  }
});

test("man/xm.1 is well-formed roff (groff -man -ww: no warnings)", () => {
  const g = spawnSync("groff", ["-man", "-Tutf8", "-ww", "-z", join(ROOT, "man", "xm.1")], { encoding: "utf8" });
  if (g.error) return skip("man/xm.1 is well-formed roff", "groff is not installed");
  assert.is(g.status, 0);
  assert.is(g.stderr, "", "groff's warnings");
});

test.run();
