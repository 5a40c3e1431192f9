#!/usr/bin/env bash
# The search's figures (docs/benchmarks.md, "Mixed-precision search"): a
# qatlab-server with two local workers and qatlab-agent on the emulated
# mps2-an386 board (the firmware in QEMU) in a scratch directory; then
#   1. qatctl search JOB --candidates K with the job's seed (1);
#   2. every configuration it verified (candidates and uniform w8/w4/w2)
#      QAT-trained again with seeds 2 and 3 (one job per seed);
#   3. summarize.py: accuracy per seed and its spread, flash, measured
#      latency, the measured front and which mixed configuration dominates a
#      uniform one by more than that one's seed spread.
# Usage: bench/search/run_search_bench.sh BUILD_DIR [JOB] [K] [OUT_DIR]
# WORKERS=N sets the local workers (default 2); SEARCH_ONLY=1 stops after step 1.
set -euo pipefail
build=$(cd "${1:?usage: run_search_bench.sh BUILD_DIR [JOB] [K] [OUT_DIR]}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
job=${2:-$here/fashion_cnn_bn_search.json}
k=${3:-6}
out=${4:-/tmp/qatlab-search-bench}
mkdir -p "$out"
# shellcheck source=bench_service.sh
source "$here/bench_service.sh"
start_bench_service "$build" "$out" "${WORKERS:-2}"

start=$(date +%s)
"${qatctl[@]}" search "$job" --board mps2-an386 --candidates "$k" -o "$out/search" --force | tee "$out/search.txt"
echo "search wall time: $(($(date +%s) - start)) s with ${WORKERS:-2} local workers" | tee -a "$out/search.txt"
if [[ -n "${SEARCH_ONLY:-}" ]]; then exit 0; fi

# Seeds 2 and 3 of every verified configuration, one job per seed.
python3 - "$job" "$out/search.json" "$out" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
search = json.load(open(sys.argv[2]))
configs = []
for v in search["verified"]:
    bits = v["predicted"]["bits"]
    config = {"name": v["config"], "activationBits": 8}
    if v["uniform"]:
        config["weightBits"] = bits[0]
    else:
        config["layerWeightBits"] = bits
    configs.append(config)
for seed in (2, 3):
    job = dict(spec, seed=seed, configs=configs, skipPtq=True)
    job["experiment"] = spec.get("experiment", "search") + f" seed {seed}"
    json.dump(job, open(f"{sys.argv[3]}/seed{seed}.json", "w"), indent=1)
PY
ids=()
for seed in 2 3; do
  ids+=("$("${qatctl[@]}" submit "$out/seed$seed.json")")
done
for id in "${ids[@]}"; do "${qatctl[@]}" watch "$id" >/dev/null; done
for i in 0 1; do "${qatctl[@]}" show "${ids[$i]}" --json >"$out/seed$((i + 2))-result.json"; done
python3 "$here/summarize.py" "$out/search.json" "$out/seed2-result.json" "$out/seed3-result.json" | tee "$out/summary.md"
