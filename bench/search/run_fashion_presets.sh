#!/usr/bin/env bash
# Float, PTQ and QAT (w8, w4, w2) of cnn, cnn_bn and ds_cnn on Fashion-MNIST
# under the reference protocol (10 float epochs, 3 QAT epochs), one
# `qatlab-worker run` per preset; prints one line of test accuracies each.
# Usage: bench/search/run_fashion_presets.sh BUILD_DIR [OUT_DIR] [THREADS]
set -euo pipefail
build=${1:?usage: run_fashion_presets.sh BUILD_DIR [OUT_DIR] [THREADS]}
out=${2:-/tmp/qatlab-fashion-presets}
threads=${3:-1}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
for preset in cnn cnn_bn ds_cnn; do
  start=$(date +%s)
  "${QATLAB_WORKER:-$build/worker/qatlab-worker}" run --threads "$threads" --out "$out/$preset" "$here/fashion_$preset.json" \
    >"$out/$preset.json" 2>"$out/$preset.log"
  seconds=$(($(date +%s) - start))
  python3 - "$out/$preset.json" "$preset" "$seconds" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
cells = []
for v in result["variants"]:
    accuracy = v["integerAccuracy"] if v["kind"] != "float" else v["accuracy"]
    cells.append(f"{v['name']} {accuracy:.2f}")
print(f"{sys.argv[2]}: " + ", ".join(cells) + f" ({sys.argv[3]} s)")
PY
done
