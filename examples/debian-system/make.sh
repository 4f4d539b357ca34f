#!/bin/sh
# Makes what debian-system.cfg boots, in examples/debian-system/build/: a Debian bookworm root
# filesystem (ext4, sysvinit, DHCP, Apache with a CGI page, PostgreSQL), Debian's kernel and a small
# initramfs (scripts/debian-system.sh: needs root or sudo, mmdebstrap and e2fsprogs, the machine's apt
# sources; about 3-5 minutes). `npm test` builds the same files once into ~/.cache/xenwasm/debian-system.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../../scripts/debian-system.sh" "$here/build"
