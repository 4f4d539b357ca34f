// Stands in for uvu when scripts/test.mjs asks a test file for the names of its tests
// (scripts/lib/list-tests.mjs resolves "uvu" here). Registers names, runs nothing, and prints one line
// `# TESTS ["name", ...]` when the file's module code is done.
const names = [];
function make(suiteName = "") {
  const t = (name) => { names.push(suiteName ? `${suiteName}: ${name}` : String(name)); };
  const nop = () => {};
  t.before = nop; t.before.each = nop; t.after = nop; t.after.each = nop;
  t.only = t;
  t.skip = (name) => { names.push(`${suiteName ? `${suiteName}: ` : ""}${name} (test.skip)`); };
  t.run = nop;
  return t;
}
export const test = make();
export const suite = (name = "") => make(name);
export async function exec() {}
process.on("exit", () => { process.stdout.write(`# TESTS ${JSON.stringify(names)}\n`); });
