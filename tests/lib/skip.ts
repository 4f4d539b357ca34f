// A test that cannot check what its name says here (no network namespaces, a missing tool) says so
// instead of passing: `return skip(NAME, "why")` prints `# SKIP NAME: why`, which scripts/test.mjs
// counts as skipped (not passed) and lists with its reason. Call it only as the test's last act.
export function skip(name: string, reason: string): void {
  console.log(`\n# SKIP ${name}: ${reason}`);
}
