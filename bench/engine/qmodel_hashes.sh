#!/usr/bin/env bash
# Prints the sha256 of every .qmodel the reference-protocol examples produce
# (examples/{mlp,cnn,cnn_bn,ds_cnn}.json), one line per file, sorted. Run it
# with the worker before and after a change that must not move a single
# integer model byte, and diff the two outputs:
#   bench/engine/qmodel_hashes.sh OLD_WORKER /tmp/old > old.txt
#   bench/engine/qmodel_hashes.sh build/worker/qatlab-worker /tmp/new > new.txt
#   diff old.txt new.txt
# About a minute per worker on 2 cores (MNIST-10k is fetched once if missing).
set -euo pipefail
if (($# != 2)); then
  echo "usage: $0 WORKER OUTDIR" >&2
  exit 2
fi
worker=$(realpath "$1")
out=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"
for preset in mlp cnn cnn_bn ds_cnn; do
  if ! "$worker" run "$root/examples/$preset.json" --out "$out/$preset" >"$out/$preset.json" 2>"$out/$preset.err"; then
    echo "$0: $preset failed; see $out/$preset.err" >&2
    exit 1
  fi
done
cd "$out"
find . -name '*.qmodel' | sort | xargs sha256sum
