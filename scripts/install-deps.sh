#!/usr/bin/env bash
# Installs what a bare Debian 12 machine lacks to build, run and test Loupe.
# Idempotent: does nothing (and needs no network) when everything is present.
set -euo pipefail

pkgs=(build-essential cmake ninja-build ccache pkg-config
      libboost1.81-dev libgrpc++-dev libssl-dev zlib1g-dev rapidjson-dev
      liblz4-dev libzstd-dev libgtest-dev libgmock-dev libbenchmark-dev
      clang-14 libclang-rt-14-dev libsqlite3-dev curl
      libcurl4-openssl-dev python3-aiosmtpd python3
      tzdata)  # quiet hours read /usr/share/zoneinfo (src/alert/time_zone.h)
# Node.js may come from another Debian-format repository already set up on the machine.
command -v node >/dev/null || pkgs+=(nodejs)
command -v npm >/dev/null || pkgs+=(npm)
if [ "${LOUPE_WITH_BROWSER:-0}" = 1 ]; then pkgs+=(chromium); fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The dashboard's toolchain (Vite 8, Vitest 4) needs Node.js 20 or newer;
# Debian 12's own nodejs package is 18. Say so plainly instead of failing later.
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "error: Node.js $(node -v 2>/dev/null || echo missing) found; Loupe's web build needs Node.js >= 20" >&2
  echo "       (install a Node.js 20 package for Debian 12, then run this again)" >&2
  exit 1
fi
