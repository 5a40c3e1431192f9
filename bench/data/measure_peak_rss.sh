#!/usr/bin/env bash
# Peak resident memory of `qatlab-worker run` on a Fashion-MNIST-sized IDX
# set (make_idx_dataset.py), one epoch, with and without a training limit.
#
# usage: measure_peak_rss.sh WORKER [WORKER...]
# Prints one line per worker and job: the kilobytes /usr/bin/time reports as
# "Maximum resident set size". The data set is generated once into
# ${QATLAB_BENCH_DATA:-/tmp/qatlab-bench-idx60k}.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
data=${QATLAB_BENCH_DATA:-/tmp/qatlab-bench-idx60k}
[[ -f "$data/job_full.json" ]] || python3 "$here/make_idx_dataset.py" "$data"
for worker in "$@"; do
  for job in job_full job_limited; do
    out=$(mktemp -d)
    /usr/bin/time -v "$worker" run "$data/$job.json" --out "$out" >/dev/null 2>"$out/time.txt"
    kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out/time.txt")
    echo "$worker $job max_rss_kb=$kb"
    rm -rf "$out"
  done
done
