#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (ctest).
#   scripts/test.sh          build/ (Release) and its suite
#   scripts/test.sh --all    then also the checks CI runs (below)
#   scripts/test.sh --tsan   then also the ThreadSanitizer run (implies --all)
#   scripts/test.sh --fuzz   then also the fuzz targets (implies --all)
# Under CI (CI=true), warnings are errors in our code (QATLAB_WERROR) and
# --all is implied: after the suite come
#   format      scripts/format.sh --check (clang-format; lists what differs)
#   lint        scripts/lint.sh (clang-tidy over our sources)
#   asan-ubsan  the asan-ubsan preset: every target with AddressSanitizer and
#               UndefinedBehaviorSanitizer, and the whole suite under them.
#   fuzz        scripts/fuzz.sh: the five libFuzzer targets of fuzz/ (clang),
#               each run 45 s from its seed corpus
#   tsan        the tsan preset: the server, queue and worker tests (ctest
#               labels server and client-e2e) under ThreadSanitizer
# Outside CI, --tsan and --fuzz add those stages. Under CI both run
# (QATLAB_CI_FUZZ=0 / QATLAB_CI_TSAN=0 leave one out). CI has 90 minutes: the
# tsan stage, last, starts only if the stages before it took less than
# QATLAB_CI_TSAN_START_BY seconds (default 3600; its build and run take about
# 20 minutes on 2 cores, docs/benchmarks.md "ThreadSanitizer") and is stopped,
# as a failure, when CI's whole run reaches 85 minutes; a skip is printed in the
# summary, never silent. A tsan test that fails is run once more before it
# counts (--repeat until-pass:2): TSan slows the real processes several times,
# and a timing bound met by the release build can be missed once; a race
# report is printed either way.
# Every stage runs even if an earlier one failed; the exit status is non-zero
# if any failed, and a summary with each stage's time ends the output.
# The sanitizer builds live in build-<preset>/ (CMakePresets.json), so a
# developer reruns one stage with: cmake --workflow --preset asan-ubsan
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${QATLAB_BUILD_DIR:-$root/build}
jobs=$(nproc)

all=0
tsan=0
fuzz=0
for arg in "$@"; do
  case $arg in
    --all) all=1 ;;
    --tsan) all=1; tsan=1 ;;
    --fuzz) all=1; fuzz=1 ;;
    *) echo "usage: $0 [--all] [--tsan] [--fuzz]" >&2; exit 2 ;;
  esac
done
build_args=()
if [[ ${CI:-} == true ]]; then
  all=1
  build_args+=(-DQATLAB_WERROR=ON)
  if [[ ${QATLAB_CI_FUZZ:-1} != 0 ]]; then fuzz=1; fi
  if [[ ${QATLAB_CI_TSAN:-1} != 0 ]]; then tsan=1; fi
fi

"$root/scripts/install_deps.sh"

summary=()
failed=0
stage() {
  local name=$1; shift
  local start=$SECONDS
  echo "== test.sh: $name" >&2
  if "$@"; then
    summary+=("$(printf '%-12s ok      %4ds' "$name" $((SECONDS - start)))")
  else
    summary+=("$(printf '%-12s FAILED  %4ds' "$name" $((SECONDS - start)))")
    failed=1
  fi
}

main_suite() {
  "$root/scripts/build.sh" "${build_args[@]}" &&
    (cd "$build" && ctest --output-on-failure --timeout 900 -j"$jobs")
}

# A sanitizer preset: configure, build, test (see CMakePresets.json). ccache,
# when present, makes a rerun cheap. No -Werror here: the sanitizers make gcc
# warn about code it otherwise proves fine; warnings are judged in build/.
preset() {
  local name=$1 launcher=()
  shift
  if command -v ccache >/dev/null 2>&1; then
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  fi
  (cd "$root" &&
    cmake --preset "$name" "${launcher[@]}" >/dev/null &&
    cmake --build --preset "$name" -j"$jobs" &&
    ctest --preset "$name" -j"$jobs" "$@")
}

stage suite main_suite
if ((all)); then
  stage format "$root/scripts/format.sh" --check
  stage lint "$root/scripts/lint.sh"
  stage asan-ubsan preset asan-ubsan
fi
if ((fuzz)); then
  # The onnx target runs libonnx in-process (for coverage), which faults on
  # some inputs; scripts/fuzz.sh runs it past those and fails only on a crash
  # outside libonnx (the service contains libonnx's in qatlab-onnx-inspect).
  stage fuzz "$root/scripts/fuzz.sh" qmodel dut_reply job_spec dataset onnx
fi

if ((tsan)); then
  if [[ ${CI:-} == true ]]; then
    start_by=${QATLAB_CI_TSAN_START_BY:-3600}
    if ((SECONDS >= start_by)); then
      echo "== test.sh: tsan skipped: the stages before it took ${SECONDS}s (> ${start_by}s)" >&2
      summary+=("$(printf '%-12s SKIPPED %4ds  (started after %ds, past QATLAB_CI_TSAN_START_BY)' tsan 0 "$SECONDS")")
    else
      export -f preset
      export root jobs
      stage tsan timeout --signal=TERM --kill-after=60 $((85 * 60 - SECONDS)) bash -c 'preset tsan --repeat until-pass:2'
    fi
  else
    stage tsan preset tsan --repeat until-pass:2
  fi
fi
echo "== test.sh summary" >&2
printf '   %s\n' "${summary[@]}" >&2
exit "$failed"
