#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# setup.sh: installs what tcpwin needs to build, test and run on Debian
# bookworm (as root; only what is missing, so a second run is quick).
#   scripts/setup.sh            build + test dependencies
#   scripts/setup.sh --runtime  only the libraries the programs run with
set -euo pipefail

build_deps=(build-essential cmake pkg-config libpcap-dev libzmq3-dev libczmq-dev
    libprotobuf-c-dev protobuf-c-compiler libcap-dev libncurses-dev libmicrohttpd-dev)
test_deps=(libcmocka-dev tshark netcat-openbsd tcpdump jq clang libclang-rt-14-dev
    iproute2 procps psmisc time tmux prometheus chromium curl zstd lz4 xxd)
runtime_deps=(libpcap0.8 libzmq5 libczmq4 libprotobuf-c1 libcap2 libncurses6 libmicrohttpd12)

# Compressed capture files (producer/capture_stream.c: gzip, zstd, lz4).
build_deps+=(zlib1g-dev libzstd-dev liblz4-dev)
runtime_deps+=(zlib1g libzstd1 liblz4-1)

if [ "${1:-}" = --runtime ]; then
    wanted=("${runtime_deps[@]}")
else
    wanted=("${build_deps[@]}" "${test_deps[@]}")
fi

missing=()
for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: missing packages: ${missing[*]}; run as root (or with sudo) to install them" >&2
    exit 1
fi
echo "setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; the default (no) is fine.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -q --error-on=any
apt-get install -y -q --no-install-recommends "${missing[@]}"
