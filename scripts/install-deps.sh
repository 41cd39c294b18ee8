#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Installs every build and test dependency of ctlabeld from Debian bookworm (idempotent, as root).
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: run as root (apt-get needs it), e.g. sudo $0" >&2
  exit 1
fi
build_pkgs=(build-essential cmake pkg-config
  libpcap-dev libndpi-dev libnetfilter-conntrack-dev libmnl-dev rapidjson-dev libspdlog-dev
  libcap-dev ccache libhowardhinnant-date-dev
  libnftnl-dev libipset-dev)
test_pkgs=(catch2 nftables ipset conntrack iproute2 tcpdump tcpreplay libndpi-bin python3 openssl
  clang libclang-rt-14-dev clang-format procps time lintian prometheus iptables)
# What scripts/run.sh needs beyond the build: nft (nft-labels.sh) and ip (the default route).
run_pkgs=(nftables iproute2)
want=("${build_pkgs[@]}" "${run_pkgs[@]}")
[ "${1:-}" = "--with-tests" ] && want+=("${test_pkgs[@]}")
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps.sh: all ${#want[@]} packages already installed"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
