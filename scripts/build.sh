#!/usr/bin/env bash
# Configures and builds qatlab into build/ (Release, warnings on); extra
# arguments go to the configure step (e.g. -DQATLAB_WERROR=ON).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${QATLAB_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
