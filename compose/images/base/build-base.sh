#!/usr/bin/env bash
# Build the air-gapped base image: Debian bookworm minbase from debootstrap,
# imported into Docker. Needs root (debootstrap) and a reachable Debian mirror.
# Usage: build-base.sh IMAGE_TAG [MIRROR]
set -euo pipefail
tag="${1:?usage: build-base.sh IMAGE_TAG [MIRROR]}"
mirror="${2:-http://deb.debian.org/debian}"

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "base image $tag already present"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install debootstrap" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "debootstrap needs root to build $tag" >&2; exit 2; }

rootfs="$(mktemp -d /tmp/churnlab-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
echo "debootstrap --variant=minbase bookworm (about 30 s)"
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
  || { tail -20 "$rootfs.log" >&2; rm -f "$rootfs.log"; exit 1; }
rm -f "$rootfs.log"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
# Keep images small: no docs or man pages from later apt installs.
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/01-nodoc" <<'CFG'
path-exclude /usr/share/doc/*
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
CFG
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$rootfs/etc/apt/apt.conf.d/01-norecommends"
tar -C "$rootfs" -c . | docker import \
  --change 'ENV DEBIAN_FRONTEND=noninteractive' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/bin/bash"]' \
  - "$tag" >/dev/null
echo "built $tag"
