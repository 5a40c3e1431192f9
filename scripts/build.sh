#!/usr/bin/env bash
# Configures and builds qatlab into build/ (Release, warnings on).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${QATLAB_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
