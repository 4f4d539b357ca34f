// `node --import ./scripts/lib/list-tests.mjs FILE.test.js`: FILE's `import ... from "uvu"` gets
// scripts/lib/uvu-list.mjs instead, so running it lists its tests (`# TESTS [...]`) without running them.
import { register } from "node:module";
register("data:text/javascript," + encodeURIComponent(`
const shim = ${JSON.stringify(new URL("./uvu-list.mjs", import.meta.url).href)};
export async function resolve(spec, ctx, next) {
  return spec === "uvu" ? { url: shim, shortCircuit: true } : next(spec, ctx);
}
`));
