#!/usr/bin/env bash
# What a search costs (docs/benchmarks.md, "Mixed-precision search"; the
# issue's bound: at most 12 single QAT jobs of the same model on the same
# workers). For each worker count (1, then 2; WORKER_COUNTS overrides), in
# a scratch directory: a qatlab-server with that many local workers and
# qatlab-agent on the emulated mps2-an386 board, then
#   1. qatctl search JOB --candidates K (the whole search: baseline,
#      sensitivity, K candidates and the uniform w8/w4/w2 QAT-trained and
#      measured);
#   2. on the same server, right after: the baseline it is compared with,
#      single QAT jobs of the same JOB as a user would run them, one per
#      uniform width (8, 4, 2 bits): each trains its own float model and QAT
#      one configuration (skip_ptq, no baseline sharing, no board).
# Worker time is the CPU seconds (user + system) of the server's
# qatlab-worker processes over each step, read from /proc: on a machine
# shared with other work that is what a job costs, where wall time is what
# the load makes of it. The board's emulation (qatlab-agent and QEMU) is
# printed beside it, not counted: the single jobs measure nothing.
# Prints, per worker count: the search's worker CPU seconds, the mean single
# job's, their ratio (the search in single-QAT-job units), the search's wall
# time and the load average at the start and end of each step.
# Usage: bench/search/run_search_cost_bench.sh BUILD_DIR [JOB] [K] [OUT_DIR]
set -euo pipefail
build=$(cd "${1:?usage: run_search_cost_bench.sh BUILD_DIR [JOB] [K] [OUT_DIR]}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench_service.sh
source "$here/bench_service.sh"
job=$(cd "$(dirname "${2:-$here/fashion_cnn_bn_search.json}")" && pwd)/$(basename "${2:-fashion_cnn_bn_search.json}")
k=${3:-8}
out=${4:-/tmp/qatlab-search-cost-bench}
mkdir -p "$out"

# CPU seconds (user + system, with reaped children) of the processes whose
# parent is $1 and whose name is $2, and of their own children.
cpu_seconds() {
  python3 - "$1" "$2" <<'PY'
import os, sys
parent, name = sys.argv[1], sys.argv[2]
tick = os.sysconf("SC_CLK_TCK")
def children(pid):  # of every thread: a process may start children from any
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += f.read().split()
        except OSError:
            pass
    return found
def cpu(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
total = 0
for pid in children(parent):
    try:
        comm = open(f"/proc/{pid}/comm").read().strip()
    except OSError:
        continue
    if comm != name:
        continue
    total += cpu(pid) + sum(cpu(c) for c in children(pid))
print(f"{total / tick:.1f}")
PY
}
load() { cut -d' ' -f1-3 /proc/loadavg; }

# The single QAT jobs: the search's JOB, one uniform configuration each.
for bits in 8 4 2; do
  python3 - "$job" "$bits" "$out/single_w$bits.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
bits = int(sys.argv[2])
spec["configs"] = [{"name": f"w{bits}a8", "weightBits": bits, "activationBits": 8}]
spec["skipPtq"] = True
spec["experiment"] = spec.get("experiment", "search") + f": single QAT job w{bits}a8"
json.dump(spec, open(sys.argv[3], "w"), indent=1)
PY
done

summary=()
for workers in ${WORKER_COUNTS:-1 2}; do
  run=$out/workers$workers
  rm -rf "$run"
  mkdir -p "$run"
  start_bench_service "$build" "$run" "$workers"

  # 1. The search.
  load_before=$(load)
  cpu_before=$(cpu_seconds "$server" qatlab-worker)
  board_before=$(cpu_seconds "$$" qatlab-agent)
  start=$(date +%s.%N)
  "${qatctl[@]}" search "$job" --board mps2-an386 --candidates "$k" -o "$run/search" --force >"$run/search.txt"
  search_wall=$(python3 -c "print(f'{$(date +%s.%N) - $start:.0f}')")
  search_cpu=$(python3 -c "print(f'{$(cpu_seconds "$server" qatlab-worker) - $cpu_before:.1f}')")
  board_cpu=$(python3 -c "print(f'{$(cpu_seconds "$$" qatlab-agent) - $board_before:.1f}')")
  load_after=$(load)
  read -r candidates sensitivity_seconds job_seconds < <(python3 - "$run/search.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
v = s["verified"]
print(sum(1 for x in v if not x["uniform"]), round(s["sensitivityJobSeconds"]),
      round(s["sensitivityJobSeconds"] + sum(x["jobSeconds"] for x in v)))
PY
)

  # 2. The single QAT jobs, all submitted at once (the workers run them as
  # they would the search's).
  single_load_before=$(load)
  cpu_before=$(cpu_seconds "$server" qatlab-worker)
  start=$(date +%s.%N)
  ids=()
  for bits in 8 4 2; do ids+=("$("${qatctl[@]}" submit "$out/single_w$bits.json")"); done
  for id in "${ids[@]}"; do "${qatctl[@]}" watch "$id" >/dev/null; done
  single_wall=$(python3 -c "print(f'{$(date +%s.%N) - $start:.0f}')")
  single_cpu=$(python3 -c "print(f'{$(cpu_seconds "$server" qatlab-worker) - $cpu_before:.1f}')")
  single_load_after=$(load)
  for bits in 8 4 2; do "${qatctl[@]}" show "${ids[0]}" --json >"$run/single_w$bits.json"; ids=("${ids[@]:1}"); done
  kill $agent $server 2>/dev/null
  wait $agent $server 2>/dev/null || true
  trap - EXIT

  ratio=$(python3 -c "print(f'{$search_cpu / ($single_cpu / 3):.2f}')")
  line=$(printf '%s local worker(s): search (K = %s, %s candidates) %s worker CPU s = %s single QAT jobs (baseline: mean of single w8/w4/w2 QAT jobs %.1f CPU s, %s s wall for the three); search wall %s s (sensitivity job %s s; job run times summed %s s); board emulation %s CPU s, not counted; load %s -> %s (search), %s -> %s (single jobs)' \
    "$workers" "$k" "$candidates" "$search_cpu" "$ratio" "$(python3 -c "print($single_cpu / 3)")" "$single_wall" \
    "$search_wall" "$sensitivity_seconds" "$job_seconds" "$board_cpu" "$load_before" "$load_after" \
    "$single_load_before" "$single_load_after")
  echo "$line" | tee "$run/cost.txt"
  summary+=("$line")
done
echo
echo "job: $job"
printf '%s\n' "${summary[@]}" | tee "$out/cost.txt"
