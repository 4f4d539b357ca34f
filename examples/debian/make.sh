#!/bin/sh
# Makes what examples/debian/debian.cfg boots, in examples/debian/build/: Debian's amd64 kernel
# (linux-image-amd64's current version), an initramfs with Debian's busybox-static whose /init loads
# the Xen disk and network drivers, mounts the disk at /mnt, asks for an address by DHCP and gives a
# shell on the console, and a 64 MiB ext2 disk. Needs apt-get, dpkg, gzip and mke2fs (e2fsprogs;
# busybox makes the cpio archive); no root.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/build"
mkdir -p "$out/deb" && cd "$out/deb"
kpkg=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9][^ ]*\).*/\1/p' | head -1)
[ -n "$kpkg" ] || { echo "make.sh: apt-cache knows no linux-image-amd64 (a Debian or Ubuntu host with deb sources?)" >&2; exit 1; }
for p in "$kpkg" busybox-static; do
  ls "$p"_*.deb >/dev/null 2>&1 || apt-get download "$p"
  rm -rf "x-$p" && dpkg -x "$p"_*.deb "x-$p"
done
cp "x-$kpkg"/boot/vmlinuz-* "$out/vmlinuz"
mods=$(echo "x-$kpkg"/lib/modules/*/kernel)
root="$out/root"
rm -rf "$root" && mkdir -p "$root/bin" "$root/sbin" "$root/proc" "$root/sys" "$root/dev" "$root/mnt" "$root/etc" "$root/lib/modules"
cp x-busybox-static/bin/busybox "$root/bin/busybox"
for m in lib/crc16.ko crypto/crc32c_generic.ko fs/mbcache.ko fs/jbd2/jbd2.ko fs/ext4/ext4.ko drivers/block/xen-blkfront.ko drivers/net/xen-netfront.ko; do
  [ -e "$mods/$m" ] && cp "$mods/$m" "$root/lib/modules/"
done
# The kernel runs /sbin/poweroff (and /sbin/reboot) when xm shutdown (reboot) asks: no init to signal here.
printf '#!/bin/busybox sh\nexec /bin/busybox poweroff -f\n' > "$root/sbin/poweroff"
printf '#!/bin/busybox sh\nexec /bin/busybox reboot -f\n' > "$root/sbin/reboot"
printf '#!/bin/busybox sh\n[ "$1" = bound ] && ifconfig $interface $ip netmask $subnet up && route add default gw $router dev $interface && echo "nameserver $dns" > /etc/resolv.conf && echo "eth0: $ip"\nexit 0\n' > "$root/etc/udhcpc.sh"
cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in crc16 crc32c_generic mbcache jbd2 ext4 xen-blkfront xen-netfront; do [ -e /lib/modules/$m.ko ] && insmod /lib/modules/$m.ko; done
for i in 1 2 3 4 5 6 7 8 9 10; do [ -e /dev/xvda ] && break; sleep 0.3; done
mount /dev/xvda /mnt && echo "xvda mounted at /mnt"
ifconfig lo 127.0.0.1 up
[ -e /sys/class/net/eth0 ] && ifconfig eth0 up && udhcpc -i eth0 -s /etc/udhcpc.sh -q -n -t 5 -T 1 >/dev/null 2>&1
echo "Debian's Linux $(uname -r) on xenwasm: a busybox shell (poweroff to leave)"
export ENV=/etc/profile
while true; do setsid cttyhack sh; done
INIT
chmod 755 "$root/init" "$root/sbin/poweroff" "$root/sbin/reboot" "$root/etc/udhcpc.sh"
# The shell's own poweroff and reboot (busybox runs its applets directly): no init to signal either.
printf "alias poweroff='/bin/busybox poweroff -f' reboot='/bin/busybox reboot -f' halt='/bin/busybox poweroff -f'\n" > "$root/etc/profile"
(cd "$root" && find . | "$root/bin/busybox" cpio -o -H newc 2>/dev/null | gzip > "$out/initrd.gz")
if [ ! -e "$out/disk.img" ]; then
  mkdir -p "$out/disk-root" && echo "a file on the guest's own disk" > "$out/disk-root/hello.txt"
  mke2fs -q -F -t ext2 -d "$out/disk-root" "$out/disk.img" 64M
fi
echo "made $out/vmlinuz, initrd.gz, disk.img: npx xm create examples/debian/debian.cfg -c"
