// SMP PV guests (issue 12): VCPUOP_initialise/up/down/is_up, IPIs between vCPUs, fair shares of the CPU
// (guests/pv/smp.c, both widths, 1 to 4 vCPUs).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { XenHost } from "../host/pv/host";
import { guestPath } from "./lib/pvrun";
import { join } from "node:path";
import { linuxDomain, type LinuxDomain } from "./lib/linux";
import { saveDomain, restoreDomain } from "../host/save/save";
import { DS_RUNNING, DS_SHUTDOWN, V_FIFO_CB, VF_ONLINE } from "../assembly/records";

async function runSmp(
  bits: 32 | 64, vcpus: number, role = "n"
): Promise<{ out: string; dmesg: string; state: number; reason: number; host: XenHost; domid: number }> {
  const host = await XenHost.create(256);
  const chunks: string[] = [];
  const dom = host.createDomain(
    "smp", new Uint8Array(readFileSync(guestPath("smp", bits))),
    { memoryMiB: 16, vcpus, cmdline: `vcpus=${vcpus} role=${role}` }
  );
  dom.onConsole = (b) => chunks.push(new TextDecoder().decode(b));
  const t0 = Date.now();
  await host.runUntil(() => host.state(dom.domid) !== DS_RUNNING || Date.now() - t0 > 60000);
  return {
    out: chunks.join(""), dmesg: host.dmesg(), state: host.state(dom.domid), reason: host.shutdownReason(dom.domid),
    host, domid: dom.domid
  };
}

for (const bits of [64, 32] as const) {
  for (const vcpus of [1, 2, 4]) {
    test(`PV smp guest (${bits}-bit, ${vcpus} ` + `vCPU${vcpus > 1 ? "s" : ""}): initialise/up/down/is_up, `
        + `IPIs, fair shares; the last vCPU down powers off`, async () => {
      const r = await runSmp(bits, vcpus);
      const fails = r.out.split("\n").filter((l) => l.startsWith("FAIL"));
      assert.equal(fails, [], r.out + r.dmesg);
      assert.match(r.out, "smp: PASSED", r.out + r.dmesg);
      assert.match(r.out, `the domain has ${vcpus} vCPUs`);
      if (vcpus > 1) assert.match(r.out, `vCPU ${vcpus - 1} took itself down`);
      // Each vCPU's runstate as Xen keeps it (checked by the guest; that the checks ran):
      if (vcpus > 1) for (const l of [
        `vCPU ${vcpus - 1} is RUNSTATE_offline since its creation`,
        `vCPU 0 registers vCPU ${vcpus - 1}'s runstate area: written`,
        "woken by an IPI: RUNSTATE_runnable (1)", "it is RUNSTATE_offline at once (3)",
      ]) assert.match(r.out, `ok: ${l}`, r.out);
      assert.is(r.state, 2, "shut down");
      assert.is(r.reason, 0, "powered off");
      assert.match(r.dmesg, "its last online vCPU went down");
      assert.is(r.host.core.x.hv_domain_vcpus(r.domid), vcpus);
      if (process.env.SMP_SHOW) console.log(r.out, r.dmesg);
    });
  }
}

for (const bits of [64, 32] as const) {
  test(`PV smp guest (${bits}-bit): a context whose code selector `
      + `does not load crashes the domain when that vCPU first runs`, async () => {
    const r = await runSmp(bits, 2, "c");
    assert.match(r.out, "expecting the domain to be crashed", r.out + r.dmesg);
    assert.not.match(r.out, "smp: PASSED");
    assert.is(r.state, 2, "shut down");
    assert.is(r.reason, 3, "crashed");
    assert.match(r.dmesg, /d\d+v1: the cs of its initial context does not load: 0x123[13]/);
  });
  test(`PV smp guest (${bits}-bit): a context whose data selector does not load starts in the failsafe callback`,
    async () => {
    const r = await runSmp(bits, 2, "d");
    const fails = r.out.split("\n").filter((l) => l.startsWith("FAIL"));
    assert.equal(fails, [], r.out + r.dmesg);
    assert.match(r.out, "smp: PASSED", r.out + r.dmesg);
    assert.is(r.reason, 0, "poweroff");
    assert.match(r.dmesg, /d\d+v1: a data selector of its initial context does not load: failsafe callback at 0x/);
  });
}

// Debian's Linux with vcpus=2: it brings vCPU 1 up (VCPUOP_initialise, its IPIs, timer and runstate),
// user space sees two CPUs, and two busy processes run on both of them (each CPU's user time in
// /proc/stat grows while they run). Then it is suspended, saved and restored in another host with both
// vCPUs (Linux takes vCPU 1 down and up again on resume), counts on and still has two CPUs.
const WORK = join(process.cwd(), "tests", "build", "linux-smp");
const cpuTimes = (s: string, tag: string) => {
  const m = new Map<string, number>();
  for (const l of s.split("\n")) {
    const r = new RegExp(`^${tag} (cpu\\d+) (\\d+) (\\d+) (\\d+)`).exec(l.trim());
    if (r) m.set(r[1], Number(r[2]) + Number(r[3]) + Number(r[4]));
  }
  return m;
};
const ticks = (s: string) => [...s.matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
const cpus = () => [
  'echo "nproc: $(nproc)"',
  'echo "cpuinfo: $(grep -c ^processor /proc/cpuinfo)"',
  'echo "online: $(cat /sys/devices/system/cpu/online)"',
];
let vm: LinuxDomain; // (the next test suspends and saves it)

test("Debian's Linux with vcpus=2: two CPUs online, a two-process workload runs on both", async () => {
  vm = await linuxDomain("linux-smp", WORK, [
    "mount -t sysfs sysfs /sys; mount -t devtmpfs dev /dev",
    'echo "xenwasm: smp user space"',
    "dmesg | grep -i 'fifo-based'",
    ...cpus(),
    "grep '^cpu[0-9]' /proc/stat | sed 's/^/before /'",
    "spin() { i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; }",
    "spin & spin & wait",
    "grep '^cpu[0-9]' /proc/stat | sed 's/^/after /'",
    "i=0",
    "while [ $i -lt 12 ]; do i=$((i+1)); echo \"tick $i\"; sleep 0.3; done",
    'echo "restored:"',
    ...cpus(),
    "poweroff -f",
  ], { vcpus: 2 });
  const { host } = vm, domid = vm.dom.domid;
  const t0 = Date.now();
  await host.runUntil(() => ticks(vm.out).length >= 2 || host.state(domid) !== DS_RUNNING || Date.now() - t0 > 400000);
  const out = vm.out; // (nothing runs while the assertions below read it)
  if (process.env.SMP_SHOW) console.log(out);
  assert.match(out, "xenwasm: smp user space", out.slice(-4000) + host.dmesg());
  assert.match(out, "nproc: 2");
  assert.match(out, "cpuinfo: 2");
  assert.match(out, "online: 0-1", out.slice(-3000));
  const before = cpuTimes(out, "before"), after = cpuTimes(out, "after");
  assert.equal([...after.keys()], ["cpu0", "cpu1"], out.slice(-2000));
  for (const c of ["cpu0", "cpu1"])
    assert.ok(after.get(c)! - before.get(c)! >= 20, `${c} ran the workload: ${before.get(c)} -> ${after.get(c)} ticks`);
  // FIFO event channels on both vCPUs: each has its own control block (V_FIFO_CB, assembly/records.ts).
  assert.match(out, /Using FIFO-based ABI/);
  for (const vc of [0, 1]) assert.ok(
    host.core.view().getUint32(host.core.x.hv_vcpu_addr(domid, vc) + V_FIFO_CB, true) !== 0,
    `vCPU ${vc} has a FIFO control block`
  );
  assert.is(host.state(domid), DS_RUNNING, "running");
});

test("Linux with two vCPUs suspends, is saved, restored in a new host with both, counts on, still has two CPUs",
  async () => {
  const { host } = vm, domid = vm.dom.domid;
  host.store.write(`/local/domain/${domid}/control/shutdown`, "suspend");
  let t0 = Date.now();
  await host.runUntil(() => host.state(domid) !== DS_RUNNING || Date.now() - t0 > 60000);
  assert.is(host.state(domid), DS_SHUTDOWN, vm.out.slice(-2000) + host.dmesg());
  assert.is(host.shutdownReason(domid), 2, "suspend");
  const stream = saveDomain(host, domid);
  const before = ticks(vm.out);
  host.destroyDomain(domid);
  const b = await XenHost.create(512);
  const r = restoreDomain(b, stream);
  assert.is(b.core.x.hv_domain_vcpus(r.domid), 2);
  let o2 = "";
  r.onConsole = (x) => { o2 += new TextDecoder().decode(x); };
  t0 = Date.now();
  await b.runUntil(() => b.state(r.domid) !== DS_RUNNING || Date.now() - t0 > 180000);
  if (process.env.SMP_SHOW) console.log(o2);
  const all = [...before, ...ticks(o2)];
  assert.equal(
    all, Array.from({ length: 12 }, (_, i) => i + 1),
    "no gap, no repeat: " + all.join(",") + o2.slice(-2000) + b.dmesg()
  );
  assert.match(o2, /restored:\s+nproc: 2\s+cpuinfo: 2\s+online: 0-1/, o2.slice(-2000));
  assert.is(b.state(r.domid), DS_SHUTDOWN, "shut down");
  assert.is(b.shutdownReason(r.domid), 0, "poweroff");
  b.destroyDomain(r.domid);
});

// ... and `xm vcpu-set` (XenHost.setVcpusOnline: each vCPU's xenstore cpu/N/availability, as xl writes them):
// set to 2, Linux's cpu_hotplug driver takes CPUs 2 and 3 down (VCPUOP_down: offline in the hypervisor);
// set to 4 again, they become present and come back when user space onlines them (VCPUOP_up).
const online = "$(cat /sys/devices/system/cpu/online)";
test("Debian's Linux with vcpus=4 has four CPUs; xm vcpu-set 2 takes two down, vcpu-set 4 lets them back", async () => {
  const vm4 = await linuxDomain("linux-smp4", WORK + "-4", [
    "mount -t sysfs sysfs /sys",
    ...cpus(),
    'echo "vcpu-set: ready"',
    `i=0; while [ "${online}" != "0-1" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done`,
    `echo "set 2: online ${online}, nproc $(nproc)"`,
    "for c in 2 3; do j=0; until echo 1 > /sys/devices/system/cpu/cpu$c/online || [ $j -ge 300 ]; do "
      + "sleep 0.1; j=$((j+1)); done; done 2>/dev/null",
    `echo "set 4: online ${online}, nproc $(nproc)"`,
    "poweroff -f",
  ], { vcpus: 4 });
  const { host: h, dom } = vm4;
  const t0 = Date.now();
  let step = 0, downFlags: number[] = [];
  await h.runUntil(() => {
    if (step === 0 && vm4.out.includes("vcpu-set: ready")) { step = 1; h.setVcpusOnline(dom.domid, 2); }
    if (step === 1 && vm4.out.includes("set 2:")) {
      step = 2;
      downFlags = [0, 1, 2, 3].map((v) => h.core.x.hv_vcpu_flags(dom.domid, v) & VF_ONLINE);
      h.setVcpusOnline(dom.domid, 4);
    }
    return h.state(dom.domid) !== DS_RUNNING || Date.now() - t0 > 400000;
  });
  const o = vm4.out;
  if (process.env.SMP_SHOW) console.log(o);
  assert.match(o, /nproc: 4\s+cpuinfo: 4\s+online: 0-3/, o.slice(-3000) + h.dmesg());
  assert.match(o, "set 2: online 0-1, nproc 2", o.slice(-3000));
  assert.equal(downFlags, [1, 1, 0, 0], "vCPUs 2 and 3 offline in the hypervisor (VCPUOP_down)");
  assert.match(o, "set 4: online 0-3, nproc 4", o.slice(-3000));
  assert.throws(() => h.setVcpusOnline(dom.domid, 5), /has 4 vCPUs: the count must be 1 to 4/);
  assert.throws(() => h.setVcpusOnline(dom.domid, 0), /the count must be 1 to 4/);
  assert.is(h.state(dom.domid), DS_SHUTDOWN, "shut down");
  assert.is(h.shutdownReason(dom.domid), 0, "poweroff");
  h.destroyDomain(dom.domid);
});

// xl's maxvcpus (XenHost: vcpus 4, vcpusOnline 2, what xend passes for `vcpus = 2`, `maxvcpus = 4`): Linux
// brings up the two available CPUs' worth (it takes the unavailable ones down once xenstore is up), and
// `xm vcpu-set 3` lets a third one in.
test("Debian's Linux with maxvcpus=4, vcpus=2: two CPUs online, xm vcpu-set 3 lets a third in", async () => {
  const vmx = await linuxDomain("linux-maxv", WORK + "-max", [
    "mount -t sysfs sysfs /sys",
    `i=0; while [ "${online}" != "0-1" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done`,
    `echo "start: online ${online}, nproc $(nproc)"`,
    "j=0; until echo 1 > /sys/devices/system/cpu/cpu2/online || [ $j -ge 300 ]; do sleep 0.1; j=$((j+1)); done "
      + "2>/dev/null",
    `echo "set 3: online ${online}, nproc $(nproc)"`,
    "poweroff -f",
  ], { vcpus: 4, vcpusOnline: 2 });
  const { host: h, dom } = vmx;
  assert.equal(
    [0, 1, 2, 3].map((i) => h.store.readString(`/local/domain/${dom.domid}/cpu/${i}/availability`)),
    ["online", "online", "offline", "offline"]
  );
  const t0 = Date.now();
  let set = false, flags: number[] = [];
  await h.runUntil(() => {
    if (!set && vmx.out.includes("start:")) {
      set = true;
      flags = [0, 1, 2, 3].map((v) => h.core.x.hv_vcpu_flags(dom.domid, v) & VF_ONLINE);
      h.setVcpusOnline(dom.domid, 3);
    }
    return h.state(dom.domid) !== DS_RUNNING || Date.now() - t0 > 400000;
  });
  const o = vmx.out;
  if (process.env.SMP_SHOW) console.log(o);
  assert.match(o, "start: online 0-1, nproc 2", o.slice(-3000) + h.dmesg());
  assert.equal(flags, [1, 1, 0, 0], "vCPUs 2 and 3 offline in the hypervisor");
  assert.match(o, "set 3: online 0-2, nproc 3", o.slice(-3000));
  assert.is(h.shutdownReason(dom.domid), 0, "poweroff");
  h.destroyDomain(dom.domid);
});

test.run();
