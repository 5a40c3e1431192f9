# Sourced by the search benches: start_bench_service BUILD_DIR RUN_DIR WORKERS
# starts qatlab-server (WORKERS local workers, data in RUN_DIR/server) and
# qatlab-agent on the emulated mps2-an386 board, both on 127.0.0.1 at a free
# port, stops both when the shell exits, and waits (bounded) until the board
# is registered. It sets: address, server, agent (pids) and qatctl (an array:
# the client with --server).
start_bench_service() {
  local build=$1 run=$2 workers=$3 port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  address=127.0.0.1:$port
  "$build/server/qatlab-server" --listen "$address" --data-dir "$run/server" --local-workers "$workers" \
    --worker-binary "$build/worker/qatlab-worker" >"$run/server.log" 2>&1 &
  server=$!
  "$build/device_agent/qatlab-agent" --server "$address" --name bench-board --check-inputs 16 \
    --accuracy-samples 20 --warmup 2 --windows 5 --inferences-per-window 5 >"$run/agent.log" 2>&1 &
  agent=$!
  trap 'kill $agent $server 2>/dev/null; wait $agent $server 2>/dev/null || true' EXIT
  qatctl=("$build/client/qatctl" --server "$address")
  for _ in $(seq 300); do "${qatctl[@]}" devices 2>/dev/null | grep -q mps2-an386 && return 0; sleep 0.2; done
  echo "start_bench_service: the board did not register within 60 s (see $run/agent.log)" >&2
  return 1
}
