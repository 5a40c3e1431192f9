#!/usr/bin/env bash
# The Kubernetes manifests in deploy/kubernetes/ validate offline against the
# Kubernetes schemas (npm's kubernetes-models, installed once into the data
# cache like onnxruntime-node in tests/support/onnxruntime.cc), and broken
# copies of them are rejected, each for its own reason.
#   kubernetes_manifests_test.sh SOURCE_DIR
set -euo pipefail
source_dir=$(cd "$1" && pwd)
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

# Broken copies: each must be rejected, and for the reason planted.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
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
echo "PASS"
