// A full example config file (every kind of line the parser knows): tests/config.test.ts checks what it
// parses to; the parser fuzzer (tests/lib/pfuzz/targets.ts) mutates it.
export const EXAMPLE_CONFIG = `# Example PV guest
#
kernel = "/boot/vmlinuz-6.1"     # the guest kernel
ramdisk = '/boot/initrd.img-6.1'
name = "web-01.example_a"
memory = 512; maxmem = 0x400
vcpus = 4
uuid = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
root = "/dev/xvda1 ro"
extra = "console=hvc0 earlyprintk=xen"
disk = [ 'file:/srv/xen/web-01.img,xvda,w',
         'phy:/dev/vg0/web-01-swap,xvdb,w',   # swap
         'format=raw, vdev=xvdc, access=ro, target=/srv/iso/data,with,commas.img',
       ]
vif = [ 'mac=00:16:3E:12:34:56,bridge=xenbr0', '' ]
on_poweroff = "destroy"
on_reboot = 'restart'
on_crash = "coredump-restart"
cpu_weight = 512
cap = 150
`;
