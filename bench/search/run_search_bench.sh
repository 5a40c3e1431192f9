#!/usr/bin/env bash
# The search's figures (docs/benchmarks.md, "Mixed-precision search"): a
# qatlab-server with two local workers and qatlab-agent on the emulated
# mps2-an386 board (the firmware in QEMU) in a scratch directory; then
#   1. qatctl search JOB --candidates K with the job's seed (1);
#   2. every configuration it verified (candidates and uniform w8/w4/w2)
#      QAT-trained again with seeds 2 and 3, in two ways (one job per seed
#      and way):
#        qat   - from the search's own float model (its sensitivity job,
#                baseline_job) with qat.seed 2 and 3: the spread is QAT's
#                run-to-run noise on the float model the search chose for;
#        float - with job seed 2 and 3: each trains its own float model too,
#                so the spread adds the float model's noise;
#   3. summarize.py for each way: accuracy per seed and its spread, flash,
#      measured latency, the measured front and which mixed configuration
#      dominates a uniform one by more than that one's seed spread.
# Usage: bench/search/run_search_bench.sh BUILD_DIR [JOB] [K] [OUT_DIR]
# WORKERS=N sets the local workers (default 2); SEARCH_ONLY=1 stops after
# step 1; SEED_WAYS="qat float" (the default) chooses the ways of step 2.
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

# Seeds 2 and 3 of every verified configuration, one job per seed and way.
ways=${SEED_WAYS:-qat float}
python3 - "$job" "$out/search.json" "$out" "$ways" <<'PY'
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
for way in sys.argv[4].split():
    for seed in (2, 3):
        job = dict(spec, configs=configs, skipPtq=True)
        if way == "qat":
            job["baselineJob"] = search["sensitivityJob"]
            job["qat"] = dict(spec.get("qat", {}), seed=seed)
            job["experiment"] = spec.get("experiment", "search") + f" qat seed {seed}"
        elif way == "float":
            job["seed"] = seed
            job["experiment"] = spec.get("experiment", "search") + f" seed {seed}"
        else:
            sys.exit(f"SEED_WAYS: unknown way {way!r} (qat, float)")
        json.dump(job, open(f"{sys.argv[3]}/{way}-seed{seed}.json", "w"), indent=1)
PY
declare -A ids=()
for way in $ways; do
  for seed in 2 3; do ids[$way$seed]=$("${qatctl[@]}" submit "$out/$way-seed$seed.json"); done
done
for key in "${!ids[@]}"; do "${qatctl[@]}" watch "${ids[$key]}" >/dev/null; done
for way in $ways; do
  for seed in 2 3; do "${qatctl[@]}" show "${ids[$way$seed]}" --json >"$out/$way-seed$seed-result.json"; done
  case $way in
    qat) label="QAT seeds 1/2/3 from the search's float model" ;;
    float) label="seeds 1/2/3, float model retrained per seed" ;;
  esac
  python3 "$here/summarize.py" "$out/search.json" "$out/$way-seed2-result.json" "$out/$way-seed3-result.json" \
    --seeds "$label" --svg "$out/$way.svg" | tee "$out/summary-$way.md"
done
