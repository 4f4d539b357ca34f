// `npm run gen`: writes assembly/cpu/optable.gen.ts from the opcode table (host/cpu/x86-table.ts).
import { writeFileSync } from "node:fs";
import { renderOptable } from "../host/cpu/optable-render";

writeFileSync("assembly/cpu/optable.gen.ts", renderOptable());
console.log("assembly/cpu/optable.gen.ts written");
