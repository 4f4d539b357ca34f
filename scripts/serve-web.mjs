// Serves the web page (dist/web, made by `npm run hostbuild`) on 127.0.0.1: `npm run web` (or
// `node scripts/serve-web.mjs [PORT]`, default 8080), then open http://127.0.0.1:PORT/.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { serveStatic } from "./lib/static.mjs";

{
  const port = Number(process.argv[2] ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`serve-web: bad port ${process.argv[2]}`); process.exit(2);
  }
  const dir = join(fileURLToPath(new URL("..", import.meta.url)), "dist", "web");
  serveStatic(dir, port).then((s) => console.log(`serving ${dir} on http://127.0.0.1:${s.address().port}/`),
    (e) => { console.error(`serve-web: ${e.message}`); process.exit(1); });
}
