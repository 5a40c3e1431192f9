#!/usr/bin/env bash
# The main job, end to end on the embedded defaults:
#   installs what is missing, builds, starts qatlab-server with local workers
#   and a device agent on the emulated Cortex-M4 board, submits the MNIST
#   comparison (cnn: float, PTQ int8, QAT int8, QAT int4), shows live
#   progress, and prints the comparison table from the database, latency
#   from the emulated board included.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${QATLAB_BUILD_DIR:-$root/build}
"$root/scripts/install_deps.sh"
"$root/scripts/build.sh"

data_dir=${QATLAB_DEMO_DIR:-$root/.demo}
port=${QATLAB_DEMO_PORT:-50551}
server=127.0.0.1:$port
mkdir -p "$data_dir"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

echo "== qatlab-server on $server (data: $data_dir, 1 local worker)"
"$build/server/qatlab-server" --listen "$server" --data-dir "$data_dir" --local-workers 1 \
  >"$data_dir/server.log" 2>&1 &
pids+=($!)

if [[ -x "$build/device_agent/qatlab-agent" ]]; then
  echo "== qatlab-agent with the emulated board (QEMU mps2-an386)"
  "$build/device_agent/qatlab-agent" --server "$server" >"$data_dir/agent.log" 2>&1 &
  pids+=($!)
fi

qatctl=("$build/client/qatctl" --server "$server")
for _ in $(seq 1 100); do
  "${qatctl[@]}" ls --limit 1 >/dev/null 2>&1 && break
  sleep 0.1
done

job=$("${qatctl[@]}" submit "$root/examples/demo.json")
echo "== submitted $job; watching"
"${qatctl[@]}" watch "$job"
if [[ -x "$build/device_agent/qatlab-agent" ]]; then
  echo "== measuring the integer models on the emulated board"
  # The job queued one measurement per quantized variant (measureOn); wait
  # until each has ended (bounded: 10 minutes).
  for _ in $(seq 1 600); do
    progress=$("${qatctl[@]}" show --json "$job" | /usr/bin/python3 -c '
import json, sys
m = json.load(sys.stdin).get("measurements", [])
done = sum(1 for x in m if x.get("state") in ("SUCCEEDED", "FAILED"))
print(f"{done}/{len(m)}")')
    printf "\r   measurements done: %s " "$progress"
    [[ ${progress%/*} == "${progress#*/}" && ${progress#*/} != 0 ]] && break
    sleep 1
  done
  echo
fi
echo "== comparison (from the database)"
"${qatctl[@]}" compare "$job"
