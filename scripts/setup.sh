#!/usr/bin/env bash
# Installs what the tests and guests need from Debian, once (idempotent): gcc-multilib for -m32 guests,
# qemu-user (qemu-i386, the 32-bit reference), xz-utils and zstd (kernel payloads), chromium (the web
# page's test, driven by playwright-core); mmdebstrap (the Debian system guest's root filesystem,
# scripts/debian-system.sh) and postgresql-client (psql, to reach its database).
set -euo pipefail
need=()
dpkg -s gcc-multilib >/dev/null 2>&1 || need+=(gcc-multilib)
command -v qemu-i386 >/dev/null 2>&1 || need+=(qemu-user)
command -v xz >/dev/null 2>&1 || need+=(xz-utils)
command -v zstd >/dev/null 2>&1 || need+=(zstd)
command -v mke2fs >/dev/null 2>&1 || need+=(e2fsprogs)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
compgen -G '/usr/lib/postgresql/*/bin/psql' >/dev/null || need+=(postgresql-client)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null || true
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
