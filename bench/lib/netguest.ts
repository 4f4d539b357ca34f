// The guest of bench/net.ts: Debian's kernel with a busybox initramfs serving a small page with busybox httpd on
// port 80 and echoing with `nc -ll -e /bin/cat` on port 7, its NIC's modules for Xen (xen-netfront) and for QEMU
// (virtio-net); it prints NETBENCH-READY once it serves.
import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { linuxModule, busyboxInitramfs } from "../../tests/lib/linux";

export const PAGE = "<html><body><p>hello from busybox httpd</p></body></html>\n";
const NIC_MODULES: [string, string][] = [
  ["virtio_ring", "drivers/virtio/virtio_ring.ko"], ["virtio", "drivers/virtio/virtio.ko"],
  ["virtio_pci_legacy_dev", "drivers/virtio/virtio_pci_legacy_dev.ko"],
  ["virtio_pci_modern_dev", "drivers/virtio/virtio_pci_modern_dev.ko"], ["virtio_pci", "drivers/virtio/virtio_pci.ko"],
  ["failover", "net/core/failover.ko"], ["net_failover", "drivers/net/net_failover.ko"],
  ["virtio_net", "drivers/net/virtio_net.ko"], ["xen-netfront", "drivers/net/xen-netfront.ko"],
];

/** The guest: its NIC's modules (those of the other machine fail harmlessly), DHCP, httpd and the echo server. */
export function netGuestInitramfs(work: string): string {
  mkdirSync(work, { recursive: true });
  const script = join(work, "udhcpc.sh"), page = join(work, "hello.html");
  writeFileSync(script, [
    "#!/bin/sh",
    'if [ "$1" = bound ]; then',
    "  ifconfig $interface $ip netmask $subnet up",
    "  route add default gw $router dev $interface",
    '  echo "dhcp: got $ip"',
    "fi",
  ].join("\n") + "\n", { mode: 0o755 });
  writeFileSync(page, PAGE);
  return busyboxInitramfs(join(work, "initramfs"), [
    "mkdir -p /etc /tmp",
    `for m in ${NIC_MODULES.map(([m]) => m).join(" ")}; do insmod /lib/modules/$m.ko 2>/dev/null; done`,
    "ifconfig lo 127.0.0.1 up",
    "n=0; while ! ifconfig eth0 up 2>/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done",
    "udhcpc -i eth0 -s /etc/udhcpc.sh -q -n -t 10 -T 1 2>&1 | grep -v '^udhcpc'",
    "httpd -p 80 -h /www",
    "nc -ll -p 7 -e /bin/cat &",
    "sleep 1",
    "echo NETBENCH-READY",
    "while true; do sleep 1000; done",
  ], [
    ...NIC_MODULES.map(([m, rel]): [string, string] => [`lib/modules/${m}.ko`, linuxModule(rel)]),
    ["etc/udhcpc.sh", script], ["www/hello.html", page],
  ]);
}
