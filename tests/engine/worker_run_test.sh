#!/usr/bin/env bash
# qatlab-worker run: a quick job succeeds with JSON on stdout and .qmodel
# files in --out; bad jobs fail with exit code 1 and one "error:" line.
# Usage: worker_run_test.sh WORKER EXAMPLES_DIR
set -u
worker="$1"
examples="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# A short job: trained on 1,000 images for speed.
cat > "$work/job.json" <<'JSON'
{"model": {"preset": "cnn"}, "data": {"source": "mnist", "trainLimit": 1000, "testLimit": 200},
 "training": {"epochs": 1}, "qat": {"epochs": 1}, "ptq": {"calibrationSamples": 128},
 "configs": [{"weightBits": 8}, {"weightBits": 4}]}
JSON
if ! "$worker" run "$work/job.json" --out "$work/out" > "$work/result.json" 2> "$work/stderr"; then
  fail "quick job exited non-zero: $(cat "$work/stderr")"
fi
for f in ptq_w8a8 qat_w8a8 ptq_w4a8 qat_w4a8; do
  [ -s "$work/out/$f.qmodel" ] || fail "missing $f.qmodel"
  grep -q "\"artifact\": \"$f.qmodel\"" "$work/result.json" || fail "result does not name $f.qmodel"
done
grep -q '"integerAccuracy"' "$work/result.json" || fail "result JSON lacks integerAccuracy"
/usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert len(r["variants"]) == 5' \
  "$work/result.json" || fail "result JSON does not parse or lacks variants"
# The run record: seed, engine version, MNIST-10k's four inputs, and each
# .qmodel written to --out by its sha256.
/usr/bin/python3 - "$work/result.json" "$work/out" <<'PY' || fail "the run record does not match the files written"
import hashlib, json, os, sys
run = json.load(open(sys.argv[1]))["run"]
assert run["seed"] == "1" and run["engineVersion"] and run["threads"] == 2, run
assert [i["role"] for i in run["inputs"]] == ["train_images", "train_labels", "test_images", "test_labels"], run
models = {m["name"]: m["sha256"] for m in run["models"]}
written = sorted(f for f in os.listdir(sys.argv[2]) if f.endswith(".qmodel"))
assert sorted(models) == written, (models, written)
for name in written:
    assert hashlib.sha256(open(os.path.join(sys.argv[2], name), "rb").read()).hexdigest() == models[name], name
PY
grep -q 'qat_w4a8 *epoch 1/1' "$work/stderr" || fail "no per-epoch progress line on stderr"

# The float model it trained (float.ckpt) starts a second run that trains no
# float model and makes the same bytes (docs/sweeps.md).
[ -s "$work/out/float.ckpt" ] || fail "missing float.ckpt"
if ! "$worker" run "$work/job.json" --out "$work/out2" --float-checkpoint "$work/out/float.ckpt" \
    > "$work/result2.json" 2> "$work/stderr2"; then
  fail "run from float.ckpt exited non-zero: $(cat "$work/stderr2")"
fi
grep -q '^float ' "$work/stderr2" && fail "the run from float.ckpt trained a float model: $(cat "$work/stderr2")"
for f in ptq_w8a8 qat_w8a8 ptq_w4a8 qat_w4a8; do
  cmp -s "$work/out/$f.qmodel" "$work/out2/$f.qmodel" || fail "$f.qmodel differs when started from float.ckpt"
done
[ ! -e "$work/out2/float.ckpt" ] || fail "a run from float.ckpt wrote a float.ckpt of its own"
printf '\x00' > "$work/broken.ckpt"
"$worker" run "$work/job.json" --out "$work/out3" --float-checkpoint "$work/broken.ckpt" > /dev/null 2> "$work/stderr3"
[ $? -eq 1 ] && grep -q "^error: .*float checkpoint: not a qatlab float checkpoint" "$work/stderr3" \
  || fail "a broken float.ckpt: $(cat "$work/stderr3")"

expect_error() {  # name, expected substring, job JSON
  printf '%s' "$3" > "$work/bad.json"
  "$worker" run "$work/bad.json" --out "$work/bad-out" > "$work/bad.stdout" 2> "$work/bad.stderr"
  local code=$?
  [ "$code" -eq 1 ] || fail "$1: exit code $code, want 1"
  [ "$(wc -l < "$work/bad.stderr")" -eq 1 ] || fail "$1: stderr is not one line: $(cat "$work/bad.stderr")"
  grep -q "^error: .*$2" "$work/bad.stderr" || fail "$1: stderr lacks '$2': $(cat "$work/bad.stderr")"
  [ ! -s "$work/bad.stdout" ] || fail "$1: printed a result"
}
expect_error "unknown layer" "unknown layer type 'dense3'" \
  '{"model": {"layers": [{"type": "flatten"}, {"type": "dense3", "units": 10}]}}'
expect_error "bits" "configs\[0\].weight_bits: 9 bits is outside 2..8" \
  '{"model": {"preset": "mlp"}, "configs": [{"weightBits": 9}]}'
expect_error "shape" "ends with 7 outputs" \
  '{"model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 7}]}, "data": {"trainLimit": 10, "testLimit": 10}}'
expect_error "missing file" "nope-images" \
  '{"model": {"preset": "mlp"}, "data": {"source": "idx", "trainImages": "/nonexistent/nope-images", "trainLabels": "/nonexistent/l", "testImages": "/nonexistent/t", "testLabels": "/nonexistent/u"}}'
expect_error "bad json" "job JSON" '{"model": '
expect_error "add from" "unknown layer 'x'" \
  '{"model": {"layers": [{"type": "conv2d", "filters": 1, "kernel": 3, "padding": 1}, {"type": "add", "from": "x"}, {"type": "flatten"}, {"type": "dense", "units": 10}]}}'
"$worker" run "$work/does-not-exist.json" > /dev/null 2> "$work/missing.stderr"
[ $? -eq 1 ] && grep -q "^error: cannot read job file" "$work/missing.stderr" || fail "missing job file"

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "worker run: all checks passed"
