#!/bin/bash
# Runs bench_qat_epoch against PyTorch measured in the same run. With
# --install-torch, first installs Debian's python3-torch (apt-get, as root or
# through sudo) when no interpreter imports torch; without it, a machine
# without torch gets our figures alone.
#
#   bench/engine/run_vs_pytorch.sh [--install-torch] [--bench BINARY] [bench_qat_epoch options...]
#   e.g. bench/engine/run_vs_pytorch.sh --install-torch --epochs 2 --threads 2
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bench="$here/../../build/bench/engine/bench_qat_epoch"
install=0
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --install-torch) install=1 ;;
    --bench) bench="$2"; shift ;;
    *) args+=("$1") ;;
  esac
  shift
done

has_torch() {
  local python
  for python in python3 /usr/bin/python3; do
    if command -v "$python" > /dev/null && "$python" -c 'import torch' 2> /dev/null; then return 0; fi
  done
  return 1
}

if [ "$install" = 1 ] && ! has_torch; then
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  echo "installing python3-torch with apt-get" >&2
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-torch
fi

if [ ! -x "$bench" ]; then
  echo "error: $bench not found; build it: cmake --build build --target bench_qat_epoch (or pass --bench)" >&2
  exit 1
fi
exec "$bench" "${args[@]+"${args[@]}"}"
