#!/usr/bin/env bash
# Builds the libFuzzer targets (the fuzz preset, build-fuzz/) and runs each a
# bounded time, starting from its seed corpus in fuzz/corpus/<target>/.
#   scripts/fuzz.sh                  every target, 45 s each
#   scripts/fuzz.sh -t 600 qmodel    one target, 10 minutes
# New inputs that reach new code go to build-fuzz/corpus/<target>/ (kept
# between runs, not committed); a crash leaves its input in
# build-fuzz/artifacts/<target>/ and makes the exit status non-zero. Rerun
# one input with: build-fuzz/fuzz/fuzz_<target> <file>
# A crash fixed in the code gets its input committed to fuzz/corpus/<target>/
# (every run starts by replaying the whole seed corpus) and a line in
# docs/benchmarks.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=45
targets=()
while (($#)); do
  case $1 in
    -t) seconds=$2; shift 2 ;;
    -*) echo "usage: $0 [-t seconds-per-target] [target...]" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if ((${#targets[@]} == 0)); then targets=(qmodel dut_reply job_spec dataset onnx); fi

launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cd "$root"
cmake --preset fuzz "${launcher[@]}" >/dev/null
cmake --build --preset fuzz -j"$(nproc)" --target "${targets[@]/#/fuzz_}"

# Each target's own limits: a slow input (> 10 s) or an RSS above 2 GB is a
# finding too. UBSan reports abort, with a stack.
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=1
# The dataset target writes its input to files each run: in memory when
# possible (on a busy disk /tmp made it 30 times slower), removed at the end.
scratch_parent=/tmp
if [[ -d /dev/shm && -w /dev/shm ]]; then scratch_parent=/dev/shm; fi
scratch=$(mktemp -d "$scratch_parent/qatlab-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export TMPDIR=$scratch
failed=0
summary=()
for target in "${targets[@]}"; do
  work=build-fuzz/corpus/$target
  artifacts=build-fuzz/artifacts/$target
  mkdir -p "$work" "$artifacts"
  echo "== fuzz.sh: $target for ${seconds}s" >&2
  log=build-fuzz/fuzz-$target.log
  start=$SECONDS
  extra=()
  if [[ $target == onnx ]]; then
    # libonnx itself faults within seconds on some inputs (fuzz/crashes/onnx;
    # the service runs it in qatlab-onnx-inspect, a child process, for that
    # reason). So this target runs in fork mode past crashes, and each crash
    # is then judged by its stack: the first frame in either libonnx or our
    # code decides; a crash in ours (or in neither) fails the run.
    extra=(-fork=1 -ignore_crashes=1)
    touch "$scratch/onnx-start"
  fi
  if build-fuzz/fuzz/fuzz_"$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$artifacts/" "${extra[@]}" "$work" "fuzz/corpus/$target" >"$log" 2>&1; then
    status=ok
  elif [[ $target == onnx ]] && grep -q '^INFO: exiting: ' "$log"; then
    status=ok  # fork mode ends non-zero when it saw crashes: they are judged below
  else
    status=FAILED
    failed=1
    tail -n 60 "$log" >&2
  fi
  if [[ $target == onnx ]]; then
    in_libonnx=0
    while IFS= read -r -d '' crash; do
      first=$(timeout 60 build-fuzz/fuzz/fuzz_onnx "$crash" 2>&1 | grep -E '^ +#[0-9]+ ' |
        grep -m1 -E 'libonnx\.so|qatlab::|/model_import/' || true)
      if [[ $first == *libonnx.so* ]]; then
        in_libonnx=$((in_libonnx + 1))
      else
        status=FAILED
        failed=1
        echo "fuzz.sh: onnx: $crash crashes outside libonnx: ${first:-no stack}" >&2
      fi
    done < <(find "$artifacts" -type f -newer "$scratch/onnx-start" -print0)
    status="$status, $in_libonnx in libonnx"
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  # Fork mode prints no final stats; its progress lines start with #<runs>.
  if [[ -z $runs ]]; then runs=$(sed -n 's/^#\([0-9]*\): .*/\1/p' "$log" | tail -1); fi
  summary+=("$(printf '%-10s %-6s %4ds %10s runs' "$target" "$status" $((SECONDS - start)) "${runs:-?}")")
done
echo "== fuzz.sh summary (crash inputs in build-fuzz/artifacts/)" >&2
printf '   %s\n' "${summary[@]}" >&2
exit "$failed"
