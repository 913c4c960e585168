#!/usr/bin/env bash
# build.sh [BUILD_DIR] [cmake options...]: configures and builds tcpwin
# (warnings are errors). Default BUILD_DIR: build.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${1:-$root/build}
shift || true
cmake -S "$root" -B "$dir" -DTCPWIN_WERROR=ON "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
