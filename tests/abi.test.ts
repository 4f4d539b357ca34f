// The core's typed, versioned ABI (issue 13): the module's exports are exactly the host's declaration
// (host/core.ts CORE_EXPORTS, each with its wasm signature), the core's interface version is the host's
// and a core of another version (or without one, or missing exports) is refused with a clear error, and
// the record offsets and numbers the host reads (assembly/records.ts, shared by both) read what the
// core's own accessors return.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { Core, CoreAbiError, CORE_EXPORTS, MM } from "../host/core";
import { wasmPath } from "../host/node/platform";
import { XenHost, SHUTDOWN_NAMES } from "../host/pv/host";
import * as R from "../assembly/records";
import { exportSignatures } from "./lib/wasmsig";

const bin = new Uint8Array(readFileSync(wasmPath()));

test("the module's exports are the host's declaration, signature for signature", () => {
  const sigs = exportSignatures(bin);
  const declared = new Map(Object.entries(CORE_EXPORTS));
  const undeclared = [...sigs.keys()].filter((n) => !declared.has(n));
  const absent = [...declared.keys()].filter((n) => !sigs.has(n));
  assert.equal(undeclared, [], "exported by the core, not declared in host/core.ts CORE_EXPORTS/CoreExports");
  assert.equal(absent, [], "declared by the host, not exported by the core");
  for (const [n, s] of declared) assert.is(sigs.get(n), s, `${n}: the core's signature vs the host's`);
  const kinds = WebAssembly.Module.exports(new WebAssembly.Module(bin)).filter((e) => e.kind !== "function");
  assert.equal(kinds, [{ name: "memory", kind: "memory" }], "besides functions, only the memory");
});

test("the core's interface version is the host's", async () => {
  const core = await Core.create();
  assert.is(core.x.core_abi_version(), R.CORE_ABI_VERSION);
});

// A module of one function `name` returning `v` (i32), and nothing else.
function tiny(name: string, v: number): WebAssembly.Module {
  // (n >= 0)
  const leb = (n: number) => {
    const o: number[] = [];
    for (;;) { const b = n & 0x7f; n >>= 7; if (n === 0 && !(b & 0x40)) { o.push(b); return o; } o.push(b | 0x80); }
  };
  const nm = [...new TextEncoder().encode(name)];
  const exp = [1, nm.length, ...nm, 0, 0];
  const body = [0, 0x41, ...leb(v), 0x0b];
  return new WebAssembly.Module(new Uint8Array([
    0, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    1, 5, 1, 0x60, 0, 1, 0x7f,
    3, 2, 1, 0,
    7, exp.length, ...exp,
    10, body.length + 2, 1, body.length, ...body,
  ]));
}

test("a core of another interface version, without one, or missing exports is refused, saying why", () => {
  const refused = (m: WebAssembly.Module, re: RegExp) => {
    try { Core.fromModule(m); } catch (e) {
      assert.instance(e, CoreAbiError);
      assert.match((e as Error).message, re);
      return;
    }
    assert.unreachable("accepted");
  };
  refused(
    tiny("core_abi_version", R.CORE_ABI_VERSION + 998), new RegExp(
      `interface version ${R.CORE_ABI_VERSION + 998}, this host ${R.CORE_ABI_VERSION}: rebuild it .*npm run asbuild`
    )
  );
  refused(tiny("something_else", 1), /has no interface version: rebuild it/);
  refused(tiny("core_abi_version", R.CORE_ABI_VERSION), /lacks init, heap_end, .*: rebuild it/);
});

test("the shared record offsets and numbers read what the core's accessors say", async () => {
  const host = await XenHost.create(64);
  const d = host.createDomain("abi", new Uint8Array(readFileSync("guests/build/pv-idle-64.elf")), { memoryMiB: 4 });
  const x = host.core.x, v = () => host.core.view(), rec = x.hv_domain_addr(d.domid);
  const u32 = (off: number) => v().getUint32(rec + off, true);
  assert.is(u32(R.D_STATE), R.DS_RUNNING);
  assert.is(x.hv_domain_state(d.domid), R.DS_RUNNING);
  assert.is(u32(R.D_WIDTH), 64);
  assert.is(u32(R.D_NR_VCPUS), x.hv_domain_vcpus(d.domid));
  assert.is(u32(R.D_MAX_PAGES), x.hv_domain_max_pages(d.domid));
  assert.is(u32(R.D_TOT_PAGES), x.hv_domain_pages(d.domid));
  assert.is(
    u32(R.D_STORE_MFN), d.storeMa, "the xenstore page the builder set up (a machine address, as save.ts reads it)"
  );
  assert.ok(
    u32(R.D_SHARED_INFO) >= MM.MACHINE_BASE && u32(R.D_SHARED_INFO) % 4096 === 0, "shared_info: a machine page"
  );
  // The vCPU record (V_*, VF_*: moved beside the domain's in records.ts, the core's own use unchanged).
  const vrec = x.hv_vcpu_addr(d.domid, 0), vu32 = (off: number) => v().getUint32(vrec + off, true);
  assert.is(vu32(R.V_DOMAIN), d.domid);
  assert.is(vu32(R.V_ID), 0);
  assert.ok(
    (vu32(R.V_FLAGS) & (R.VF_ONLINE | R.VF_INITIALISED)) === (R.VF_ONLINE | R.VF_INITIALISED),
    "vCPU 0 online, with a context"
  );
  x.hv_domain_shutdown(d.domid, R.SHUTDOWN_reboot);
  assert.is(u32(R.D_STATE), R.DS_SHUTDOWN);
  assert.is(u32(R.D_SHUTDOWN_REASON), R.SHUTDOWN_reboot);
  assert.is(x.hv_domain_shutdown_reason(d.domid), R.SHUTDOWN_reboot);
  host.destroyDomain(d.domid);
  for (
    const [n, k] of [
      ["poweroff", R.SHUTDOWN_poweroff], ["reboot", R.SHUTDOWN_reboot], ["suspend", R.SHUTDOWN_suspend],
      ["crash", R.SHUTDOWN_crash], ["watchdog", R.SHUTDOWN_watchdog], ["soft_reset", R.SHUTDOWN_soft_reset]
    ] as const
  ) {
    assert.is(SHUTDOWN_NAMES[k], n);
  }
});

test.run();
