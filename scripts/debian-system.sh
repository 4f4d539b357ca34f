#!/usr/bin/env bash
# Builds a Debian bookworm system for a PV guest, in OUT (default ~/.cache/xenwasm/debian-system):
#   rootfs.img  ext4 root filesystem (mmdebstrap, minbase + sysvinit-core, ifupdown + udhcpc, apache2
#               with CGI and PHP (libapache2-mod-php), postgresql), made without mounting (mke2fs -d);
#               sparse
#   vmlinuz     Debian's amd64 kernel (linux-image-amd64's current version, unmodified)
#   initrd.gz   a small busybox initramfs: loads the modules the root filesystem and the network need
#               (Xen's blkfront/netfront, or virtio's under QEMU: root=/dev/vda), mounts root= read-only
#               and switches to Debian's /sbin/init
#   build.txt   what was built, its sizes and the build time
# The system: a login on the console (hvc0 under Xen, ttyS0 under QEMU) as root with no password;
# eth0 by DHCP; Apache on port 80 (/hello.html, /cgi-bin/hello.sh, /hello.php); PostgreSQL 15 on port 5432, role
# and database `xenwasm`, password `xenwasm` (scram-sha-256, from any address).
# Needs root (or sudo), mmdebstrap, mke2fs, apt-get, dpkg, gzip; the machine's apt sources are used.
# Unattended (no stdin needed). Usage: scripts/debian-system.sh [OUT]. A finished OUT (its build.txt
# is written last) is kept as it is; concurrent builds of one OUT wait for each other (flock).
set -euo pipefail
out=${1:-${XENWASM_CACHE:-$HOME/.cache/xenwasm}/debian-system}
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo -n"
t0=$(date +%s)
mkdir -p "$out"
out=$(cd "$out" && pwd)
exec 9>"$out/.lock"
flock 9
if [ -e "$out/build.txt" ]; then cat "$out/build.txt"; exit 0; fi
work="$out/work"
$SUDO rm -rf "$work"
mkdir -p "$work/deb"

# ---- kernel and busybox (apt-get download + dpkg -x, as tests/lib/debian.ts does)
cd "$work/deb"
kpkg=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9][^ ]*\).*/\1/p' | head -1)
[ -n "$kpkg" ] || { echo "debian-system: apt-cache knows no linux-image-amd64 (apt-get update?)" >&2; exit 1; }
for p in "$kpkg" busybox-static; do
  apt-get download "$p" >/dev/null 2>&1 || { $SUDO apt-get update -qq >/dev/null; apt-get download "$p" >/dev/null; }
  dpkg -x "$p"_*.deb "x-$p"
done
kver=$(ls "x-$kpkg/lib/modules")
mods="x-$kpkg/lib/modules/$kver/kernel"

# ---- initramfs
ir="$work/initramfs"
mkdir -p "$ir/bin" "$ir/proc" "$ir/sys" "$ir/dev" "$ir/newroot" "$ir/lib/modules"
cp x-busybox-static/bin/busybox "$ir/bin/busybox"
# Load order = dependency order (the kernel package has no modules.dep before depmod).
xen="lib/crc16 crypto/crc32c_generic fs/mbcache fs/jbd2/jbd2 fs/ext4/ext4 drivers/block/xen-blkfront drivers/net/xen-netfront"
virtio="drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci drivers/block/virtio_blk net/core/failover drivers/net/net_failover drivers/net/virtio_net"
for m in $xen $virtio; do
  [ -e "$mods/$m.ko" ] || { echo "debian-system: $kpkg has no $m.ko" >&2; exit 1; }
  cp "$mods/$m.ko" "$ir/lib/modules/"
done
cat > "$ir/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
root=/dev/xvda; mode=ro; init=/sbin/init
for a in \$(cat /proc/cmdline); do
  case "\$a" in root=*) root=\${a#root=};; rw) mode=rw;; ro) mode=ro;; init=*) init=\${a#init=};; esac
done
case "\$root" in /dev/vd*) mods="$(for m in $xen $virtio; do case $m in *xen-*) ;; *) printf '%s ' "${m##*/}";; esac; done)";;
  *) mods="$(for m in $xen; do printf '%s ' "${m##*/}"; done)";; esac
for m in \$mods; do insmod /lib/modules/\$m.ko; done
i=0; while [ ! -b "\$root" ] && [ \$i -lt 100 ]; do sleep 0.1; i=\$((i+1)); done
if ! mount -t ext4 -o \$mode "\$root" /newroot; then echo "initramfs: cannot mount \$root; a shell"; exec sh; fi
umount /sys; umount /proc
mount --move /dev /newroot/dev
exec switch_root /newroot "\$init"
INIT
chmod 755 "$ir/init"
(cd "$ir" && find . | "$ir/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -9 > "$work/initrd.gz")

# ---- root filesystem
sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -s "$f" ] && grep -qE '^[^#]*(deb |URIs:)' "$f" && sources+=("$f")
done
[ ${#sources[@]} -gt 0 ] || sources=(http://deb.debian.org/debian)
rootdir="$work/root"
cat > "$work/customize.sh" <<'HOOK'
#!/bin/sh
# mmdebstrap's customize hook: $1 is the root directory.
set -eu
r=$1
echo xenwasm-debian > "$r/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\txenwasm-debian\n' > "$r/etc/hosts"
printf 'LABEL=debian-root\t/\text4\tdefaults,errors=remount-ro\t0\t1\n' > "$r/etc/fstab"
ln -sf /proc/mounts "$r/etc/mtab"
printf 'auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n' > "$r/etc/network/interfaces"
echo 'LANG=C.UTF-8' > "$r/etc/default/locale"
echo 'HALT=poweroff' > "$r/etc/default/halt"   # `halt` powers off too (QEMU exits; Xen's domain ends)
chroot "$r" passwd -d root >/dev/null
# One getty, on the console the kernel has: hvc0 (Xen) or ttyS0 (QEMU); no VTs.
cat > "$r/usr/local/sbin/console-getty" <<'EOF'
#!/bin/sh
for t in hvc0 ttyS0; do [ -e /sys/class/tty/$t ] && exec /sbin/getty -L 115200 $t vt100; done
exec sleep 3600
EOF
chmod 755 "$r/usr/local/sbin/console-getty"
sed -i -e '/^[1-6]:[0-9]*:respawn:/d' -e '/^T[0-9]:/d' "$r/etc/inittab"
echo 'T0:2345:respawn:/usr/local/sbin/console-getty' >> "$r/etc/inittab"
# Apache: a static page and a CGI script.
echo '<html><body>hello from Apache in a xenwasm guest</body></html>' > "$r/var/www/html/hello.html"
cat > "$r/usr/lib/cgi-bin/hello.sh" <<'EOF'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
echo "CGI on $(uname -n) kernel $(uname -r): $((6 * 7))"
EOF
chmod 755 "$r/usr/lib/cgi-bin/hello.sh"
# PHP (mod_php, which Debian runs under the prefork MPM): a page that computes (floating point too).
cat > "$r/var/www/html/hello.php" <<'EOF'
<?php
header('Content-Type: text/plain');
printf("PHP %s on %s: %d sqrt2=%.6f sum=%d\n", PHP_VERSION, php_uname('n'), 6 * 7, sqrt(2), array_sum(range(1, 100)));
EOF
chroot "$r" a2enmod -q cgid >/dev/null
echo 'ServerName xenwasm-debian' > "$r/etc/apache2/conf-available/servername.conf"
chroot "$r" a2enconf -q servername >/dev/null
# PostgreSQL: listen everywhere, a password role for clients from the host (the NAT's 10.0.2.2).
conf=$(ls -d "$r"/etc/postgresql/*/main)
data=$(ls -d "$r"/var/lib/postgresql/*/main)
pgver=$(basename "$(dirname "$conf")")
echo "listen_addresses = '*'" >> "$conf/postgresql.conf"
echo "host all all 0.0.0.0/0 scram-sha-256" >> "$conf/pg_hba.conf"
echo "CREATE ROLE xenwasm LOGIN SUPERUSER PASSWORD 'xenwasm'" | chroot "$r" su postgres -s /bin/sh -c \
  "/usr/lib/postgresql/$pgver/bin/postgres --single -D ${data#$r} -c config_file=${conf#$r}/postgresql.conf postgres" >/dev/null 2>&1
echo "CREATE DATABASE xenwasm OWNER xenwasm" | chroot "$r" su postgres -s /bin/sh -c \
  "/usr/lib/postgresql/$pgver/bin/postgres --single -D ${data#$r} -c config_file=${conf#$r}/postgresql.conf postgres" >/dev/null 2>&1
rm -f "$r"/etc/ssh/ssh_host_* "$r/var/log/"*.log
HOOK
chmod 755 "$work/customize.sh"
$SUDO mmdebstrap --mode=root --variant=minbase --format=directory \
  --include=sysvinit-core,ifupdown,udhcpc,netbase,procps,iproute2,apache2,libapache2-mod-php,postgresql \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --customize-hook="$work/customize.sh \"\$1\"" \
  bookworm "$rootdir" "${sources[@]}" </dev/null
# Size: what the files take plus 256 MiB free (databases, logs).
used=$($SUDO du -sm "$rootdir" | cut -f1)
size=$((used + 256))
$SUDO rm -f "$work/rootfs.img"
$SUDO mke2fs -q -F -t ext4 -L debian-root -d "$rootdir" "$work/rootfs.img" "${size}M"
$SUDO chown "$(id -u):$(id -g)" "$work/rootfs.img"
cp "x-$kpkg/boot/vmlinuz-$kver" "$work/vmlinuz"
{
  echo "kernel $kpkg ($kver)"
  echo "packages $($SUDO chroot "$rootdir" dpkg-query -W -f '.\n' | wc -l)"
  echo "rootfs_files_mib $used"
  echo "rootfs_image_mib $size (sparse: $(du -m "$work/rootfs.img" | cut -f1) MiB on disk)"
  echo "initrd_bytes $(stat -c %s "$work/initrd.gz")"
  echo "apache_modules $(ls "$rootdir/etc/apache2/mods-enabled" | sed -n 's/\.load$//p' | tr '\n' ' ')"
} > "$work/build.txt"
mv -f "$work/rootfs.img" "$work/vmlinuz" "$work/initrd.gz" "$out/"
$SUDO rm -rf "$work/root" "$work/deb" "$work/initramfs"
echo "build_seconds $(($(date +%s) - t0))" >> "$work/build.txt"
mv -f "$work/build.txt" "$out/"
$SUDO rm -rf "$work"
cat "$out/build.txt"
