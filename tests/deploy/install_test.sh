#!/usr/bin/env bash
# The install, as shipped: `cmake --install` into a temporary prefix, then the
# demo from the installed tree alone (server with its local worker found next
# to it, the agent with the installed firmware, the installed qatctl) on a
# small job: mlp, 1,000/500 images, one epoch, measured on the emulated board.
#   install_test.sh BUILD_DIR
# Every wait is bounded; on failure the logs are printed.
set -euo pipefail
build=$(cd "$1" && pwd)
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if ((status != 0)); then
    for log in "$work"/*.log; do [[ -f $log ]] && { echo "--- $log"; tail -n 40 "$log"; }; done
  fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >"$work/install.log"

for program in qatlab-server qatlab-worker qatlab-agent qatctl; do
  [[ -x $prefix/bin/$program ]] || fail "cmake --install did not install bin/$program"
done
for file in libexec/qatlab/qatlab-onnx-inspect share/qatlab/firmware/mps2-an386/qatlab-fw.elf share/qatlab/python/qatlab/v1/experiment_pb2_grpc.py \
  share/qatlab/python/sweep.py share/qatlab/examples/demo.json lib/systemd/system/qatlab-server.service \
  lib/systemd/system/qatlab-worker@.service lib/systemd/system/qatlab-agent@.service lib/sysusers.d/qatlab.conf; do
  [[ -f $prefix/$file ]] || fail "cmake --install did not install $file"
done

# The local worker's data cache is the server's by default (<data-dir>/cache);
# seeded from this machine's cache when it has one, so no download is needed.
data=$work/data
machine_cache=${QATLAB_DATA_CACHE:-${HOME:-/tmp}/.cache/qatlab}
if [[ -d $machine_cache/mnist10k ]]; then
  mkdir -p "$data/cache"
  cp -r "$machine_cache/mnist10k" "$data/cache/"
fi

# The installed Python example (run by its /usr/bin/python3 line, Debian's
# python3-grpcio) finds the installed stubs beside it (its
# imports run before its argument parsing).
"$prefix/share/qatlab/python/sweep.py" --help >"$work/sweep.log" 2>&1 ||
  fail "the installed sweep.py cannot import the installed stubs: $(cat "$work/sweep.log")"

# Only the installed tree and the system on PATH; the build tree is not named.
export PATH=$prefix/bin:/usr/local/bin:/usr/bin:/bin
export QATLAB_TOKEN=
unset QATLAB_DATA_CACHE QATLAB_DATA_DIR

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
server=127.0.0.1:$port
qatlab-server --listen "$server" --data-dir "$data" --local-workers 1 --lease-seconds 10 >"$work/server.log" 2>&1 &
pids+=($!)
qatlab-agent --server "$server" --name installed-board --lease-wait-ms 1000 --check-inputs 8 \
  --accuracy-samples 20 --warmup 1 --windows 2 --inferences-per-window 3 >"$work/agent.log" 2>&1 &
pids+=($!)

ready=0
for _ in $(seq 1 150); do
  if qatctl --server "$server" ls --limit 1 >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.1
done
((ready)) || fail "the installed qatlab-server did not answer within 15 s"

grep -q "started (pid [0-9]*): $prefix/bin/qatlab-worker " "$work/server.log" ||
  fail "the server did not start the installed qatlab-worker"
grep -q -- "--data-cache $data/cache" "$work/server.log" || fail "the local worker was not given <data-dir>/cache"

# Uploaded ONNX models are checked by the installed libexec/qatlab/
# qatlab-onnx-inspect: a model that crashes libonnx is refused, and the
# server still takes the next one.
if crashed=$(timeout 30 qatctl --server "$server" models upload \
  "$source_dir/fuzz/crashes/onnx/segv-in-conv-pool-shape-inference" --name crash 2>&1); then
  fail "the model that crashes libonnx was accepted: $crashed"
fi
[[ $crashed == *"the inspector crashed (signal 11)"* ]] || fail "the crashing model was refused for another reason: $crashed"
timeout 30 qatctl --server "$server" models upload "$source_dir/fuzz/corpus/onnx/cnn.onnx" >"$work/upload.log" 2>&1 ||
  fail "after the crashing model, a valid upload failed: $(cat "$work/upload.log")"

cat >"$work/job.json" <<'JOB'
{
  "experiment": "install test",
  "model": {"preset": "mlp"},
  "data": {"source": "mnist", "trainLimit": 1000, "testLimit": 500},
  "training": {"epochs": 1},
  "qat": {"epochs": 1},
  "configs": [{"name": "w8a8", "weightBits": 8, "activationBits": 8}],
  "measureOn": ["mps2-an386"]
}
JOB
job=$(timeout 30 qatctl --server "$server" submit "$work/job.json")
[[ $job == j-* ]] || fail "qatctl submit printed '$job', not a job id"
timeout 300 qatctl --server "$server" watch "$job" >"$work/watch.log" 2>&1 || fail "qatctl watch $job failed"

# The measurement the job asked for, by the agent with the installed firmware.
measured=0
for _ in $(seq 1 300); do
  state=$(timeout 30 qatctl --server "$server" show --json "$job" | python3 -c '
import json, sys
states = [m.get("state", "") for m in json.load(sys.stdin).get("measurements", [])]
print("failed" if "FAILED" in states else "done" if states and set(states) == {"SUCCEEDED"} else ",".join(states))')
  case $state in
    done) measured=1; break ;;
    failed) fail "a measurement failed: $(qatctl --server "$server" show --json "$job")" ;;
  esac
  sleep 1
done
((measured)) || fail "the measurement did not end within 300 s (states: $state)"
grep -q "firmware $prefix/share/qatlab/firmware/mps2-an386/qatlab-fw.elf" "$work/agent.log" ||
  fail "the agent did not use the installed firmware"
[[ -d $data/cache/mnist10k ]] || fail "MNIST-10k is not in the server's cache $data/cache"

timeout 30 qatctl --server "$server" compare "$job" >"$work/compare.log"
cat "$work/compare.log"
grep -q "w8a8" "$work/compare.log" || fail "compare shows no w8a8 variant"
grep -qE "[mu]s\\* mps2-an386" "$work/compare.log" || fail "compare shows no latency named by its board"
grep -q "emulated, not real cycles" "$work/compare.log" || fail "compare does not say the latency is emulated"
echo "PASS: installed tree in $prefix ran job $job and measured it"
