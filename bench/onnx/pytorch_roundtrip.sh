#!/bin/bash
# The PyTorch round trip of an ONNX import (issue #9): trains cnn_bn in
# PyTorch on MNIST-10k and exports it with torch.onnx.export
# (pytorch_train_export.py, Debian's python3-torch under /usr/bin/python3),
# then qatlab imports it (bench_onnx_import times the import) and runs a job
# on it with qatlab-worker: the float evaluation of PyTorch's weights and QAT
# int8 from them. Prints the figures and checks:
#   qatlab's float accuracy = PyTorch's within 0.05 points (one image of 2,000);
#   QAT int8 integer accuracy >= float - 0.2.
# On demand, not in CI (minutes: PyTorch training dominates).
#
#   bench/onnx/pytorch_roundtrip.sh [--epochs N] [--qat-epochs N] [--build DIR] [--work DIR]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="$here/../../build"
epochs=3
qat_epochs=3
work=""
while [ $# -gt 0 ]; do
  case "$1" in
    --epochs) epochs="$2"; shift ;;
    --qat-epochs) qat_epochs="$2"; shift ;;
    --build) build="$2"; shift ;;
    --work) work="$2"; shift ;;
    *) echo "usage: $0 [--epochs N] [--qat-epochs N] [--build DIR] [--work DIR]" >&2; exit 2 ;;
  esac
  shift
done
worker="$build/worker/qatlab-worker"
import_bench="$build/bench/onnx/bench_onnx_import"
for program in "$worker" "$import_bench"; do
  [ -x "$program" ] || { echo "$0: $program is not built" >&2; exit 1; }
done
if ! /usr/bin/python3 -c 'import torch' 2> /dev/null; then
  echo "$0: /usr/bin/python3 cannot import torch (apt-get install python3-torch)" >&2
  exit 1
fi
if [ -z "$work" ]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
cache="${QATLAB_DATA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qatlab}"
if [ ! -f "$cache/mnist10k/t10k-labels-idx1-ubyte" ]; then
  # Any job fetches MNIST-10k into the cache first.
  echo '{"model": {"preset": "mlp"}, "data": {"trainLimit": 10, "testLimit": 10}, "training": {"epochs": 1}, "skipPtq": true, "skipQat": true}' > "$work/fetch.json"
  "$worker" run "$work/fetch.json" --out "$work/fetch" > /dev/null
fi

echo "training cnn_bn in PyTorch ($epochs epochs) and exporting it" >&2
/usr/bin/python3 "$here/pytorch_train_export.py" --data "$cache/mnist10k" --out "$work/cnn_bn.onnx" \
  --epochs "$epochs" > "$work/torch.json"
for kind in folded batchnorm; do
  model="$work/cnn_bn.onnx"
  [ "$kind" = folded ] || model="$work/cnn_bn_batchnorm.onnx"
  "$import_bench" "$model" > "$work/import_$kind.json"
  cat > "$work/job_$kind.json" <<JSON
{"experiment": "pytorch-roundtrip-$kind", "model": {"onnx": "$model"}, "data": {"source": "mnist"},
 "qat": {"epochs": $qat_epochs}, "configs": [{"weightBits": 8}]}
JSON
  echo "qatlab ($kind export): float evaluation and QAT int8 ($qat_epochs epochs) of the imported model" >&2
  "$worker" run "$work/job_$kind.json" --out "$work/out_$kind" > "$work/result_$kind.json" 2> "$work/worker_$kind.log"
done

/usr/bin/python3 - "$work" <<'PY'
import json, os, sys
work = sys.argv[1]
torch_run = json.load(open(os.path.join(work, "torch.json")))
print(f"torch {torch_run['torch']}, cnn_bn trained {torch_run['epochs']} epochs in {torch_run['train_seconds']} s, "
      f"exported at opset {torch_run['opset']}; PyTorch float accuracy {torch_run['float_accuracy']:.2f}%")
ok = True
for kind in ("folded", "batchnorm"):
    imported = json.load(open(os.path.join(work, f"import_{kind}.json")))
    result = json.load(open(os.path.join(work, f"result_{kind}.json")))
    variants = {v["name"]: v for v in result["variants"]}
    float_accuracy = variants["float"]["accuracy"]
    qat, ptq = variants["qat_w8a8"], variants["ptq_w8a8"]
    difference = abs(torch_run["float_accuracy"] - float_accuracy)
    print(f"{kind} export: import {imported['import_ms_median']:.3f} ms (median of {imported['runs']}), "
          f"{imported['layers']} engine layers; qatlab float {float_accuracy:.2f}% (PyTorch - qatlab: "
          f"{difference:.2f} points); PTQ int8 integer {ptq['integerAccuracy']:.2f}%; QAT int8 integer "
          f"{qat['integerAccuracy']:.2f}% (float - QAT: {float_accuracy - qat['integerAccuracy']:+.2f}), "
          f"QAT {qat['trainSeconds']:.1f} s")
    ok = ok and difference <= 0.05 + 1e-9 and qat["integerAccuracy"] >= float_accuracy - 0.2
print("round trip: " + ("OK" if ok else "FAILED"))
sys.exit(0 if ok else 1)
PY
