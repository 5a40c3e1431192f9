#!/usr/bin/env bash
# The Kubernetes manifests in deploy/kubernetes/ validate offline against the
# Kubernetes schemas (npm's kubernetes-models, installed once into the data
# cache like onnxruntime-node in tests/support/onnxruntime.cc), and broken
# copies of them are rejected, each for its own reason. The optional worker
# autoscaler (deploy/kubernetes/autoscaling/) validates too, and its
# prometheus-adapter rule must name a series that the real qatlab-server
# exports: the server is started and its /metrics scraped.
#   kubernetes_manifests_test.sh SOURCE_DIR QATLAB_SERVER_BINARY
set -euo pipefail
source_dir=$(cd "$1" && pwd)
server_binary=$2
here=$source_dir/tests/deploy
fail() { echo "FAIL: $*" >&2; exit 1; }

cache=${QATLAB_DATA_CACHE:-${HOME:-/tmp}/.cache/qatlab}
packages=$cache/kubernetes-models-5.1.0
marker=$packages/node_modules/kubernetes-models/package.json
mkdir -p "$packages"
# flock serialises parallel runs; the second finds the packages installed.
flock "$packages/.install.lock" sh -c "test -f '$marker' || npm install --ignore-scripts --no-audit --no-fund \
  --loglevel=error --update-notifier=false --prefix '$packages' kubernetes-models@5.1.0 yaml@2.9.1" ||
  fail "cannot install kubernetes-models through npm into $packages"
[[ -f $marker ]] || fail "npm left no $marker"

manifests=("$source_dir"/deploy/kubernetes/*.yaml)
((${#manifests[@]} >= 2)) || fail "expected the server and worker manifests in deploy/kubernetes"
node "$here/validate_manifests.mjs" "$packages" "${manifests[@]}" || fail "the shipped manifests do not validate"
for kind in StatefulSet Service Deployment; do
  grep -q "^kind: $kind$" "${manifests[@]}" || fail "no $kind in deploy/kubernetes"
done

# The tokens (docs/deploy.md): the server reads the role lines of Secret key
# server-tokens, the workers the worker token alone of key worker-token, each
# at the path its --token-file names. One bare token for both would be a
# client token, which WorkerService refuses.
expect_token_mount() {  # manifest, key, path
  grep -q "items: \[{key: $2, path: $(basename "$3")}\]" "$1" || fail "$(basename "$1") does not mount Secret key $2 as $(basename "$3")"
  grep -q "\"--token-file\", \"$3\"" "$1" || fail "$(basename "$1") does not pass --token-file $3"
  grep -q "mountPath: $(dirname "$3")," "$1" || fail "$(basename "$1") does not mount the tokens at $(dirname "$3")"
}
expect_token_mount "$source_dir/deploy/kubernetes/server.yaml" server-tokens /etc/qatlab/tokens
expect_token_mount "$source_dir/deploy/kubernetes/workers.yaml" worker-token /etc/qatlab/worker-token
! grep -q "key: token," "${manifests[@]}" || fail "a manifest still mounts the single Secret key 'token'"

work=$(mktemp -d)
server_pid=
cleanup() {
  [[ -z $server_pid ]] || kill "$server_pid" 2>/dev/null || true
  [[ -z $server_pid ]] || wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The autoscaler: its objects against the schemas, then against the workers
# and a scrape of the real server's /metrics (check_autoscaling.mjs).
autoscaling=$source_dir/deploy/kubernetes/autoscaling
hpa=$autoscaling/worker-hpa.yaml
rules=$autoscaling/prometheus-adapter-rules.yaml
workers=$source_dir/deploy/kubernetes/workers.yaml
node "$here/validate_manifests.mjs" "$packages" "$hpa" "$rules" || fail "the autoscaling manifests do not validate"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
grpc_port=$(free_port)
metrics_port=$(free_port)
"$server_binary" --listen "127.0.0.1:$grpc_port" --data-dir "$work/server-data" --local-workers 0 \
  --metrics-listen "127.0.0.1:$metrics_port" --log-level warn >"$work/server.log" 2>&1 &
server_pid=$!
# Bounded: curl retries a refused connection for at most 60 s.
curl --silent --show-error --fail --retry 120 --retry-delay 1 --retry-max-time 60 --retry-connrefused \
  "http://127.0.0.1:$metrics_port/metrics" >"$work/scrape.txt" ||
  fail "could not scrape the server's /metrics: $(cat "$work/server.log")"
node "$here/check_autoscaling.mjs" "$packages" "$hpa" "$rules" "$workers" "$work/scrape.txt" ||
  fail "the autoscaler does not fit the workers or the server's metrics"
expect_autoscaling_rejected() {  # name, reason; the broken files are $work/$name.{hpa,rules}.yaml
  local output
  if output=$(node "$here/check_autoscaling.mjs" "$packages" "$work/$1.hpa.yaml" "$work/$1.rules.yaml" "$workers" \
    "$work/scrape.txt"); then
    fail "broken autoscaler '$1' was accepted: $output"
  fi
  grep -q -- "$2" <<<"$output" || fail "broken autoscaler '$1' was rejected, but not for '$2': $output"
  echo "rejected as expected ($1): $(grep INVALID <<<"$output" | head -1)"
}
cp "$hpa" "$work/unexported-series.hpa.yaml"
sed 's/qatlab_jobs{namespace/qatlab_queue_depth{namespace/' "$rules" >"$work/unexported-series.rules.yaml"
expect_autoscaling_rejected unexported-series "exports no series qatlab_queue_depth"
cp "$hpa" "$work/unknown-state.hpa.yaml"
sed 's/queued|running/waiting|running/' "$rules" >"$work/unknown-state.rules.yaml"
expect_autoscaling_rejected unknown-state 'reports no qatlab_jobs{state="waiting"}'
sed 's/maxReplicas: 8/maxReplicas: 80/' "$hpa" >"$work/too-many.hpa.yaml"
cp "$rules" "$work/too-many.rules.yaml"
expect_autoscaling_rejected too-many "replicas 1..80"
sed 's/name: qatlab_jobs_queued_or_running}/name: qatlab_queued}/' "$hpa" >"$work/unserved-metric.hpa.yaml"
cp "$rules" "$work/unserved-metric.rules.yaml"
expect_autoscaling_rejected unserved-metric "external metric qatlab_queued is served by no adapter rule"
sed 's/name: qatlab-worker}/name: qatlab-workers}/' "$hpa" >"$work/wrong-target.hpa.yaml"
cp "$rules" "$work/wrong-target.rules.yaml"
expect_autoscaling_rejected wrong-target "is no Deployment"
sed '/scaleDown:/,$d' "$hpa" >"$work/no-stabilisation.hpa.yaml"
cp "$rules" "$work/no-stabilisation.rules.yaml"
expect_autoscaling_rejected no-stabilisation "no scale-down stabilizationWindowSeconds"
sed 's/^  config.yaml: |$/  rules.yaml: |/' "$rules" >"$work/no-config-key.rules.yaml"
cp "$hpa" "$work/no-config-key.hpa.yaml"
expect_autoscaling_rejected no-config-key "no data key config.yaml"
sed 's/maxReplicas: 8/maxReplicas: eight/' "$hpa" >"$work/hpa-replicas-not-integer.yaml"

# Broken copies: each must be rejected, and for the reason planted.
server=$source_dir/deploy/kubernetes/server.yaml
expect_rejected() {  # name, reason-substring; the broken file is $work/$name.yaml
  local output
  if output=$(node "$here/validate_manifests.mjs" "$packages" "$work/$1.yaml"); then
    fail "broken manifest '$1' was accepted: $output"
  fi
  grep -q -- "$2" <<<"$output" || fail "broken manifest '$1' was rejected, but not for '$2': $output"
  echo "rejected as expected ($1): $(grep INVALID <<<"$output" | head -1)"
}
sed 's/^  replicas: 1$/  replicas: one/' "$server" >"$work/replicas-not-integer.yaml"
expect_rejected replicas-not-integer "replicas must be integer"
sed 's/grpc: {port: 50051}/grpc: {port: grpc}/' "$server" >"$work/probe-port-name.yaml"
expect_rejected probe-port-name "grpc/port must be integer"
sed '/^  selector:$/,/^    matchLabels:/d' "$server" >"$work/no-selector.yaml"
expect_rejected no-selector "required property 'selector'\|required property selector"
sed 's/accessModes: \[ReadWriteOnce\]/accessModes: ReadWriteOnce/' "$server" >"$work/access-modes-not-list.yaml"
expect_rejected access-modes-not-list "accessModes must be array"
sed 's/{name: data, mountPath/{name: database, mountPath/' "$server" >"$work/mount-without-volume.yaml"
expect_rejected mount-without-volume "mounts volume database"
printf 'apiVersion: v1\nkind: Secret\nmetadata: {name: qatlab-tokens}\nstringData: {worker-token: replace-me}\n' \
  >"$work/committed-secret.yaml"
expect_rejected committed-secret "a Secret is committed"
expect_rejected hpa-replicas-not-integer "maxReplicas must be integer"
echo "PASS"
