// Domain configuration files in xm/xl syntax: the grammar, the typed result, and one-line errors
// that name file:line: key.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ConfigError, parseConfig, parseSettings, vdevNumber } from "../host/xend/config";
import { randomMac, validateMac, isValidMac, RANDOM_MAC_SPACE } from "../host/xend/mac";
import { EXAMPLE_CONFIG } from "./lib/configs";

const MIN = `name = "g"\nkernel = "/boot/vmlinuz"\n`;

/** Parse MIN + extra lines as guest.cfg. */
function cfg(extra: string) {
  return parseConfig(MIN + extra, "guest.cfg");
}

/** Expect a ConfigError whose message matches `re`, and is one line starting "guest.cfg:LINE: KEY: ". */
function fails(text: string, line: number | undefined, key: string, re: RegExp) {
  let err: unknown;
  try {
    parseConfig(text, "guest.cfg");
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError, `expected a ConfigError for:\n${text}\ngot ${err}`);
  const e = err as ConfigError;
  const prefix = `guest.cfg${line === undefined ? "" : `:${line}`}: ${key}: `;
  assert.ok(
    e.message.startsWith(prefix), `message ${JSON.stringify(e.message)} should start with ${JSON.stringify(prefix)}`
  );
  assert.not.match(e.message, /\n/, "message is one line");
  assert.match(e.message, re);
  assert.is(e.file, "guest.cfg");
  assert.is(e.line, line);
  assert.is(e.key, key);
}

/** As `fails`, with the file being MIN (2 lines) + extra, so extra's first line is line 3. */
function failsExtra(extra: string, line: number, key: string, re: RegExp) {
  fails(MIN + extra, line, key, re);
}

test("a full example file", () => {
  const c = parseConfig(
    EXAMPLE_CONFIG,
    "web.cfg",
  );
  assert.equal(c, {
    name: "web-01.example_a",
    kernel: "/boot/vmlinuz-6.1",
    ramdisk: "/boot/initrd.img-6.1",
    cmdline: "root=/dev/xvda1 ro console=hvc0 earlyprintk=xen",
    memory: 512,
    maxmem: 1024,
    vcpus: 4,
    uuid: "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
    disks: [
      { target: "/srv/xen/web-01.img", vdev: "xvda", writable: true, format: "raw" },
      { target: "/dev/vg0/web-01-swap", vdev: "xvdb", writable: true, format: "raw" },
      { target: "/srv/iso/data,with,commas.img", vdev: "xvdc", writable: false, format: "raw" },
    ],
    vifs: [{ mac: "00:16:3e:12:34:56", bridge: "xenbr0" }, {}],
    on_poweroff: "destroy",
    on_reboot: "restart",
    on_crash: "coredump-restart",
    cpu_weight: 512,
    cpu_cap: 150,
    warnings: [],
  });
});

test("defaults", () => {
  const c = parseConfig(MIN, "guest.cfg");
  assert.equal(c, {
    name: "g", kernel: "/boot/vmlinuz", memory: 128, maxmem: 128, vcpus: 1, disks: [], vifs: [],
    on_poweroff: "destroy", on_reboot: "restart", on_crash: "destroy", warnings: [],
  });
  assert.is(cfg("memory = 256\n").maxmem, 256, "maxmem follows memory");
});

test("command line: root, extra and cmdline as xl combines them", () => {
  assert.is(cfg(`root = "/dev/xvda"\n`).cmdline, "root=/dev/xvda");
  assert.is(cfg(`extra = "quiet"\n`).cmdline, "quiet");
  assert.is(cfg(`root = "/dev/xvda"\nextra = "quiet"\n`).cmdline, "root=/dev/xvda quiet");
  const c = cfg(`cmdline = "console=hvc0"\nextra = "quiet"\n`);
  assert.is(c.cmdline, "console=hvc0");
  assert.equal(c.warnings, ["guest.cfg:3: cmdline: root= and extra= are ignored in favour of cmdline="]);
});

test("every disk syntax", () => {
  const disk = (spec: string) => cfg(`disk = [ ${JSON.stringify(spec).replace(/^"|"$/g, "'")} ]\n`).disks[0];
  const d = (target: string, vdev: string, writable: boolean) => ({ target, vdev, writable, format: "raw" });
  // xm prefixes
  assert.equal(disk("file:/img/a.img,xvda,w"), d("/img/a.img", "xvda", true));
  assert.equal(disk("phy:/dev/vg/lv,xvdb,r"), d("/dev/vg/lv", "xvdb", false));
  assert.equal(disk("tap:aio:/img/b.img,xvdc,rw"), d("/img/b.img", "xvdc", true));
  assert.equal(disk("tap2:tapdisk:aio:/img/b.img,xvdc,ro"), d("/img/b.img", "xvdc", false));
  assert.equal(disk("aio:/img/b.img,xvdd,w"), d("/img/b.img", "xvdd", true));
  assert.equal(disk("raw:/dev/vg/guest-volume,hda,w"), d("/dev/vg/guest-volume", "hda", true));
  // xm without prefix: target,vdev,access
  assert.equal(disk("/img/c.img,xvde,r"), d("/img/c.img", "xvde", false));
  assert.equal(disk("/img/c.img,xvde,ro"), d("/img/c.img", "xvde", false));
  assert.equal(disk("/img/c.img,xvde"), d("/img/c.img", "xvde", true), "access defaults to rw");
  // xl positional: target,format,vdev,access
  assert.equal(disk("/dev/vg/guest-volume,,hda"), d("/dev/vg/guest-volume", "hda", true));
  assert.equal(disk("/dev/vg/guest-volume,raw,hda,rw"), d("/dev/vg/guest-volume", "hda", true));
  assert.equal(disk(" /img/x.img , raw , xvdf , r "), d("/img/x.img", "xvdf", false), "spaces around parameters");
  // xl key=value, mixed with positional, target= last taking the rest (commas included)
  assert.equal(
    disk("format=raw, vdev=hda, access=rw, target=/dev/vg/guest-volume"), d("/dev/vg/guest-volume", "hda", true)
  );
  assert.equal(disk("vdev=xvdg,access=r,target=/a,b,c=d.img"), d("/a,b,c=d.img", "xvdg", false));
  assert.equal(disk("/img/y.img,vdev=xvdh,access=ro"), d("/img/y.img", "xvdh", false));
  assert.equal(disk("devtype=disk,backendtype=qdisk,/img/y.img,raw,xvdh"), d("/img/y.img", "xvdh", true));
  // device names
  for (
    const v of ["xvdz", "xvdaa", "xvda1", "xvdq", "hdd", "hda63", "sda", "sdp15", "d0", "d3p2", "51712", "268439552"]
  ) {
    assert.is(disk(`/img/z.img,${v},w`).vdev, v, v);
  }
  // several disks, and 'w'/'r' produce writable true/false
  const c = cfg(`disk = [ 'file:/a,xvda,w', 'file:/b,xvdb,r', ]\n`);
  assert.equal(c.disks.map((x) => [x.vdev, x.writable]), [["xvda", true], ["xvdb", false]]);
});

test("vdev numbering follows libxl", () => {
  assert.is(vdevNumber("xvda"), 51712);
  assert.is(vdevNumber("xvdb1"), (202 << 8) | 16 | 1);
  assert.is(vdevNumber("xvdq"), (1 << 28) | (16 << 8));
  assert.is(vdevNumber("xvdaa"), (1 << 28) | (26 << 8));
  assert.is(vdevNumber("d0p1"), 51713);
  assert.is(vdevNumber("hda"), 768);
  assert.is(vdevNumber("hdc"), 22 << 8);
  assert.is(vdevNumber("sdb"), (8 << 8) | 16);
  assert.type(vdevNumber("hde"), "string");
  assert.type(vdevNumber("sdq"), "string");
  assert.type(vdevNumber("vda"), "string");
});

test("bad disk specifications: each part", () => {
  const bad = (spec: string, re: RegExp) =>
    failsExtra(`\ndisk = [ 'file:/ok,xvda,w',\n  '${spec}' ]\n`, 5, "disk", new RegExp(`entry 2: ${re.source}`));
  bad("", /empty disk specification/);
  bad("nfs:/img/a,xvdb,w", /unknown disk prefix "nfs:"/);
  bad("qcow2:/img/a,xvdb,w", /disk format "qcow2" is not supported \(only raw\)/);
  bad("tap:qcow2:/img/a,xvdb,w", /disk format "qcow2" is not supported/);
  bad("tap:/img/a,xvdb,w", /prefix "tap:" must be followed by a format/);
  bad("/img/a,vmdk,xvdb,w", /unknown disk format "vmdk"/);
  bad("format=qcow2,vdev=xvdb,target=/a", /disk format "qcow2" is not supported/);
  bad("file:,xvdb,w", /no target/);
  bad(",raw,xvdb,w", /no target/);
  bad("file:/img/a", /no vdev/);
  bad("/img/a,raw", /no vdev/);
  bad("file:/img/a,vda,w", /bad vdev "vda"/);
  bad("file:/img/a,hde,w", /bad vdev "hde": only hda to hdd exist/);
  bad("file:/img/a,sdq,w", /bad vdev "sdq"/);
  bad("file:/img/a,xvda256,w", /bad vdev "xvda256"/);
  bad("file:/img/a,0,w", /bad vdev "0"/);
  bad("file:/img/a,xvdb,x", /access must be r, ro, w or rw \(got "x"\)/);
  bad("file:/img/a,xvdb,w!", /access must be r, ro, w or rw/);
  bad("file:/img/a,xvdb,w,extra", /too many positional parameters/);
  bad("/img/a,raw,xvdb,w,extra", /too many positional parameters/);
  bad("vdev=xvdb,vdev=xvdc,target=/a", /vdev is given more than once/);
  bad("script=block-iscsi,vdev=xvdb,target=/a", /unsupported disk parameter "script"/);
  bad("/img/a,raw,xvdb,w,cdrom", /disk flag "cdrom" is not supported/);
  bad("devtype=cdrom,/img/a,raw,xvdb", /devtype "cdrom" is not supported/);
  failsExtra(`disk = [ 7 ]\n`, 3, "disk", /entry 1: must be a string .*\(got 7\)/);
  failsExtra(`disk = 'file:/a,xvda,w'\n`, 3, "disk", /must be a list/);
});

test("duplicate vdev refused, also under another name for the same device", () => {
  failsExtra(
    `disk = [ 'file:/a,xvda,w',\n 'file:/b,xvdb,w',\n 'file:/c,xvda,r' ]\n`, 5, "disk",
    /entry 3: vdev "xvda" is already used by an earlier disk/
  );
  failsExtra(
    `disk = [ 'file:/a,xvda,w', 'file:/b,51712,w' ]\n`, 3, "disk", /entry 2: vdev "51712" is already used by "xvda"/
  );
  failsExtra(`disk = [ 'file:/a,xvdb,w', 'file:/b,d1,w' ]\n`, 3, "disk", /already used by "xvdb"/);
  // different partitions of one disk are different devices
  assert.is(cfg(`disk = [ 'file:/a,xvda1,w', 'file:/b,xvda2,w' ]\n`).disks.length, 2);
});

test("lists spanning lines, with comments, blank lines and trailing commas", () => {
  const c = cfg(`
disk = [
  # the root filesystem
  'file:/a,xvda,w',   # trailing comment

  'file:/b,xvdb,r'    # no comma before a newline is fine before ']'
  ,
  'file:/c,xvdc,r',
]
vif = [

]
`);
  assert.equal(c.disks.map((d) => d.target), ["/a", "/b", "/c"]);
  assert.equal(c.vifs, []);
  assert.equal(cfg(`disk = ['file:/a,xvda,w',]\n`).disks.length, 1, "trailing comma on one line");
  assert.equal(cfg(`disk = []\n`).disks, []);
});

test("quotes, escapes, numbers and statement separators", () => {
  const s = parseSettings(
    `a = "double # not a comment"; b = 'single "inner" quotes'\n` +
      `c = "esc \\"q\\" \\\\ \\t \\x41\\101 \\'"\n` +
      `d = 0x10 ; e = 42 ;\n` +
      `f = [ 1, "two", [ 'nested' ] ]\n` +
      `g = [ 'x' ]\ng += [ 'y' ]\nh = "ab"\nh += "cd"\n` +
      `a = "later wins"\n`,
    "t.cfg",
  );
  const v = (k: string) => s.get(k)!.value;
  assert.equal(v("a"), { kind: "string", text: "later wins", line: 9 });
  assert.is((v("b") as { text: string }).text, `single "inner" quotes`);
  assert.is((v("c") as { text: string }).text, `esc "q" \\ \t AA '`);
  assert.is((v("d") as { n: number }).n, 16);
  assert.is((v("e") as { n: number }).n, 42);
  const f = v("f");
  assert.is(f.kind, "list");
  assert.is(f.kind === "list" && f.items.length, 3);
  const g = v("g");
  assert.equal(g.kind === "list" && g.items.map((i) => i.kind === "string" && i.text), ["x", "y"]);
  assert.is((v("h") as { text: string }).text, "abcd");
  // as in libxlu: a number where a string is wanted, a numeric string where a number is wanted
  const c = parseConfig(`name = 'g'; kernel = "/k"; memory = "256"; maxmem = '0x200'\nvcpus=2`, "guest.cfg");
  assert.equal([c.memory, c.maxmem, c.vcpus], [256, 512, 2]);
  assert.is(parseConfig(`name = "x1"\nkernel = 5\n`, "guest.cfg").kernel, "5");
  assert.is(parseConfig(`name="g";kernel="/k";on_crash="preserve"`, "g.cfg").on_crash, "preserve", "no final newline");
  assert.is(parseConfig(`name = "g"\r\nkernel = "/k"\r\n`, "g.cfg").kernel, "/k", "CRLF line ends");
});

test("unknown settings and vif options are warnings, not errors", () => {
  const c = cfg(`bootloader = "pygrub"\nvfb = [ 'vnc=1' ]\nvif = [ 'bridge=br0,script=vif-bridge,foo=1' ]\n`);
  assert.equal(c.warnings, [
    'guest.cfg:3: bootloader: "pygrub" is not supported, ignored: the kernel = setting boots',
    "guest.cfg:4: vfb: no framebuffer here, ignored: the guest has its PV console (xm console)",
    'guest.cfg:5: vif: entry 1: option "script" is not supported, ignored',
    'guest.cfg:5: vif: entry 1: unknown option "foo", ignored',
    'guest.cfg:5: vif: entry 1: bridge "br0" does not exist here '
      + '(the host has one bridge, xenbr0): the vif goes on xenbr0',
  ]);
  assert.equal(cfg(`colo = 1\n`).warnings, ["guest.cfg:3: colo: unknown setting, ignored"]);
  assert.equal(c.vifs, [{ bridge: "br0" }]);
});

test("vif options", () => {
  const c = cfg(`vif = [ ' mac=00:16:3e:00:00:01 , ip=10.0.0.2 10.0.0.3, model=e1000 ', 'bridge=xenbr1' ]\n`);
  assert.equal(c.vifs, [{ mac: "00:16:3e:00:00:01", ip: "10.0.0.2 10.0.0.3", model: "e1000" }, { bridge: "xenbr1" }]);
  failsExtra(`vif = [ 'bridge=xenbr0,ip=10.0.0.300' ]\n`, 3, "vif", /entry 1: bad ip "10.0.0.300"/);
  failsExtra(`vif = [ 'bridge=this-name-is-far-too-long' ]\n`, 3, "vif", /bad bridge name/);
  failsExtra(`vif = [ 'xenbr0' ]\n`, 3, "vif", /entry 1: expected key=value, got "xenbr0"/);
  failsExtra(
    `vif = [ 'mac=00:16:3e:00:00:01', 'mac=00:16:3E:00:00:01' ]\n`, 3, "vif",
    /entry 2: mac 00:16:3e:00:00:01 is already used/
  );
});

test("errors: missing name or kernel", () => {
  fails(`kernel = "/k"\n`, undefined, "name", /required setting is missing/);
  fails(`name = "g"\n`, undefined, "kernel", /required setting is missing/);
  fails(``, undefined, "name", /required setting is missing/);
  fails(`name = ""\nkernel = "/k"\n`, 1, "name", /must not be empty/);
  fails(`kernel = "/k"\n\nname = "a b"\n`, 3, "name", /only letters, digits/);
  fails(`name = "${"x".repeat(65)}"\nkernel = "/k"\n`, 1, "name", /at most 64 characters/);
  assert.is(parseConfig(`name = "${"x".repeat(64)}"\nkernel = "/k"\n`, "guest.cfg").name.length, 64);
  fails(`name = "123"\nkernel = "/k"\n`, 1, "name", /all digits/);
  fails(`name = "Domain-0"\nkernel = "/k"\n`, 1, "name", /reserved/);
  fails(`name = [ "g" ]\nkernel = "/k"\n`, 1, "name", /must be a string, not a list/);
  fails(`name = "g"\nkernel = ""\n`, 2, "kernel", /must not be empty/);
  fails(`name = "g"\nkernel = "/k"\nramdisk = ['/r']\n`, 3, "ramdisk", /must be a string/);
});

test("errors: memory, maxmem, vcpus, scheduler", () => {
  failsExtra(
    `\n\n\n\nmemory = "lots"\n`, 7, "memory", /^guest\.cfg:7: memory: must be a whole number of MiB \(got "lots"\)$/
  );
  failsExtra(`memory = 512M\n`, 3, "memory", /malformed number "512M"/);
  failsExtra(`memory = 1.5\n`, 3, "memory", /malformed number/);
  failsExtra(`memory = -5\n`, 3, "memory", /negative numbers are not allowed/);
  failsExtra(`memory = 0\n`, 3, "memory", /must be between 1 and 1048576 MiB \(got 0\)/);
  failsExtra(`memory = 1048577\n`, 3, "memory", /between 1 and 1048576/);
  failsExtra(`memory = [ 512 ]\n`, 3, "memory", /\(got a list\)/);
  failsExtra(`memory = 0512\n`, 3, "memory", /ambiguous number 0512/);
  failsExtra(`memory = 512\nmaxmem = 256\n`, 4, "maxmem", /must not be less than memory \(256 < 512 MiB\)/);
  failsExtra(`maxmem = 64\n`, 3, "maxmem", /must not be less than memory \(64 < 128 MiB\)/);
  failsExtra(`vcpus = 0\n`, 3, "vcpus", /between 1 and 32 \(got 0\)/);
  failsExtra(`vcpus = 33\n`, 3, "vcpus", /between 1 and 32/);
  failsExtra(`vcpus = "two"\n`, 3, "vcpus", /must be a whole number \(got "two"\)/);
  failsExtra(`vcpus = 2\nmaxvcpus = 1\n`, 4, "maxvcpus", /must not be less than vcpus \(1 < 2\)/);
  failsExtra(`maxvcpus = 33\n`, 3, "maxvcpus", /between 1 and 32/);
  assert.equal([cfg(`vcpus = 2\nmaxvcpus = 4\n`).maxvcpus, cfg(`vcpus = 2\nmaxvcpus = 2\n`).maxvcpus], [4, undefined]);
  failsExtra(`cpu_weight = 0\n`, 3, "cpu_weight", /between 1 and 65535/);
  failsExtra(`cpu_weight = 65536\n`, 3, "cpu_weight", /between 1 and 65535/);
  failsExtra(`vcpus = 2\ncpu_cap = 201\n`, 4, "cpu_cap", /between 0 and 200/);
  failsExtra(`cap = 101\n`, 3, "cap", /between 0 and 100/);
  failsExtra(`cap = 10\ncpu_cap = 10\n`, 3, "cap", /also set \(line 4\)/);
  assert.equal([cfg(`vcpus = 32\ncpu_cap = 3200\ncpu_weight=1\n`).cpu_cap, cfg(`cpu_cap = 0\n`).cpu_cap], [3200, 0]);
});

test("errors: on_* actions, uuid", () => {
  for (const a of ["destroy", "restart", "preserve", "rename-restart", "coredump-destroy", "coredump-restart"]) {
    assert.is(cfg(`on_reboot = "${a}"\n`).on_reboot, a);
  }
  failsExtra(
    `on_poweroff = "explode"\n`, 3, "on_poweroff",
    /must be one of destroy, restart, preserve, rename-restart, coredump-destroy, coredump-restart \(got "explode"\)/
  );
  failsExtra(`on_reboot = "Restart"\n`, 3, "on_reboot", /got "Restart"/);
  failsExtra(`on_crash = "soft-reset"\n`, 3, "on_crash", /got "soft-reset"/);
  failsExtra(`on_crash = destroy\n`, 3, "on_crash", /unquoted word "destroy"/);
  failsExtra(`uuid = "not-a-uuid"\n`, 3, "uuid", /must look like/);
});

test("errors: bad mac in a vif", () => {
  for (const [mac, re] of [
    ["00:16:3e:12:34", /not six two-digit hex octets/],
    ["00:16:3e:12:34:5g", /not six two-digit hex octets/],
    ["00-16-3e-12-34-56", /not six two-digit hex octets/],
    ["01:16:3e:12:34:56", /multicast/],
    ["ff:ff:ff:ff:ff:ff", /multicast/],
    ["00:00:00:00:00:00", /all-zero/],
  ] as const) {
    failsExtra(
      `vif = [ '',\n  'bridge=xenbr0,mac=${mac}' ]\n`, 4, "vif", new RegExp(`entry 2: bad mac "${mac}": .*${re.source}`)
    );
  }
});

test("errors: unterminated string or list, garbage lines", () => {
  failsExtra(`kernel = "/boot/vmlinuz\n`, 3, "kernel", /unterminated string/);
  failsExtra(`extra = 'console=hvc0\n`, 3, "extra", /unterminated string/);
  failsExtra(
    `disk = [ 'file:/a,xvda,w',\n  'file:/b,xvdb,w'\n`, 3, "disk",
    /unterminated list: no '\]' before the end of the file/
  );
  failsExtra(
    `disk = [ 'file:/a,xvda,w',\nmemory = 512\n`, 4, "disk",
    /unquoted word "memory" in the list opened on line 3 \(is its '\]' missing\?\)/
  );
  failsExtra(`disk = [ 'a' 'b' ]\n`, 3, "disk", /expected ',' or '\]'/);
  failsExtra(`disk = ]\n`, 3, "disk", /expected a value/);
  failsExtra(`memory =\n`, 3, "memory", /expected a value .* but got end of line/);
  failsExtra(`\nthis is not a setting\n`, 4, "this", /expected '=' after the setting name \(got "is"\)/);
  failsExtra(`memory 512\n`, 3, "memory", /expected '='/);
  failsExtra(
    `memory = 512 vcpus = 2\n`, 3, "memory", /expected the end of the setting after its value \(got "vcpus"\)/
  );
  failsExtra(`$$$\n`, 3, "syntax", /unexpected character '\$'/);
  failsExtra(`"name" = "g"\n`, 3, "syntax", /must start with a setting name/);
  failsExtra(`extra = "bad \\q escape"\n`, 3, "extra", /invalid escape \\q/);
  failsExtra(`vif = [ 'a' ]\nvif += "b"\n`, 4, "vif", /'\+=' cannot add/);
});

test("validateMac", () => {
  assert.is(validateMac("00:16:3e:12:34:56"), null);
  assert.is(validateMac("02:AB:cd:00:00:01"), null, "locally administered unicast is fine");
  assert.ok(isValidMac("00:16:3E:7F:FF:FF"));
  assert.not.ok(isValidMac("00:16:3e:12:34:56:78"));
  assert.not.ok(isValidMac("0:16:3e:12:34:56"));
  assert.not.ok(isValidMac("03:16:3e:12:34:56"));
  assert.not.ok(isValidMac(" 00:16:3e:12:34:56"));
});

test("randomMac: format, range, uniqueness", () => {
  const used = new Set<string>(["00:16:3E:00:00:01"]);
  for (let i = 0; i < 2000; i++) {
    const m = randomMac(used);
    assert.match(m, /^00:16:3e:[0-7][0-9a-f]:[0-9a-f]{2}:[0-9a-f]{2}$/);
    assert.is(validateMac(m), null);
    assert.not.ok(used.has(m), `duplicate ${m}`);
    used.add(m);
  }
  assert.is(RANDOM_MAC_SPACE, 0x800000);
});

test("randomMac: masks the top bit, probes past used addresses (case-insensitively)", () => {
  const c = globalThis.crypto;
  const original = c.getRandomValues;
  let bytes = [0x12, 0x34, 0x56];
  (c as { getRandomValues: unknown }).getRandomValues = <T extends ArrayBufferView | null>(a: T): T => {
    (a as unknown as Uint8Array).set(bytes);
    return a;
  };
  try {
    assert.is(randomMac(new Set()), "00:16:3e:12:34:56");
    // the random source keeps returning a used address: the fallback walks to the next free one
    assert.is(randomMac(new Set(["00:16:3E:12:34:56"])), "00:16:3e:12:34:57");
    bytes = [0xff, 0xff, 0xff];
    assert.is(randomMac(new Set()), "00:16:3e:7f:ff:ff", "first random octet below 0x80");
    assert.is(randomMac(new Set(["00:16:3e:7f:ff:ff"])), "00:16:3e:00:00:00", "the walk wraps within the range");
  } finally {
    (c as { getRandomValues: unknown }).getRandomValues = original;
  }
});

test.run();
