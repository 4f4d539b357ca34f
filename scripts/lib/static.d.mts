import type { Server } from "node:http";
/** Serve `dir` on 127.0.0.1:`port` (0: any free port); resolves to the server once it listens. */
export function serveStatic(dir: string, port?: number): Promise<Server>;
